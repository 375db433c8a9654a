/** A mergeable aggregate of spans of one series over some time range (a pane, or a window). */
export interface Exemplar {
  traceId: string;
  durationNanos: number;
}

export interface SeriesId {
  service: string;
  operation: string;
  kind: string;
  dims?: Record<string, string>;
}

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
  /** Spans with status OK (the rest of count − errorCount is UNSET). Absent in partials of older versions. */
  okCount?: number;
  /**
   * Exact span counts per duration bucket of the OpenTelemetry spanmetrics connector's default
   * bounds (DURATION_BUCKETS_NANOS, upper bound inclusive, one more for above the last): the
   * Prometheus histogram of /metrics. Absent in partials of older versions.
   */
  buckets?: number[];
}

/** The spanmetrics connector's default histogram bounds: 2, 4, 6, 8, 10, 50, 100, 200, 400, 800 ms, 1, 1.4, 2, 5, 10, 15 s. */
export const DURATION_BUCKETS_MS = [2, 4, 6, 8, 10, 50, 100, 200, 400, 800, 1000, 1400, 2000, 5000, 10_000, 15_000];
const DURATION_BUCKETS_NANOS = DURATION_BUCKETS_MS.map((ms) => ms * 1e6);

/** The bucket of a duration: the first bound it does not exceed, or the last slot (above 15 s). */
export function durationBucket(nanos: number): number {
  let lo = 0,
    hi = DURATION_BUCKETS_NANOS.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (nanos <= DURATION_BUCKETS_NANOS[mid]) hi = mid;
    else lo = mid + 1;
  }
  return lo;
}

export function emptyStats(): Stats {
  return {
    count: 0,
    errorCount: 0,
    lateCount: 0,
    minNanos: Number.POSITIVE_INFINITY,
    maxNanos: 0,
    sumMs: 0,
    sumSqMs: 0,
    exemplars: [],
    okCount: 0,
    buckets: new Array<number>(DURATION_BUCKETS_MS.length + 1).fill(0),
  };
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
  if (from.okCount) into.okCount = (into.okCount ?? 0) + from.okCount;
  if (from.buckets) {
    into.buckets ??= new Array<number>(from.buckets.length).fill(0);
    for (let i = 0; i < from.buckets.length && i < into.buckets.length; i++) into.buckets[i] += from.buckets[i];
  }
  return into;
}

/** Series key: service|operation|kind[|dim=value...] (the Kafka key of metrics and partials). */
export function seriesKey(s: SeriesId): string {
  let key = `${s.service}|${s.operation}|${s.kind}`;
  if (s.dims) for (const k of Object.keys(s.dims).sort()) key += `|${k}=${s.dims[k]}`;
  return key;
}

export const OVERFLOW_OPERATION = '__overflow__';
