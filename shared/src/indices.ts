import type { Client } from '@elastic/elasticsearch';
import { classifyElasticsearchError } from './errors';

export type IndexKind = 'traces' | 'metrics' | 'alerts';

/** `mplp-traces-YYYY.MM.DD` for the UTC date of an ISO timestamp or epoch ms. */
export function dailyIndex(prefix: string, kind: IndexKind, time: string | number | Date): string {
  const d = typeof time === 'string' ? time.slice(0, 10) : new Date(time).toISOString().slice(0, 10);
  return `${prefix}-${kind}-${d.replace(/-/g, '.')}`;
}

/** The date in a daily index name, or undefined when the name is not one of ours. */
export function indexDate(prefix: string, index: string): { kind: IndexKind; date: Date } | undefined {
  const m = new RegExp(`^${prefix.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}-(traces|metrics|alerts)-(\\d{4})\\.(\\d{2})\\.(\\d{2})$`).exec(
    index,
  );
  if (!m) return undefined;
  const date = new Date(Date.UTC(Number(m[2]), Number(m[3]) - 1, Number(m[4])));
  return Number.isNaN(date.getTime()) ? undefined : { kind: m[1] as IndexKind, date };
}

// Attributes are `flattened`: one field per object whatever keys producers invent, so no
// producer can explode the mapping. ignore_above keeps a long value (≤ 8,192 chars of up to
// 4 UTF-8 bytes) under Lucene's 32,766-byte term limit: it stays in _source, just unindexed.
const flattened = { type: 'flattened', ignore_above: 8191 } as const;
const keyword = { type: 'keyword', ignore_above: 1024 } as const;

/**
 * A span document is written once and read whole (`_source`), so only what a query filters,
 * sorts or aggregates on is indexed; the rest is kept in `_source` only (`index: false`,
 * `doc_values: false`, `enabled: false`). Each field below names its queries (indexer/src
 * trace-query.ts, ui-queries.ts): indexing every field cost Elasticsearch about twice the CPU
 * per span (indexer/README.md, "Elasticsearch cost per span").
 */
export function traceMappings() {
  const sourceOnly = { index: false, doc_values: false } as const;
  const notIndexed = { type: 'object', enabled: false } as const;
  return {
    dynamic: false,
    properties: {
      // term / terms filters; terms aggregation (search, dependencies)
      traceId: { type: 'keyword' },
      // sort tie-break of a trace's pages only: doc values, no inverted index
      spanId: { type: 'keyword', index: false },
      parentSpanId: { type: 'keyword', ...sourceOnly },
      // term filters; terms aggregations (services, operations)
      name: keyword,
      service: keyword,
      // the operations list's sub-aggregation only
      kind: { type: 'keyword', index: false },
      // range filters, sort, max aggregation
      startTime: { type: 'date_nanos' },
      endTime: { type: 'date_nanos', ...sourceOnly },
      // range filter (min/max duration) only
      durationNanos: { type: 'long', doc_values: false },
      // term filter (error=true) only
      status: { properties: { code: { type: 'keyword', doc_values: false }, message: { type: 'text', index: false } } },
      // term filters (tags); never aggregated, so no doc values
      attributes: { ...flattened, doc_values: false },
      // no query reads these: _source only (a Jaeger tag search matches span attributes)
      resource: notIndexed,
      scope: notIndexed,
      events: notIndexed,
      links: notIndexed,
      dropped: notIndexed,
    },
  };
}

export function metricMappings() {
  const num = { type: 'double' } as const;
  return {
    dynamic: false,
    properties: {
      seriesKey: keyword,
      service: keyword,
      operation: keyword,
      kind: { type: 'keyword' },
      dimensions: flattened,
      windowStart: { type: 'date' },
      windowEnd: { type: 'date' },
      windowSeconds: { type: 'integer' },
      count: { type: 'long' },
      errorCount: { type: 'long' },
      lateCount: { type: 'long' },
      errorRate: num,
      ratePerSecond: num,
      latencyMs: { properties: { min: num, max: num, mean: num, stddev: num, p50: num, p90: num, p95: num, p99: num, p999: num } },
      // The window's encoded HDR histogram ({ encoding, unit, significantDigits, data }): kept in
      // _source so windows can be merged later, never indexed.
      histogram: { type: 'object', enabled: false },
      id: keyword,
      // The slowest spans of the window, so a p99 leads to a trace: [{ traceId, durationMs }].
      exemplars: { properties: { traceId: { type: 'keyword' }, durationMs: { type: 'double' } } },
    },
  };
}

export function alertMappings() {
  return {
    dynamic: false,
    properties: {
      ruleId: keyword,
      state: { type: 'keyword' },
      seriesKey: keyword,
      series: flattened,
      metric: keyword,
      comparison: { type: 'keyword' },
      value: { type: 'double' },
      threshold: { type: 'double' },
      windowEnd: { type: 'date' },
      evaluatedAt: { type: 'date' },
    },
  };
}

/** Shards and replicas of the daily indices (MPLP_INDEX_SHARDS, MPLP_INDEX_REPLICAS); the local cluster's one node keeps 0 replicas. */
export interface IndexLayout {
  shards: number;
  replicas: number;
}
export const LOCAL_INDEX_LAYOUT: IndexLayout = { shards: 1, replicas: 0 };

export function indexTemplates(prefix: string, layout: IndexLayout = LOCAL_INDEX_LAYOUT) {
  // refresh_interval is left unset on purpose: Elasticsearch's default (1 s) then skips the
  // scheduled refreshes of a shard nobody searched for 30 s (search-idle), and the next search
  // refreshes it and waits, so it still sees every acknowledged span. Most spans are never
  // searched; an explicit 1s would pay a refresh a second on every shard regardless.
  const settings = { number_of_shards: layout.shards, number_of_replicas: layout.replicas };
  return [
    { name: `${prefix}-traces`, index_patterns: [`${prefix}-traces-*`], template: { settings, mappings: traceMappings() } },
    { name: `${prefix}-metrics`, index_patterns: [`${prefix}-metrics-*`], template: { settings, mappings: metricMappings() } },
    { name: `${prefix}-alerts`, index_patterns: [`${prefix}-alerts-*`], template: { settings, mappings: alertMappings() } },
  ];
}

/**
 * Installs (or updates) the composable index templates: PUT is idempotent. A changed layout
 * applies to indices created afterwards (Elasticsearch reads templates at index creation).
 */
export async function ensureIndexTemplates(es: Client, prefix: string, layout: IndexLayout = LOCAL_INDEX_LAYOUT): Promise<string[]> {
  const names: string[] = [];
  for (const t of indexTemplates(prefix, layout)) {
    try {
      await es.indices.putIndexTemplate({
        name: t.name,
        index_patterns: t.index_patterns,
        priority: 200,
        template: t.template as never,
        _meta: { managedBy: 'mplp' },
      });
    } catch (err) {
      throw classifyElasticsearchError(err, `install index template ${t.name}`);
    }
    names.push(t.name);
  }
  return names;
}
