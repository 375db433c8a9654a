/** A mergeable aggregate of spans of one series over some time range (a pane, or a window). */
export interface Exemplar { traceId: string; durationNanos: number }

export interface SeriesId { service: string; operation: string; kind: string; dims?: Record<string, string> }

export interface Stats {
  count: number;
  errorCount: number;
  lateCount: number;
  /** Exact, in nanoseconds (min/max) and in ms / ms² (sums) for mean and stddev. */
  minNanos: number;
  maxNanos: number;
  sumMs: number;
  sumSqMs: number;
  exemplars: Exemplar[];
}

export function emptyStats(): Stats {
  return { count: 0, errorCount: 0, lateCount: 0, minNanos: Number.POSITIVE_INFINITY, maxNanos: 0, sumMs: 0, sumSqMs: 0, exemplars: [] };
}

/** Slowest first; ties broken by trace id so every process picks the same exemplars. */
export function topExemplars(list: Exemplar[], k: number): Exemplar[] {
  return list
    .sort((a, b) => b.durationNanos - a.durationNanos || (a.traceId < b.traceId ? -1 : a.traceId > b.traceId ? 1 : 0))
    .filter((e, i, arr) => i === 0 || e.traceId !== arr[i - 1].traceId || e.durationNanos !== arr[i - 1].durationNanos)
    .slice(0, k);
}

export function mergeStats(into: Stats, from: Stats, k: number): Stats {
  into.count += from.count;
  into.errorCount += from.errorCount;
  into.lateCount += from.lateCount;
  if (from.count > 0) {
    into.minNanos = Math.min(into.minNanos, from.minNanos);
    into.maxNanos = Math.max(into.maxNanos, from.maxNanos);
  }
  into.sumMs += from.sumMs;
  into.sumSqMs += from.sumSqMs;
  if (from.exemplars.length) into.exemplars = topExemplars([...into.exemplars, ...from.exemplars], k);
  return into;
}

/** Series key: service|operation|kind[|dim=value...] (the Kafka key of metrics and partials). */
export function seriesKey(s: SeriesId): string {
  let key = `${s.service}|${s.operation}|${s.kind}`;
  if (s.dims) for (const k of Object.keys(s.dims).sort()) key += `|${k}=${s.dims[k]}`;
  return key;
}

export const OVERFLOW_OPERATION = '__overflow__';
