import { faultyProxy, TestContext, waitFor } from '../../shared/testing';
import { NormalizedSpan, spanDocId } from '../../shared/src';
import {
  docCount,
  docIds,
  esProxy,
  indexerSetup,
  lagOf,
  makeSpans,
  metricValue,
  publishSpans,
  spawnIndexer,
  startIndexer,
  topicSize,
} from './helpers';

/**
 * Each fault test publishes N unique spans and checks, after the fault: distinct ids + DLQ = N
 * (and the distinct ids are exactly the produced ones less the dead-lettered), total documents =
 * distinct ids (ids are deterministic, so a replay overwrites), and the group's committed offsets
 * reached the end (lag 0) — had a commit passed an unwritten record, its spans would be missing.
 */
describe('indexer under failure (real Kafka and Elasticsearch)', () => {
  const ctx = new TestContext();
  afterAll(() => ctx.cleanup());

  async function expectComplete(
    prefix: string,
    groupId: string,
    validated: string,
    dlq: string,
    spans: NormalizedSpan[],
    dead: string[] = [],
  ) {
    const n = spans.length;
    await waitFor(`${n - dead.length} documents`, async () => (await docCount(ctx, prefix)) >= n - dead.length, {
      timeoutMs: 120_000,
      intervalMs: 500,
    });
    await waitFor('lag 0', async () => (await lagOf(ctx, groupId, validated)) === 0, { timeoutMs: 60_000, intervalMs: 500 });
    const ids = await docIds(ctx, prefix);
    const distinct = new Set(ids);
    const dlqSize = await topicSize(ctx, dlq);
    expect(distinct.size + dlqSize).toBe(n);
    expect(await docCount(ctx, prefix)).toBe(distinct.size);
    expect(ids.length).toBe(distinct.size);
    const expected = spans
      .map(spanDocId)
      .filter((id) => !dead.includes(id))
      .sort();
    expect([...distinct].sort()).toEqual(expected);
    expect(dlqSize).toBe(dead.length);
  }

  it('(a) kill -9 mid-bulk, then restart: every span indexed once', async () => {
    const { validated, dlq, prefix, groupId, env } = await indexerSetup(ctx, {
      MPLP_INDEXER_BULK_MAX_DOCS: '100',
      MPLP_INDEXER_PARTITIONS_CONCURRENTLY: '1',
    });
    const spans = makeSpans(1000, 5);
    await publishSpans(ctx, validated, spans);
    const first = spawnIndexer(ctx, env);
    await waitFor('indexing under way', async () => (await docCount(ctx, prefix)) > 300, { timeoutMs: 90_000, intervalMs: 50 });
    first.kill('SIGKILL');
    await new Promise((r) => first.once('exit', r));
    expect(await docCount(ctx, prefix)).toBeLessThan(spans.length);
    spawnIndexer(ctx, env);
    await expectComplete(prefix, groupId, validated, dlq, spans);
  });

  it('(b) Elasticsearch unreachable for 30 s under load (TCP proxy cut): no commit, reading paused at the pending bound, no loss, resumes', async () => {
    const esUrl = new URL(ctx.cfg.esNode);
    const proxy = await faultyProxy(ctx, esUrl.hostname, Number(esUrl.port));
    const maxPending = 65_536;
    const { validated, dlq, prefix, groupId, env } = await indexerSetup(ctx, {
      MPLP_ES_URL: proxy.url,
      MPLP_ES_REQUEST_TIMEOUT: '5s',
      MPLP_INDEXER_MAX_PENDING_BYTES: String(maxPending),
      MPLP_INDEXER_FETCH_MAX_BYTES_PER_PARTITION: '65536',
    });
    const indexer = await startIndexer(ctx, env);
    const opsPort = indexer.opsPort()!;
    const spans = makeSpans(1000, 5);
    await publishSpans(ctx, validated, spans.slice(0, 500));
    await waitFor('first part indexed', async () => (await docCount(ctx, prefix)) === 500, { timeoutMs: 60_000 });
    await waitFor('first part committed', async () => (await lagOf(ctx, groupId, validated)) === 0, { timeoutMs: 30_000 });
    const readBefore = await metricValue(opsPort, 'mplp_indexer_records_total');
    proxy.cut();
    const downAt = Date.now();
    await publishSpans(ctx, validated, spans.slice(500)); // 900 records of 5 spans
    await waitFor('the indexer hitting the outage', () => proxy.state.refused > 0, { timeoutMs: 30_000 });
    let readAt10s: number | undefined;
    while (Date.now() - downAt < 30_000) {
      expect(await lagOf(ctx, groupId, validated)).toBeGreaterThan(0);
      if (readAt10s === undefined && Date.now() - downAt > 10_000) readAt10s = await metricValue(opsPort, 'mplp_indexer_records_total');
      await new Promise((r) => setTimeout(r, 2000));
    }
    // Fetching stopped at the bound: nothing more read in the last 20 s of the outage, far from
    // everything read, and the pipeline holding at least the bound.
    const readAtEnd = await metricValue(opsPort, 'mplp_indexer_records_total');
    expect(readAtEnd).toBe(readAt10s);
    expect(readAtEnd - readBefore).toBeLessThan(900);
    expect(await metricValue(opsPort, 'mplp_indexer_pending_bytes')).toBeGreaterThanOrEqual(maxPending);
    proxy.restore();
    await expectComplete(prefix, groupId, validated, dlq, spans);
  }, 240_000); // the outage alone takes 30 s

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
    await expectComplete(prefix, groupId, validated, dlq, spans);
  });

  it('(d) poison documents among good ones: dead-lettered with the reason, the rest indexed, lag 0', async () => {
    const { validated, dlq, prefix, groupId, env } = await indexerSetup(ctx);
    await startIndexer(ctx, env);
    const spans = makeSpans(300, 5);
    const poison = [spans[7], spans[733], spans[1499]].map((s) => s.spanId);
    await publishSpans(ctx, validated, spans, (line) =>
      poison.some((id) => line.includes(`"spanId":"${id}"`)) ? line.replace(/"durationNanos":\d+/, '"durationNanos":"abc"') : line,
    );
    const dead = spans.filter((s) => poison.includes(s.spanId)).map(spanDocId);
    await expectComplete(prefix, groupId, validated, dlq, spans, dead);
    const got = await ctx.collect(dlq);
    await waitFor('DLQ read', () => got.messages.length === 3, { timeoutMs: 30_000 });
    for (const m of got.messages) {
      expect(m.headers!['mplp-error']!.toString()).toContain('durationNanos');
      expect(m.headers!['mplp-error-code']!.toString()).toMatch(/^index_(document_parsing|mapper_parsing)_exception$/);
      expect(m.headers!['mplp-source']!.toString()).toMatch(new RegExp(`^${validated.replace(/\./g, '\\.')}/\\d+/\\d+$`));
    }
  });

  it('two indexers in one group give the same final counts', async () => {
    const { validated, dlq, prefix, groupId, env } = await indexerSetup(ctx);
    spawnIndexer(ctx, env);
    spawnIndexer(ctx, env);
    const spans = makeSpans(500, 4);
    await publishSpans(ctx, validated, spans);
    await expectComplete(prefix, groupId, validated, dlq, spans);
  });
});
