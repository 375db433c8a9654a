import type { Client } from '@elastic/elasticsearch';
import { classifyElasticsearchError, NormalizedSpan } from '../../shared/src';

export interface TraceSearch {
  service?: string; operation?: string; tags?: Record<string, string>;
  minDurationNanos?: number; maxDurationNanos?: number; startMs?: number; endMs?: number; limit?: number;
}

/** Reads traces back from the daily span indices. */
export class TraceQuery {
  private readonly index: string;
  constructor(private readonly es: Client, prefix: string, private readonly pageSize = 5000) { this.index = `${prefix}-traces-*`; }

  /** Every span of a trace, however many: pages with search_after on (startTime, spanId), a unique tiebreaker within a trace. */
  async trace(traceId: string): Promise<NormalizedSpan[]> {
    const spans: NormalizedSpan[] = [];
    let after: unknown[] | undefined;
    for (;;) {
      const res = await this.call(() => this.es.search<NormalizedSpan>({
        index: this.index, size: this.pageSize, query: { term: { traceId } }, ignore_unavailable: true, allow_no_indices: true,
        sort: [{ startTime: 'asc' }, { spanId: 'asc' }], track_total_hits: false, ...(after ? { search_after: after as never } : {}),
      } as never));
      const hits = res.hits.hits;
      for (const h of hits) spans.push(h._source!);
      if (hits.length < this.pageSize) return spans;
      after = hits[hits.length - 1].sort as unknown[];
    }
  }

  async services(): Promise<string[]> {
    const res = await this.call(() => this.es.search({ index: this.index, size: 0, ignore_unavailable: true, allow_no_indices: true, aggs: { s: { terms: { field: 'service', size: 10_000 } } } } as never));
    return ((res.aggregations as { s?: { buckets: { key: string }[] } })?.s?.buckets ?? []).map((b) => b.key).sort();
  }

  async operations(service: string): Promise<Array<{ name: string; spanKind: string }>> {
    const res = await this.call(() => this.es.search({
      index: this.index, size: 0, ignore_unavailable: true, allow_no_indices: true, query: { term: { service } },
      aggs: { n: { terms: { field: 'name', size: 10_000 }, aggs: { k: { terms: { field: 'kind', size: 1 } } } } },
    } as never));
    const buckets = (res.aggregations as { n?: { buckets: { key: string; k: { buckets: { key: string }[] } }[] } })?.n?.buckets ?? [];
    return buckets.map((b) => ({ name: b.key, spanKind: (b.k.buckets[0]?.key ?? 'INTERNAL').toLowerCase() })).sort((a, b) => a.name.localeCompare(b.name));
  }

  /** Trace ids matching the criteria (newest first), then those traces whole. */
  async search(q: TraceSearch): Promise<Map<string, NormalizedSpan[]>> {
    const filter: object[] = [];
    if (q.service) filter.push({ term: { service: q.service } });
    if (q.operation) filter.push({ term: { name: q.operation } });
    for (const [k, v] of Object.entries(q.tags ?? {})) filter.push({ term: { [`attributes.${k}`]: v } });
    if (q.minDurationNanos !== undefined || q.maxDurationNanos !== undefined) {
      filter.push({ range: { durationNanos: { ...(q.minDurationNanos !== undefined ? { gte: q.minDurationNanos } : {}), ...(q.maxDurationNanos !== undefined ? { lte: q.maxDurationNanos } : {}) } } });
    }
    if (q.startMs !== undefined || q.endMs !== undefined) {
      filter.push({ range: { startTime: { ...(q.startMs !== undefined ? { gte: q.startMs } : {}), ...(q.endMs !== undefined ? { lte: q.endMs } : {}), format: 'epoch_millis' } } });
    }
    const res = await this.call(() => this.es.search({
      index: this.index, size: 0, ignore_unavailable: true, allow_no_indices: true, query: { bool: { filter } },
      aggs: { t: { terms: { field: 'traceId', size: q.limit ?? 20, order: { last: 'desc' } }, aggs: { last: { max: { field: 'startTime' } } } } },
    } as never));
    const ids = ((res.aggregations as { t?: { buckets: { key: string }[] } })?.t?.buckets ?? []).map((b) => b.key);
    const out = new Map<string, NormalizedSpan[]>();
    for (const id of ids) out.set(id, await this.trace(id));
    return out;
  }

  private async call<T>(fn: () => Promise<T>): Promise<T> {
    try { return await fn(); } catch (err) { throw classifyElasticsearchError(err, 'trace query'); }
  }
}
