import type { Client } from '@elastic/elasticsearch';
import { classifyElasticsearchError, NormalizedSpan } from '../../shared/src';

export interface TraceSearch {
  service?: string;
  operation?: string;
  tags?: Record<string, string>;
  minDurationNanos?: number;
  maxDurationNanos?: number;
  /** Bounds on span start, ISO timestamps (microsecond precision). */
  startIso?: string;
  endIso?: string;
  limit?: number;
}

/** Some or all spans of one trace: `total` is how many the trace has, `spans.length < total` when capped. */
export interface LoadedTrace {
  spans: NormalizedSpan[];
  total: number;
}

const WIDE = { ignore_unavailable: true, allow_no_indices: true } as const;

/** Reads traces back from the daily span indices. */
export class TraceQuery {
  private readonly index: string;
  constructor(
    private readonly es: Client,
    prefix: string,
    private readonly pageSize = 5000,
  ) {
    this.index = `${prefix}-traces-*`;
  }

  /**
   * The first `maxSpans` spans of a trace by start time (all of them when it has fewer), and
   * how many it has. Pages with search_after on (startTime, spanId), a unique tiebreaker within
   * a trace, and stops at the cap: a huge trace is never read whole into memory.
   */
  async trace(traceId: string, maxSpans: number): Promise<LoadedTrace> {
    const spans: NormalizedSpan[] = [];
    let total = 0;
    let after: unknown[] | undefined;
    while (spans.length < maxSpans) {
      const size = Math.min(this.pageSize, maxSpans - spans.length);
      const res = await this.call(() =>
        this.es.search<NormalizedSpan>({
          index: this.index,
          ...WIDE,
          size,
          query: { term: { traceId } },
          // Nanosecond sort values as strings: as JSON numbers they lose precision (2^53 < 1.8e18), and
          // a value rounded down makes search_after return the last span of a page again.
          sort: [{ startTime: { order: 'asc', format: 'strict_date_optional_time_nanos' } }, { spanId: 'asc' }],
          track_total_hits: after === undefined,
          ...(after ? { search_after: after as never } : {}),
        } as never),
      );
      const hits = res.hits.hits;
      if (after === undefined) total = typeof res.hits.total === 'number' ? res.hits.total : (res.hits.total?.value ?? hits.length);
      for (const h of hits) spans.push(h._source!);
      if (hits.length < size) break;
      after = hits[hits.length - 1].sort as unknown[];
    }
    return { spans, total: Math.max(total, spans.length) };
  }

  /** How many spans each of these traces has. */
  async spanCounts(traceIds: string[]): Promise<Map<string, number>> {
    if (!traceIds.length) return new Map();
    const res = await this.call(() =>
      this.es.search({
        index: this.index,
        ...WIDE,
        size: 0,
        query: { terms: { traceId: traceIds } },
        aggs: { t: { terms: { field: 'traceId', size: traceIds.length } } },
      } as never),
    );
    const buckets = (res.aggregations as { t?: { buckets: { key: string; doc_count: number }[] } })?.t?.buckets ?? [];
    return new Map(buckets.map((b) => [b.key, b.doc_count]));
  }

  async services(): Promise<string[]> {
    const res = await this.call(() =>
      this.es.search({ index: this.index, ...WIDE, size: 0, aggs: { s: { terms: { field: 'service', size: 10_000 } } } } as never),
    );
    return ((res.aggregations as { s?: { buckets: { key: string }[] } })?.s?.buckets ?? []).map((b) => b.key).sort();
  }

  async operations(service: string): Promise<Array<{ name: string; spanKind: string }>> {
    const res = await this.call(() =>
      this.es.search({
        index: this.index,
        ...WIDE,
        size: 0,
        query: { term: { service } },
        aggs: { n: { terms: { field: 'name', size: 10_000 }, aggs: { k: { terms: { field: 'kind', size: 1 } } } } },
      } as never),
    );
    const buckets = (res.aggregations as { n?: { buckets: { key: string; k: { buckets: { key: string }[] } }[] } })?.n?.buckets ?? [];
    return buckets
      .map((b) => ({ name: b.key, spanKind: (b.k.buckets[0]?.key ?? 'INTERNAL').toLowerCase() }))
      .sort((a, b) => a.name.localeCompare(b.name));
  }

  /** Ids of the traces matching the criteria, newest (latest span start) first, at most `limit`. */
  async findTraceIds(q: TraceSearch): Promise<string[]> {
    const res = await this.call(() =>
      this.es.search({
        index: this.index,
        ...WIDE,
        size: 0,
        query: { bool: { filter: searchFilter(q) } },
        aggs: {
          t: { terms: { field: 'traceId', size: q.limit ?? 20, order: { last: 'desc' } }, aggs: { last: { max: { field: 'startTime' } } } },
        },
      } as never),
    );
    return ((res.aggregations as { t?: { buckets: { key: string }[] } })?.t?.buckets ?? []).map((b) => b.key);
  }

  private async call<T>(fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (err) {
      throw classifyElasticsearchError(err, 'trace query');
    }
  }
}

function searchFilter(q: TraceSearch): object[] {
  const filter: object[] = [];
  if (q.service) filter.push({ term: { service: q.service } });
  if (q.operation) filter.push({ term: { name: q.operation } });
  for (const [k, v] of Object.entries(q.tags ?? {})) filter.push(tagFilter(k, v));
  if (q.minDurationNanos !== undefined || q.maxDurationNanos !== undefined) {
    filter.push({ range: { durationNanos: { gte: q.minDurationNanos, lte: q.maxDurationNanos } } });
  }
  if (q.startIso !== undefined || q.endIso !== undefined) {
    filter.push({ range: { startTime: { gte: q.startIso, lte: q.endIso, format: 'strict_date_optional_time_nanos' } } });
  }
  return filter;
}

/**
 * `error=true` is how Jaeger users search for failed spans (Jaeger shows an OTLP ERROR status as
 * that tag): it matches status ERROR, or an `error` attribute set by the instrumentation;
 * `error=false` matches neither. Any other tag is its attribute.
 */
function tagFilter(key: string, value: string): object {
  const attribute = { term: { [`attributes.${key}`]: value } };
  if (key !== 'error' || (value !== 'true' && value !== 'false')) return attribute;
  const failed = {
    bool: { should: [{ term: { 'status.code': 'ERROR' } }, { term: { 'attributes.error': 'true' } }], minimum_should_match: 1 },
  };
  return value === 'true' ? failed : { bool: { must_not: [failed] } };
}
