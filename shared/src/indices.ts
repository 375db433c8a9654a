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

export function traceMappings() {
  return {
    dynamic: false,
    properties: {
      traceId: { type: 'keyword' },
      spanId: { type: 'keyword' },
      parentSpanId: { type: 'keyword' },
      name: keyword,
      kind: { type: 'keyword' },
      service: keyword,
      startTime: { type: 'date_nanos' },
      endTime: { type: 'date_nanos' },
      durationNanos: { type: 'long' },
      status: { properties: { code: { type: 'keyword' }, message: { type: 'text' } } },
      attributes: flattened,
      resource: flattened,
      scope: { properties: { name: keyword, version: keyword } },
      events: { properties: { time: { type: 'date_nanos' }, name: keyword, attributes: flattened } },
      links: { properties: { traceId: { type: 'keyword' }, spanId: { type: 'keyword' }, attributes: flattened } },
      dropped: {
        properties: {
          attributes: { type: 'integer' },
          events: { type: 'integer' },
          links: { type: 'integer' },
          truncatedValues: { type: 'integer' },
        },
      },
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
  const settings = { number_of_shards: layout.shards, number_of_replicas: layout.replicas, refresh_interval: '1s' };
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
