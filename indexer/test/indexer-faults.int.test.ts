import { TestContext, waitFor } from '../../shared/testing';
import { docCount, esProxy, indexerSetup, lagOf, makeSpans, publishSpans, spawnIndexer, startIndexer } from './helpers';

/**
 * Each fault test publishes N unique spans and checks, after the fault: documents = N (ids are
 * deterministic, so documents = distinct ids), nothing in the DLQ, and the group's committed
 * offsets reached the end (lag 0) — a commit never passed an unwritten record.
 */
describe('indexer under failure (real Kafka and Elasticsearch)', () => {
  const ctx = new TestContext();
  afterAll(() => ctx.cleanup());

  async function expectComplete(prefix: string, groupId: string, validated: string, dlq: string, n: number) {
    await waitFor(`${n} documents`, async () => (await docCount(ctx, prefix)) >= n, { timeoutMs: 120_000, intervalMs: 500 });
    expect(await docCount(ctx, prefix)).toBe(n);
    await waitFor('lag 0', async () => (await lagOf(ctx, groupId, validated)) === 0, { timeoutMs: 60_000, intervalMs: 500 });
    const admin = await ctx.admin();
    const dlqEnd = (await admin.fetchTopicOffsets(dlq)).reduce((s, p) => s + Number(p.high), 0);
    expect(dlqEnd).toBe(0);
  }

  it('(a) kill -9 mid-bulk, then restart: every span indexed once', async () => {
    const { validated, dlq, prefix, groupId, env } = await indexerSetup(ctx, { MPLP_INDEXER_BULK_MAX_DOCS: '100', MPLP_INDEXER_PARTITIONS_CONCURRENTLY: '1' });
    const spans = makeSpans(1000, 5);
    await publishSpans(ctx, validated, spans);
    const first = spawnIndexer(ctx, env);
    await waitFor('indexing under way', async () => (await docCount(ctx, prefix)) > 300, { timeoutMs: 90_000, intervalMs: 50 });
    first.kill('SIGKILL');
    await new Promise((r) => first.once('exit', r));
    expect(await docCount(ctx, prefix)).toBeLessThan(spans.length);
    spawnIndexer(ctx, env);
    await expectComplete(prefix, groupId, validated, dlq, spans.length);
  });

  it('(b) Elasticsearch unreachable for 30 s under load: no loss, resumes', async () => {
    const proxy = await esProxy(ctx, ctx.cfg.esNode);
    const { validated, dlq, prefix, groupId, env } = await indexerSetup(ctx, { MPLP_ES_URL: proxy.url, MPLP_ES_REQUEST_TIMEOUT: '5s' });
    await startIndexer(ctx, env);
    const spans = makeSpans(400, 5);
    await publishSpans(ctx, validated, spans.slice(0, 500));
    await waitFor('first part indexed', async () => (await docCount(ctx, prefix)) === 500, { timeoutMs: 60_000 });
    proxy.state.mode = 'down';
    const downAt = Date.now();
    await publishSpans(ctx, validated, spans.slice(500));
    await waitFor('the indexer hitting the outage', () => proxy.state.failed > 0, { timeoutMs: 30_000 });
    while (Date.now() - downAt < 30_000) {
      expect(await lagOf(ctx, groupId, validated)).toBeGreaterThan(0);
      await new Promise((r) => setTimeout(r, 2000));
    }
    proxy.state.mode = 'pass';
    await expectComplete(prefix, groupId, validated, dlq, spans.length);
  });

  it('(c) bulks answered 503, and bulks performed but answered 503 (lost acknowledgement): retried, no duplicates', async () => {
    const proxy = await esProxy(ctx, ctx.cfg.esNode);
    const { validated, dlq, prefix, groupId, env } = await indexerSetup(ctx, { MPLP_ES_URL: proxy.url });
    await startIndexer(ctx, env);
    const spans = makeSpans(300, 5);
    proxy.state.mode = 'bulk-503';
    await publishSpans(ctx, validated, spans.slice(0, 750));
    await waitFor('503s answered', () => proxy.state.failed >= 3, { timeoutMs: 30_000 });
    expect(await docCount(ctx, prefix)).toBe(0);
    proxy.state.mode = 'lose-ack';
    const failedBefore = proxy.state.failed;
    await waitFor('bulks performed with the answer lost', () => proxy.state.failed >= failedBefore + 3, { timeoutMs: 30_000 });
    expect(await lagOf(ctx, groupId, validated)).toBeGreaterThan(0);
    proxy.state.mode = 'pass';
    await publishSpans(ctx, validated, spans.slice(750));
    await expectComplete(prefix, groupId, validated, dlq, spans.length);
  });

  it('two indexers in one group give the same final counts', async () => {
    const { validated, dlq, prefix, groupId, env } = await indexerSetup(ctx);
    spawnIndexer(ctx, env);
    spawnIndexer(ctx, env);
    const spans = makeSpans(500, 4);
    await publishSpans(ctx, validated, spans);
    await expectComplete(prefix, groupId, validated, dlq, spans.length);
  });
});
