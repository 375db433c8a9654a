import type { Client } from '@elastic/elasticsearch';
import { classifyElasticsearchError } from '../../shared/src';

const WIDE = { ignore_unavailable: true, allow_no_indices: true } as const;

/** One point of a sparkline: bucket start (ms) and the bucket's values. */
export interface SparkPoint {
  t: number;
  rate: number;
  errorRate: number;
  p99: number;
}
export interface SeriesOverview {
  seriesKey: string;
  latest: Record<string, unknown>;
  spark: SparkPoint[];
}

/** Jaeger's dependency link, plus the errors of the calls (an mplp extension). */
export interface DependencyLink {
  parent: string;
  child: string;
  callCount: number;
  errorCount: number;
}
export interface Dependencies {
  links: DependencyLink[];
  sampledTraces: number;
  sampledSpans: number;
}

type Bucket<T> = { key: T; doc_count: number };

/** The reads behind the UI's overview, alerts and service map. */
export class UiQueries {
  constructor(
    private readonly es: Client,
    private readonly prefix: string,
    private readonly limits: { maxSeries: number; dependencyTraces: number; dependencySpans: number },
  ) {}

  /**
   * The latest window record of every series seen in the lookback, and per series a sparkline of
   * `points` buckets (rate averaged, error rate and p99 the bucket's maximum, so a spike shows).
   */
  async overview(lookbackMs: number, points = 60): Promise<SeriesOverview[]> {
    const interval = Math.max(5_000, Math.ceil(lookbackMs / points / 1000) * 1000);
    const res = await this.call(
      () =>
        this.es.search({
          index: `${this.prefix}-metrics-*`,
          ...WIDE,
          size: 0,
          query: { range: { windowEnd: { gte: Date.now() - lookbackMs, format: 'epoch_millis' } } },
          aggs: {
            s: {
              terms: { field: 'seriesKey', size: this.limits.maxSeries },
              aggs: {
                latest: { top_hits: { size: 1, sort: [{ windowEnd: 'desc' }], _source: { excludes: ['histogram'] } } },
                spark: {
                  date_histogram: { field: 'windowEnd', fixed_interval: `${interval}ms` },
                  aggs: {
                    rate: { avg: { field: 'ratePerSecond' } },
                    err: { max: { field: 'errorRate' } },
                    p99: { max: { field: 'latencyMs.p99' } },
                  },
                },
              },
            },
          },
        } as never),
      'metrics overview',
    );
    type SparkBucket = Bucket<number> & { rate: { value: number | null }; err: { value: number | null }; p99: { value: number | null } };
    type SeriesBucket = Bucket<string> & {
      latest: { hits: { hits: { _source: Record<string, unknown> }[] } };
      spark: { buckets: SparkBucket[] };
    };
    const buckets = (res.aggregations as { s?: { buckets: SeriesBucket[] } } | undefined)?.s?.buckets ?? [];
    return buckets.map((b) => ({
      seriesKey: b.key,
      latest: b.latest.hits.hits[0]?._source ?? {},
      spark: b.spark.buckets
        .filter((p) => p.doc_count > 0)
        .map((p) => ({ t: p.key, rate: p.rate.value ?? 0, errorRate: p.err.value ?? 0, p99: p.p99.value ?? 0 })),
    }));
  }

  /**
   * Alert changes of the lookback reduced to the latest per (rule, series): those whose latest
   * change is `firing`, and the most recently resolved.
   */
  async alerts(lookbackMs: number, maxResolved = 50): Promise<{ firing: unknown[]; resolved: unknown[] }> {
    const res = await this.call(
      () =>
        this.es.search({
          index: `${this.prefix}-alerts-*`,
          ...WIDE,
          size: 5000,
          query: { range: { evaluatedAt: { gte: Date.now() - lookbackMs, format: 'epoch_millis' } } },
          sort: [{ evaluatedAt: 'desc' }, { windowEnd: 'desc' }],
        } as never),
      'alerts',
    );
    const latest = new Map<string, Record<string, unknown>>();
    for (const h of res.hits.hits as { _source: Record<string, unknown> }[]) {
      const a = h._source;
      const series = a.series as { key?: string } | undefined;
      const key = `${a.ruleId}\u0000${series?.key ?? a.seriesKey}`;
      if (!latest.has(key)) latest.set(key, a);
    }
    const all = [...latest.values()];
    return { firing: all.filter((a) => a.state === 'firing'), resolved: all.filter((a) => a.state === 'resolved').slice(0, maxResolved) };
  }

  /**
   * Service-to-service calls in [endMs - lookbackMs, endMs], computed now from a bounded sample:
   * the `dependencyTraces` most recent traces of the range, at most `dependencySpans` of their
   * spans. A span whose parent is in another service is one call parent → child; the counts are
   * those of the sample.
   */
  async dependencies(endMs: number, lookbackMs: number): Promise<Dependencies> {
    const range = { range: { startTime: { gte: endMs - lookbackMs, lte: endMs, format: 'epoch_millis' } } };
    const ids = await this.call(
      () =>
        this.es.search({
          index: `${this.prefix}-traces-*`,
          ...WIDE,
          size: 0,
          query: range,
          aggs: {
            t: {
              terms: { field: 'traceId', size: this.limits.dependencyTraces, order: { last: 'desc' } },
              aggs: { last: { max: { field: 'startTime' } } },
            },
          },
        } as never),
      'dependencies',
    );
    const traceIds = ((ids.aggregations as { t?: { buckets: Bucket<string>[] } } | undefined)?.t?.buckets ?? []).map((b) => b.key);
    if (!traceIds.length) return { links: [], sampledTraces: 0, sampledSpans: 0 };
    const res = await this.call(
      () =>
        this.es.search({
          index: `${this.prefix}-traces-*`,
          ...WIDE,
          size: this.limits.dependencySpans,
          query: { terms: { traceId: traceIds } },
          _source: ['traceId', 'spanId', 'parentSpanId', 'service', 'status.code'],
        } as never),
      'dependencies',
    );
    type Row = { traceId: string; spanId: string; parentSpanId?: string; service: string; status?: { code?: string } };
    const rows = (res.hits.hits as { _source: Row }[]).map((h) => h._source);
    return { links: dependencyLinks(rows), sampledTraces: traceIds.length, sampledSpans: rows.length };
  }

  private async call<T>(fn: () => Promise<T>, what: string): Promise<T> {
    try {
      return await fn();
    } catch (err) {
      throw classifyElasticsearchError(err, what);
    }
  }
}

/** Calls between services: each span whose parent (same trace) belongs to another service. */
export function dependencyLinks(
  spans: { traceId: string; spanId: string; parentSpanId?: string; service: string; status?: { code?: string } }[],
): DependencyLink[] {
  const serviceOf = new Map<string, string>();
  for (const s of spans) serviceOf.set(`${s.traceId}/${s.spanId}`, s.service);
  const links = new Map<string, DependencyLink>();
  for (const s of spans) {
    if (!s.parentSpanId) continue;
    const parent = serviceOf.get(`${s.traceId}/${s.parentSpanId}`);
    if (parent === undefined || parent === s.service) continue;
    const key = `${parent}\u0000${s.service}`;
    const link = links.get(key) ?? { parent, child: s.service, callCount: 0, errorCount: 0 };
    link.callCount++;
    if (s.status?.code === 'ERROR') link.errorCount++;
    links.set(key, link);
  }
  return [...links.values()].sort((a, b) => a.parent.localeCompare(b.parent) || a.child.localeCompare(b.child));
}
