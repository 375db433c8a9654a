import { TestContext, uniqueName, waitFor } from '../../shared/testing';
import { createAggregator } from '../src';
const GLOBAL_OVERFLOW_KEY = '__overflow__|__overflow__|INTERNAL';
import { SpanBatchCodec, HEADER_FORMAT, HEADER_SPANS, FORMAT_NDJSON_V1 } from '../../shared/src';
import type { NormalizedSpan } from '../../shared/src';
import { PANE, produceSpans, span, WINDOW } from './helpers';
import { aggregatorEnv, deletePartials, latest, metricValue, scrape, setupTopics } from './run-helpers';

function message(spans: NormalizedSpan[]) {
  return {
    partition: 0,
    key: spans[0].traceId,
    value: SpanBatchCodec.encode(spans),
    headers: { [HEADER_FORMAT]: FORMAT_NDJSON_V1, [HEADER_SPANS]: String(spans.length) },
  };
}

describe('aggregator limits on real Kafka', () => {
  let ctx: TestContext;
  beforeEach(() => {
    ctx = new TestContext();
  });
  afterEach(async () => {
    await ctx.cleanup();
  });

  it('a span stamped 50 minutes ahead neither moves the watermark past the clock nor makes the on-time spans after it late', async () => {
    const t = await setupTopics(ctx, 1);
    const producer = await ctx.producer();
    const now = Date.now();
    const future = span('clock', 'future', now + 50 * 60_000, 3, false);
    const onTime = Array.from({ length: 100 }, (_, i) => span('clock', 'on-time', now - 1000, 1 + i, false));
    await producer.send({
      topic: t.validated,
      acks: -1,
      messages: [message([future]), ...Array.from({ length: 10 }, (_, i) => message(onTime.slice(i * 10, i * 10 + 10)))],
    });
    const group = uniqueName('test-agg-clock');
    await deletePartials(ctx, group);
    const metricsOut = await ctx.collect(t.metrics);
    // Lateness 3 s, skew 1 s (default): a data-driven watermark stays ≥ 2 s behind the record clock.
    const { service } = createAggregator({ ...process.env, ...aggregatorEnv(t, group, { MPLP_AGGREGATOR_ALLOWED_LATENESS: '3s' }) });
    await service.start();
    ctx.defer(() => service.stop());

    const body = await waitFor(
      'all 101 spans seen',
      async () => {
        const b = await scrape(service.opsPort());
        return metricValue(b, 'mplp_aggregator_spans_total') + metricValue(b, 'mplp_aggregator_late_spans_total') >= 101 && b;
      },
      { timeoutMs: 30_000, intervalMs: 200 },
    );
    // The watermark the source stage published through (its commit metadata), against the clock.
    const admin = await ctx.admin();
    const meta = await waitFor(
      'a source commit',
      async () => {
        const [res] = await admin.fetchOffsets({ groupId: group, topics: [t.validated] });
        const m = res.partitions[0]?.metadata;
        return m ? (JSON.parse(m) as { skip: number }) : undefined;
      },
      { timeoutMs: 30_000, intervalMs: 200 },
    );
    const leadSeconds = (meta.skip - Date.now()) / 1000;
    expect({
      late: metricValue(body, 'mplp_aggregator_late_spans_total'),
      spans: metricValue(body, 'mplp_aggregator_spans_total'),
      leadOk: leadSeconds <= 1,
    }).toEqual({ late: 0, spans: 101, leadOk: true });
    expect(metricValue(await scrape(service.opsPort()), 'mplp_aggregator_watermark_lead_seconds')).toBeLessThanOrEqual(1);
    // The on-time spans come out in their windows; the future span's pane waits for the clock.
    const pane = Math.floor((now - 1000) / PANE) * PANE;
    const got = await waitFor('the on-time window', () => latest(metricsOut.messages).get(`clock|on-time|SERVER@${pane + PANE}`), {
      timeoutMs: 30_000,
      intervalMs: 200,
    });
    expect({ count: got.count, lateCount: got.lateCount }).toEqual({ count: 100, lateCount: 0 });
    expect([...latest(metricsOut.messages).values()].some((r) => r.operation === 'future')).toBe(false);
  });

  it('past MPLP_AGGREGATOR_MAX_OVERFLOW_SERIES new services fold into one global overflow series: 3,000 services, 16 series, exact totals', async () => {
    const t = await setupTopics(ctx);
    const end = Math.floor((Date.now() - 5 * 60_000) / PANE) * PANE;
    const services = 3000;
    const spans = Array.from({ length: services }, (_, i) =>
      span(`svc-${i}`, 'op', end - 20_000 + Math.floor((i / services) * 20_000), 2, false),
    );
    await produceSpans(await ctx.producer(), t.validated, spans);
    const group = uniqueName('test-agg-gcap');
    await deletePartials(ctx, group);
    const metricsOut = await ctx.collect(t.metrics);
    const { service } = createAggregator({
      ...process.env,
      ...aggregatorEnv(t, group, { MPLP_AGGREGATOR_MAX_SERIES: '10', MPLP_AGGREGATOR_MAX_OVERFLOW_SERIES: '5' }),
    });
    await service.start();
    ctx.defer(() => service.stop());

    // Per window end, the spans it must hold, whatever series they fell into.
    const perEnd = new Map<number, number>();
    for (const s of spans) {
      const p = Math.floor(Date.parse(s.startTime.slice(0, 23) + 'Z') / PANE) * PANE;
      for (let e = p + PANE; e <= p + WINDOW; e += PANE) perEnd.set(e, (perEnd.get(e) ?? 0) + 1);
    }
    const records = await waitFor(
      'every window end with its full count',
      () => {
        const sums = new Map<number, number>();
        const all = [...latest(metricsOut.messages).values()];
        for (const r of all) sums.set(Date.parse(r.windowEnd), (sums.get(Date.parse(r.windowEnd)) ?? 0) + r.count);
        return [...perEnd].every(([e, n]) => (sums.get(e) ?? 0) >= n) && all;
      },
      { timeoutMs: 90_000, intervalMs: 250 },
    );
    for (const [e, n] of perEnd)
      expect({ e, count: records.filter((r) => Date.parse(r.windowEnd) === e).reduce((a, r) => a + r.count, 0) }).toEqual({ e, count: n });
    const keys = new Set(records.map((r) => r.seriesKey));
    expect(keys.size).toBe(10 + 5 + 1);
    expect(keys.has(GLOBAL_OVERFLOW_KEY)).toBe(true);
    const body = await scrape(service.opsPort());
    expect({
      live: metricValue(body, 'mplp_aggregator_live_series'),
      overflowSeries: metricValue(body, 'mplp_aggregator_overflow_series'),
      overflowSpans: metricValue(body, 'mplp_aggregator_overflow_spans_total'),
      globalSpans: metricValue(body, 'mplp_aggregator_global_overflow_spans_total'),
    }).toEqual({ live: 16, overflowSeries: 5, overflowSpans: services - 10, globalSpans: services - 15 });
    // Each span is in the 12 windows covering its pane: the counter times 12 is the global series' total.
    const global = records.filter((r) => r.seriesKey === GLOBAL_OVERFLOW_KEY).reduce((a, r) => a + r.count, 0);
    expect(global).toBe((services - 15) * (WINDOW / PANE));
  });
});
