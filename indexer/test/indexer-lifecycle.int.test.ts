import { TestContext, uniqueName, waitFor } from '../../shared/testing';
import { spanDocId } from '../../shared/src';
import { docCount, docIds, indexerSetup, lagOf, makeSpans, metricValue, publishSpans, spawnIndexer, startIndexer } from './helpers';

/** Each record of the topic: partition, offset and its trace (the record key; one record per trace). */
async function recordsOf(ctx: TestContext, topic: string, total: number) {
  const consumer = ctx.kafka('test-reader').consumer({ groupId: uniqueName('test-reader') });
  await consumer.connect();
  ctx.defer(() => consumer.disconnect());
  await consumer.subscribe({ topic, fromBeginning: true });
  const out: { partition: number; offset: number; traceId: string }[] = [];
  await consumer.run({
    eachMessage: async ({ partition, message }) => {
      out.push({ partition, offset: Number(message.offset), traceId: message.key!.toString() });
    },
  });
  await waitFor(`${total} records read back`, () => out.length >= total, { timeoutMs: 30_000 });
  await consumer.stop();
  return out;
}

async function committedOffsets(ctx: TestContext, groupId: string, topic: string): Promise<Map<number, number>> {
  const [committed] = await (await ctx.admin()).fetchOffsets({ groupId, topics: [topic] });
  return new Map(committed.partitions.map((p) => [p.partition, Math.max(0, Number(p.offset))]));
}

describe('indexer lifecycle under load (real Kafka and Elasticsearch)', () => {
  const ctx = new TestContext();
  afterAll(() => ctx.cleanup());

  it('SIGTERM under load: exits 0, the committed offsets cover exactly the traces indexed, and a restarted indexer re-reads zero records', async () => {
    const { validated, prefix, groupId, env } = await indexerSetup(ctx, {
      MPLP_INDEXER_BULK_MAX_DOCS: '100',
      MPLP_INDEXER_PARTITIONS_CONCURRENTLY: '1',
      // Small fetches and a small pending bound: only part of the backlog is handed out when SIGTERM comes.
      MPLP_INDEXER_FETCH_MAX_BYTES_PER_PARTITION: '65536',
      MPLP_INDEXER_MAX_PENDING_BYTES: '65536',
    });
    const spans = makeSpans(3000, 5);
    await publishSpans(ctx, validated, spans);
    const first = spawnIndexer(ctx, env);
    await waitFor('indexing under way', async () => (await docCount(ctx, prefix)) > 200, { timeoutMs: 60_000, intervalMs: 20 });
    const exited = new Promise<number | null>((r) => first.once('exit', (code) => r(code)));
    first.kill('SIGTERM');
    expect(await exited).toBe(0);

    // What was committed at the stop is exactly what reached Elasticsearch: no indexed record left uncommitted, none committed unindexed.
    const committed = await committedOffsets(ctx, groupId, validated);
    const records = await recordsOf(ctx, validated, 3000);
    const covered = records.filter((r) => r.offset < (committed.get(r.partition) ?? 0));
    const indexedAtStop = await docIds(ctx, prefix);
    expect(covered.length).toBeGreaterThan(0);
    expect(covered.length).toBeLessThan(records.length);
    const coveredTraces = new Set(covered.map((r) => r.traceId));
    const expectedAtStop = spans
      .filter((s) => coveredTraces.has(s.traceId))
      .map(spanDocId)
      .sort();
    expect([...indexedAtStop].sort()).toEqual(expectedAtStop);

    // The restarted indexer reads only the records past the commit: its record counter is the remainder, zero replayed.
    const second = await startIndexer(ctx, env);
    await waitFor('lag 0', async () => (await lagOf(ctx, groupId, validated)) === 0, { timeoutMs: 60_000, intervalMs: 250 });
    expect(await metricValue(second.opsPort()!, 'mplp_indexer_records_total')).toBe(records.length - covered.length);
    const ids = await docIds(ctx, prefix);
    expect(ids.length).toBe(spans.length);
    expect([...ids].sort()).toEqual(spans.map(spanDocId).sort());
  });

  it('a second indexer joining mid-stream with bulks in flight (rebalance): every span in Elasticsearch once, committed offsets at the end', async () => {
    const { validated, prefix, groupId, env } = await indexerSetup(ctx, { MPLP_INDEXER_BULK_MAX_DOCS: '100' });
    const first = await startIndexer(ctx, env);
    const spans: ReturnType<typeof makeSpans> = [];
    let stop = false;
    // Steady input for the whole test: 20 traces of 5 spans every ~50 ms until the second member has joined and settled.
    const producing = (async () => {
      for (let i = 0; !stop || i < 40; i++) {
        const batch = makeSpans(20, 5);
        spans.push(...batch);
        await publishSpans(ctx, validated, batch);
        await new Promise((r) => setTimeout(r, 50));
      }
    })();
    await waitFor(
      'bulks in flight on the first indexer',
      async () => (await metricValue(first.opsPort()!, 'mplp_indexer_bulks_in_flight')) > 0,
      {
        timeoutMs: 30_000,
        intervalMs: 5,
      },
    );
    const second = await startIndexer(ctx, env);
    await waitFor(
      'both members indexing after the rebalance',
      async () =>
        (await metricValue(first.opsPort()!, 'mplp_indexer_records_total')) > 0 &&
        (await metricValue(second.opsPort()!, 'mplp_indexer_records_total')) > 0,
      { timeoutMs: 60_000, intervalMs: 100 },
    );
    stop = true;
    await producing;
    await waitFor(`${spans.length} documents`, async () => (await docCount(ctx, prefix)) >= spans.length, {
      timeoutMs: 60_000,
      intervalMs: 250,
    });
    await waitFor('lag 0 in the group', async () => (await lagOf(ctx, groupId, validated)) === 0, { timeoutMs: 60_000, intervalMs: 250 });
    const ids = await docIds(ctx, prefix);
    expect(ids.length).toBe(spans.length);
    expect([...ids].sort()).toEqual(spans.map(spanDocId).sort());
  });
});
