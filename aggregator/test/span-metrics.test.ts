import { Registry } from 'prom-client';
import { DURATION_BUCKETS_MS, durationBucket, emptyStats, mergeStats, Stats } from '../src/partial';
import { SpanMetrics } from '../src/span-metrics';
import { parsePromText, select } from './prom-text';

/** A pane's stats as the pane worker records them (one partial per source partition). */
function pane(durationsMs: number[], status: (i: number) => 'OK' | 'ERROR' | 'UNSET'): Stats {
  const st = emptyStats();
  durationsMs.forEach((ms, i) => {
    const ns = ms * 1e6;
    st.count++;
    if (status(i) === 'ERROR') st.errorCount++;
    else if (status(i) === 'OK') st.okCount!++;
    st.buckets![durationBucket(ns)]++;
    st.sumMs += ms;
  });
  return st;
}

describe('span metrics (spanmetrics connector names)', () => {
  it('buckets are upper-inclusive at the connector default bounds', () => {
    expect(DURATION_BUCKETS_MS).toEqual([2, 4, 6, 8, 10, 50, 100, 200, 400, 800, 1000, 1400, 2000, 5000, 10_000, 15_000]);
    expect(durationBucket(0)).toBe(0);
    expect(durationBucket(2e6)).toBe(0);
    expect(durationBucket(2e6 + 1)).toBe(1);
    expect(durationBucket(15_000e6)).toBe(15);
    expect(durationBucket(15_000e6 + 1)).toBe(16);
  });

  it('exposes calls by status and a cumulative duration histogram per series, adding panes', async () => {
    const registry = new Registry();
    const sm = new SpanMetrics(registry);
    const a = [1, 2, 3, 9, 10, 11, 99, 100, 101, 1500, 20_000];
    const b = [5, 5, 5, 450];
    // Two source partitions' partials of one pane, merged as the merge stage does.
    const p1 = mergeStats(
      mergeStats(
        emptyStats(),
        pane(a, (i) => (i % 3 === 0 ? 'ERROR' : i % 3 === 1 ? 'OK' : 'UNSET')),
        0,
      ),
      pane(b, () => 'UNSET'),
      0,
    );
    sm.addPane(0, 'checkout|POST /pay|SERVER', { service: 'checkout', operation: 'POST /pay', kind: 'SERVER' }, p1);
    sm.addPane(
      0,
      'checkout|POST /pay|SERVER',
      { service: 'checkout', operation: 'POST /pay', kind: 'SERVER' },
      pane([7], () => 'ERROR'),
    );
    sm.addPane(
      1,
      'q|GET "x"|CLIENT|http.route=/x',
      { service: 'q', operation: 'GET "x"', kind: 'CLIENT', dims: { 'http.route': '/x' } },
      pane([3000], () => 'OK'),
    );
    const { samples, types } = parsePromText(await registry.metrics());
    expect(types.get('traces_span_metrics_calls_total')).toBe('counter');
    expect(types.get('traces_span_metrics_duration_seconds')).toBe('histogram');
    const pay = { service_name: 'checkout', span_name: 'POST /pay', span_kind: 'SPAN_KIND_SERVER' };
    const calls = (status: string) =>
      select(samples, 'traces_span_metrics_calls_total', { ...pay, status_code: status }).map((s) => s.value);
    expect(calls('STATUS_CODE_ERROR')).toEqual([4 + 1]);
    expect(calls('STATUS_CODE_OK')).toEqual([4]);
    expect(calls('STATUS_CODE_UNSET')).toEqual([3 + 4]);
    const all = [...a, ...b, 7];
    const buckets = select(samples, 'traces_span_metrics_duration_seconds_bucket', pay);
    expect(buckets.map((s) => s.labels.le)).toEqual([...DURATION_BUCKETS_MS.map((ms) => String(ms / 1000)), '+Inf']);
    for (const s of buckets)
      expect([s.labels.le, s.value]).toEqual([
        s.labels.le,
        all.filter((ms) => s.labels.le === '+Inf' || ms / 1000 <= Number(s.labels.le)).length,
      ]);
    expect(select(samples, 'traces_span_metrics_duration_seconds_count', pay)[0].value).toBe(all.length);
    expect(select(samples, 'traces_span_metrics_duration_seconds_sum', pay)[0].value).toBeCloseTo(all.reduce((x, y) => x + y) / 1000, 6);
    // Dimensions become labels; label values are escaped and read back.
    const q = select(samples, 'traces_span_metrics_calls_total', {
      span_name: 'GET "x"',
      span_kind: 'SPAN_KIND_CLIENT',
      http_route: '/x',
      status_code: 'STATUS_CODE_OK',
    });
    expect(q.map((s) => s.value)).toEqual([1]);
    // A lost partition's series leave /metrics; the other partition's stay.
    sm.dropPartition(0);
    const after = parsePromText(await registry.metrics()).samples;
    expect(select(after, 'traces_span_metrics_calls_total', pay)).toEqual([]);
    expect(select(after, 'traces_span_metrics_duration_seconds_count', { service_name: 'q' }).map((s) => s.value)).toEqual([1]);
  });

  it('spans of a partial without buckets (an older aggregator) count in +Inf only, so _count and the +Inf bucket agree', async () => {
    const registry = new Registry();
    const sm = new SpanMetrics(registry);
    const old = pane([1, 2], () => 'UNSET');
    delete old.buckets;
    delete old.okCount;
    sm.addPane(0, 's|o|SERVER', { service: 's', operation: 'o', kind: 'SERVER' }, old);
    const { samples } = parsePromText(await registry.metrics());
    expect(select(samples, 'traces_span_metrics_duration_seconds_bucket', { le: '+Inf' })[0].value).toBe(2);
    expect(select(samples, 'traces_span_metrics_duration_seconds_bucket', { le: '0.002' })[0].value).toBe(0);
    expect(select(samples, 'traces_span_metrics_calls_total', { status_code: 'STATUS_CODE_UNSET' })[0].value).toBe(2);
  });
});
