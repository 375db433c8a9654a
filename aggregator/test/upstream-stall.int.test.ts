import { TestContext, uniqueName, waitFor } from '../../shared/testing';
import { FORMAT_NDJSON_V1, HEADER_FORMAT, HEADER_SPANS, SpanBatchCodec } from '../../shared/src';
import type { NormalizedSpan } from '../../shared/src';
import { createAggregator } from '../src';
import { expectedWindows, PANE, produceSpans, span } from './helpers';
import { aggregatorEnv, deletePartials, latest, setupTopics } from './run-helpers';

const LATENESS_MS = 2000;
const IDLE_MS = 1500;

/** n spans spread over [from, to) event time, over two series. */
function spansBetween(n: number, from: number, to: number): NormalizedSpan[] {
  return Array.from({ length: n }, (_, i) =>
    span(
      i % 2 ? 'checkout' : 'search',
      i % 2 ? 'POST /pay' : 'GET /q',
      from + Math.floor((i / n) * (to - from)),
      1 + (i % 50),
      i % 11 === 0,
    ),
  );
}

describe('aggregator idleness follows the upstream group', () => {
  let ctx: TestContext;
  beforeEach(() => {
    ctx = new TestContext();
  });
  afterEach(async () => {
    await ctx.cleanup();
  });

  it('while the upstream group lags on the raw topic, quiet partitions do not close windows, and spans delivered after the stall are on time', async () => {
    const t = await setupTopics(ctx);
    const [raw] = await ctx.topics(['raw'], 2);
    const upstreamGroup = uniqueName('test-upstream');
    const admin = await ctx.admin();
    // The "ingest" group is behind on the raw topic: 5 records in partition 0, committed at 1.
    const producer = await ctx.producer();
    await producer.send({ topic: raw, acks: -1, messages: Array.from({ length: 5 }, (_, i) => ({ partition: 0, value: `otlp-${i}` })) });
    await admin.setOffsets({ groupId: upstreamGroup, topic: raw, partitions: [{ partition: 0, offset: '1' }] });

    const group = uniqueName('test-agg-stall');
    await deletePartials(ctx, group);
    const out = await ctx.collect(t.metrics);
    const { service } = createAggregator({
      ...process.env,
      ...aggregatorEnv(t, group, {
        MPLP_TOPIC_RAW: raw,
        MPLP_AGGREGATOR_UPSTREAM_GROUP: upstreamGroup,
        MPLP_AGGREGATOR_ALLOWED_LATENESS: `${LATENESS_MS}ms`,
        MPLP_AGGREGATOR_IDLE_TIMEOUT: `${IDLE_MS}ms`,
        MPLP_AGGREGATOR_HEARTBEAT_INTERVAL: '300ms',
      }),
    });
    await service.start();
    ctx.defer(() => service.stop());

    // Live traffic covering the last 20 s, then the stall: nothing more reaches the validated topic.
    const lastBefore = Date.now();
    const before = spansBetween(3000, lastBefore - 20_000, lastBefore);
    await produceSpans(producer, t.validated, before, 20);
    // Every partition's event time reaches the end of the live traffic: with upstream input
    // pending no partition advances by idleness, so one whose newest span happened to be older
    // would hold the windows back (messages are keyed by trace id, partitions fall as they may).
    const tails = [0, 1, 2].map(() => span('search', 'GET /q', lastBefore, 5, false));
    await producer.send({
      topic: t.validated,
      acks: -1,
      messages: tails.map((s, partition) => ({
        partition,
        key: s.traceId,
        value: SpanBatchCodec.encode([s]),
        headers: { [HEADER_FORMAT]: FORMAT_NDJSON_V1, [HEADER_SPANS]: '1' },
      })),
    });
    before.push(...tails);
    const closableBefore = [...expectedWindows(before).entries()].filter(([, w]) => w.end <= lastBefore - LATENESS_MS - 500);
    await waitFor(
      'windows closed by event time before the stall',
      () => {
        const m = latest(out.messages);
        return closableBefore.every(([id]) => m.has(id));
      },
      { timeoutMs: 30_000, intervalMs: 200 },
    );

    // The stall lasts past the idle timeout, the allowed lateness and a whole pane: on the wall
    // clock a window ending after the last span would be closable by now.
    const stallEnd = lastBefore + LATENESS_MS + IDLE_MS + PANE + 2000;
    await waitFor('the stall', () => Date.now() >= stallEnd, { timeoutMs: 30_000, intervalMs: 100 });
    const closedDuringStall = [...latest(out.messages).values()].filter((r) => Date.parse(r.windowEnd) > lastBefore).map((r) => r.id);
    expect(closedDuringStall).toEqual([]);

    // Upstream recovers: it delivers the spans stamped during the stall, then commits its input.
    const during = spansBetween(2000, lastBefore + 1, Date.now());
    await produceSpans(producer, t.validated, during, 20);
    await admin.setOffsets({ groupId: upstreamGroup, topic: raw, partitions: [{ partition: 0, offset: '5' }] });

    const lastDuring = Date.parse(during[during.length - 1].startTime.slice(0, 23) + 'Z');
    const cutoff = Math.ceil(lastDuring / PANE) * PANE + PANE;
    const expected = [...expectedWindows([...before, ...during]).entries()].filter(([, w]) => w.end <= cutoff);
    const got = await waitFor(
      'windows through the stall spans closed',
      () => {
        const m = latest(out.messages);
        return expected.every(([id]) => m.has(id)) && m;
      },
      { timeoutMs: 40_000, intervalMs: 250 },
    );
    for (const [id, e] of expected) {
      const r = got.get(id)!;
      expect({ id, count: r.count, errorCount: r.errorCount }).toEqual({ id, count: e.count, errorCount: e.errorCount });
    }
    expect([...got.values()].reduce((n, r) => n + r.lateCount, 0)).toBe(0);
  });
});
