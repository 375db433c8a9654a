import * as hdr from 'hdr-histogram-js';
import type { Histogram } from 'hdr-histogram-js';
import type { NormalizedSpan } from '../../shared/src';

/**
 * Groundwork for the aggregator (issue 6): exact 5-second panes per series, merged into 60-second
 * windows, so a window is never computed by re-scanning its spans. Latencies are recorded in
 * microseconds in HDR histograms with 3 significant digits (every percentile within 0.1 %).
 * Not yet wired to Kafka: see aggregator/README.md.
 */
export const PANE_MS = 5_000;
export const WINDOW_MS = 60_000;
const SIGNIFICANT_DIGITS = 3;
const MAX_MICROS = 3_600_000_000; // one hour; longer spans are clamped and still counted

export interface Series { service: string; operation: string; kind: string }
export const seriesKey = (s: Series) => `${s.service}|${s.operation}|${s.kind}`;

export interface Exemplar { traceId: string; durationMs: number }

/** One series' data for one pane: mergeable. */
export class Pane {
  readonly histogram: Histogram;
  count = 0;
  errorCount = 0;
  exemplars: Exemplar[] = [];

  constructor(readonly start: number, private readonly maxExemplars: number) {
    this.histogram = newHistogram();
  }

  record(durationNanos: number, error: boolean, traceId: string): void {
    const micros = Math.min(MAX_MICROS, Math.max(1, Math.round(durationNanos / 1000)));
    this.histogram.recordValue(micros);
    this.count++;
    if (error) this.errorCount++;
    this.offerExemplar({ traceId, durationMs: durationNanos / 1e6 });
  }

  offerExemplar(e: Exemplar): void {
    if (this.exemplars.length < this.maxExemplars) { this.exemplars.push(e); this.exemplars.sort((a, b) => b.durationMs - a.durationMs); return; }
    if (e.durationMs > this.exemplars[this.exemplars.length - 1].durationMs) {
      this.exemplars[this.exemplars.length - 1] = e;
      this.exemplars.sort((a, b) => b.durationMs - a.durationMs);
    }
  }
}

function newHistogram(): Histogram {
  return hdr.build({ bitBucketSize: 64, autoResize: true, lowestDiscernibleValue: 1, highestTrackableValue: MAX_MICROS, numberOfSignificantValueDigits: SIGNIFICANT_DIGITS, useWebAssembly: false });
}

export interface WindowRecord extends Series {
  seriesKey: string; windowStart: string; windowEnd: string; windowSeconds: number;
  count: number; errorCount: number; errorRate: number; ratePerSecond: number;
  latencyMs: { min: number; max: number; mean: number; stddev: number; p50: number; p90: number; p95: number; p99: number; p999: number };
  histogram: string; exemplars: string[];
}

/** Panes per series, bounded to the panes a window can still need. */
export class PaneStore {
  private readonly panes = new Map<string, { series: Series; byStart: Map<number, Pane> }>();
  constructor(private readonly maxExemplars = 5) {}

  static paneStart(ms: number): number { return Math.floor(ms / PANE_MS) * PANE_MS; }

  record(span: Pick<NormalizedSpan, 'service' | 'name' | 'kind' | 'startTime' | 'durationNanos' | 'status' | 'traceId'>): void {
    const series = { service: span.service, operation: span.name, kind: span.kind };
    const key = seriesKey(series);
    let entry = this.panes.get(key);
    if (!entry) this.panes.set(key, (entry = { series, byStart: new Map() }));
    const start = PaneStore.paneStart(Date.parse(span.startTime));
    let pane = entry.byStart.get(start);
    if (!pane) entry.byStart.set(start, (pane = new Pane(start, this.maxExemplars)));
    pane.record(span.durationNanos, span.status.code === 'ERROR', span.traceId);
  }

  seriesKeys(): string[] { return [...this.panes.keys()]; }

  /** The 60 s window ending at windowEnd (a multiple of 5 s) for one series, or undefined when it has no spans. */
  window(key: string, windowEnd: number): WindowRecord | undefined {
    const entry = this.panes.get(key);
    if (!entry) return undefined;
    const merged = newHistogram();
    let count = 0, errorCount = 0;
    const exemplars = new Pane(0, this.maxExemplars);
    for (let start = windowEnd - WINDOW_MS; start < windowEnd; start += PANE_MS) {
      const p = entry.byStart.get(start);
      if (!p) continue;
      merged.add(p.histogram);
      count += p.count;
      errorCount += p.errorCount;
      for (const e of p.exemplars) exemplars.offerExemplar(e);
    }
    if (count === 0) return undefined;
    const ms = (v: number) => Math.round(v) / 1000;
    return {
      ...entry.series, seriesKey: key,
      windowStart: new Date(windowEnd - WINDOW_MS).toISOString(), windowEnd: new Date(windowEnd).toISOString(), windowSeconds: WINDOW_MS / 1000,
      count, errorCount, errorRate: errorCount / count, ratePerSecond: count / (WINDOW_MS / 1000),
      latencyMs: {
        min: ms(merged.minNonZeroValue), max: ms(merged.maxValue), mean: ms(merged.mean), stddev: ms(merged.stdDeviation),
        p50: ms(merged.getValueAtPercentile(50)), p90: ms(merged.getValueAtPercentile(90)), p95: ms(merged.getValueAtPercentile(95)),
        p99: ms(merged.getValueAtPercentile(99)), p999: ms(merged.getValueAtPercentile(99.9)),
      },
      histogram: hdr.encodeIntoCompressedBase64(merged),
      exemplars: exemplars.exemplars.map((e) => e.traceId),
    };
  }

  /** Drops panes no window ending after `windowEnd` can use. */
  evictBefore(windowEnd: number): void {
    const oldest = windowEnd - WINDOW_MS + PANE_MS;
    for (const [key, entry] of this.panes) {
      for (const start of entry.byStart.keys()) if (start < oldest) entry.byStart.delete(start);
      if (entry.byStart.size === 0) this.panes.delete(key);
    }
  }
}
