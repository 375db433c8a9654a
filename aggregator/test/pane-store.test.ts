import * as hdr from 'hdr-histogram-js';
import { PaneStore, seriesKey } from '../src/pane-store';

const T0 = Date.UTC(2024, 4, 1, 12, 0, 0);
const span = (offsetMs: number, durMs: number, error = false, traceId = 'a'.repeat(32)) => ({
  service: 'cart', name: 'GetCart', kind: 'SERVER' as const, startTime: new Date(T0 + offsetMs).toISOString(),
  durationNanos: Math.round(durMs * 1e6), status: { code: error ? 'ERROR' as const : 'OK' as const }, traceId,
});

function exactPercentile(sorted: number[], p: number): number {
  return sorted[Math.max(0, Math.ceil((p / 100) * sorted.length) - 1)];
}

describe('PaneStore: 5 s panes merged into 60 s windows', () => {
  it('counts exactly and keeps every percentile within the HDR precision of the exact one', () => {
    const store = new PaneStore();
    const durations: number[] = [];
    // 70 s of spans with a long tail, one every 10 ms; 1 in 25 is an error.
    for (let i = 0; i < 7000; i++) {
      const d = i % 100 === 0 ? 500 + (i % 7) * 100 : 5 + ((i * 37) % 100) / 3;
      store.record(span(i * 10, d, i % 25 === 0, i.toString(16).padStart(32, '0')));
      if (i * 10 >= 5_000 && i * 10 < 65_000) durations.push(d);
    }
    const key = seriesKey({ service: 'cart', operation: 'GetCart', kind: 'SERVER' });
    const w = store.window(key, T0 + 65_000)!;
    expect(w.count).toBe(6000);
    expect(w.errorCount).toBe(240);
    expect(w.ratePerSecond).toBe(100);
    expect(w.windowStart).toBe(new Date(T0 + 5_000).toISOString());
    const sorted = durations.sort((a, b) => a - b);
    for (const [p, field] of [[50, 'p50'], [90, 'p90'], [95, 'p95'], [99, 'p99'], [99.9, 'p999']] as const) {
      const exact = exactPercentile(sorted, p);
      // 3 significant digits, plus the microsecond rounding of the input.
      expect(Math.abs(w.latencyMs[field] - exact)).toBeLessThanOrEqual(exact * 0.001 + 0.001);
    }
    expect(w.latencyMs.max).toBeCloseTo(1100, 0);
    expect(w.exemplars).toHaveLength(5);
    const decoded = hdr.decodeFromCompressedBase64(w.histogram);
    expect(decoded.totalCount).toBe(6000);
  });

  it('has no window for a series without spans in it, and evicts panes no window needs', () => {
    const store = new PaneStore();
    store.record(span(0, 1));
    const key = store.seriesKeys()[0];
    expect(store.window(key, T0 + 5_000)!.count).toBe(1);
    expect(store.window(key, T0 + 120_000)).toBeUndefined();
    store.evictBefore(T0 + 65_000);
    expect(store.seriesKeys()).toEqual([]);
  });
});
