import { PANE_MS, WINDOW_MS } from './config';
import type { SeriesId, Stats } from './partial';
import type { WindowHistogram } from './pane-worker';

/** One record of mplp.metrics (DESIGN.md). */
export interface WindowRecord {
  id: string;
  seriesKey: string;
  service: string;
  operation: string;
  kind: string;
  dimensions?: Record<string, string>;
  windowStart: string;
  windowEnd: string;
  windowSeconds: number;
  count: number;
  errorCount: number;
  errorRate: number;
  ratePerSecond: number;
  latencyMs: { min: number; max: number; mean: number; stddev: number; p50: number; p90: number; p95: number; p99: number; p999: number };
  histogram: { encoding: 'hdr-compressed-base64'; unit: 'us'; significantDigits: number; data: string };
  exemplars: { traceId: string; durationMs: number }[];
  lateCount: number;
}

const round = (n: number, d = 6) => Math.round(n * 10 ** d) / 10 ** d;

export function buildWindowRecord(
  key: string,
  series: SeriesId,
  windowEnd: number,
  stats: Stats,
  lateInLastPane: number,
  h: WindowHistogram,
  digits: number,
): WindowRecord {
  const n = stats.count;
  const mean = n ? stats.sumMs / n : 0;
  const variance = n ? Math.max(0, stats.sumSqMs / n - mean * mean) : 0;
  const us = (v: number) => round(v / 1000);
  return {
    id: `${key}@${windowEnd}`,
    seriesKey: key,
    service: series.service,
    operation: series.operation,
    kind: series.kind,
    ...(series.dims ? { dimensions: series.dims } : {}),
    windowStart: new Date(windowEnd - WINDOW_MS).toISOString(),
    windowEnd: new Date(windowEnd).toISOString(),
    windowSeconds: WINDOW_MS / 1000,
    count: n,
    errorCount: stats.errorCount,
    errorRate: n ? round(stats.errorCount / n) : 0,
    ratePerSecond: round(n / (WINDOW_MS / 1000)),
    latencyMs: {
      min: n ? round(stats.minNanos / 1e6) : 0,
      max: n ? round(stats.maxNanos / 1e6) : 0,
      mean: round(mean),
      stddev: round(Math.sqrt(variance)),
      p50: us(h.p50),
      p90: us(h.p90),
      p95: us(h.p95),
      p99: us(h.p99),
      p999: us(h.p999),
    },
    histogram: { encoding: 'hdr-compressed-base64', unit: 'us', significantDigits: digits, data: h.hist },
    exemplars: stats.exemplars.map((e) => ({ traceId: e.traceId, durationMs: round(e.durationNanos / 1e6) })),
    lateCount: lateInLastPane,
  };
}

export { PANE_MS, WINDOW_MS };
