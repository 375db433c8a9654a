import { kafkaProxy, TestContext, waitFor } from '../../shared/testing';
import { spanDocId } from '../../shared/src';
import { createIndexer } from '../src';
import { docCount, docIds, indexerSetup, lagOf, makeSpans, metricValue, publishSpans, topicSize } from './helpers';

describe('indexer through a Kafka outage longer than its session timeout (TCP proxy in front of the shared Kafka)', () => {
  const ctx = new TestContext();
  afterAll(() => ctx.cleanup());

  it('under steady input, the member is dropped by the broker, rejoins by itself once Kafka is back, and every span sent before, during and after is in Elasticsearch once, committed to the end', async () => {
    const groupTimeoutMs = 6000;
    const { validated, prefix, groupId, env } = await indexerSetup(ctx, {
      MPLP_INDEXER_SESSION_TIMEOUT: String(groupTimeoutMs),
      MPLP_INDEXER_BULK_MAX_DOCS: '200',
    });
    const proxy = await kafkaProxy(ctx);
    const { service } = createIndexer({ ...process.env, ...env }, {}, { kafkaSocketFactory: proxy.socketFactory });
    await service.start();
    ctx.defer(() => service.stop());
    await waitFor('indexer joined', () => service.worker.ready, { timeoutMs: 60_000 });

    // Steady input straight to the shared Kafka (not through the proxy): 10 traces of 5 spans every 100 ms.
    const spans: ReturnType<typeof makeSpans> = [];
    let producing = true;
    const input = (async () => {
      while (producing) {
        const batch = makeSpans(10, 5);
        spans.push(...batch);
        await publishSpans(ctx, validated, batch);
        await new Promise((r) => setTimeout(r, 100));
      }
    })();
    await waitFor('spans indexed before the outage', async () => (await docCount(ctx, prefix)) > 200, { timeoutMs: 30_000 });

    proxy.cut();
    const cutAt = Date.now();
    const admin = await ctx.admin();
    await waitFor(
      'the broker dropped the cut-off member (session expired)',
      async () => ((await admin.describeGroups([groupId])).groups[0]?.members.length ?? 0) === 0,
      { timeoutMs: 30_000, intervalMs: 250 },
    );
    expect(Date.now() - cutAt).toBeGreaterThanOrEqual(groupTimeoutMs - 1000);
    const sentBeforeRestore = spans.length;
    proxy.restore();

    await waitFor('ready again after the outage', () => service.worker.ready, { timeoutMs: 60_000 });
    await waitFor('spans after the outage indexed', async () => (await docCount(ctx, prefix)) > sentBeforeRestore, {
      timeoutMs: 30_000,
      intervalMs: 250,
    });
    producing = false;
    await input;
    await waitFor(`${spans.length} documents`, async () => (await docCount(ctx, prefix)) >= spans.length, {
      timeoutMs: 30_000,
      intervalMs: 250,
    });
    await waitFor('committed offsets at the end of the input', async () => (await lagOf(ctx, groupId, validated)) === 0, {
      timeoutMs: 30_000,
      intervalMs: 250,
    });
    const ids = await docIds(ctx, prefix);
    expect(ids.length).toBe(spans.length);
    expect([...ids].sort()).toEqual(spans.map(spanDocId).sort());
    expect(service.worker.ready).toBe(true);
    // Records read again after the rejoin overwrite their documents (deterministic ids); how many, for the report.
    const records = await topicSize(ctx, validated);
    const read = await metricValue(service.opsPort()!, 'mplp_indexer_records_total');
    expect(read).toBeGreaterThanOrEqual(records);
    console.log(`indexer broker outage: ${spans.length} spans in ${records} records, ${read - records} records read twice`);
  });
});
