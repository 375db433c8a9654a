/** The query service's JSON API (Jaeger's shape plus the UI's own routes). */
export interface JaegerTag {
  key: string;
  type: string;
  value: unknown;
}
export interface JaegerSpan {
  traceID: string;
  spanID: string;
  operationName: string;
  references: { refType: 'CHILD_OF' | 'FOLLOWS_FROM'; traceID: string; spanID: string }[];
  startTime: number;
  duration: number;
  tags: JaegerTag[];
  logs: { timestamp: number; fields: JaegerTag[] }[];
  processID: string;
  warnings: string[] | null;
}
export interface JaegerTrace {
  traceID: string;
  spans: JaegerSpan[];
  processes: Record<string, { serviceName: string; tags: JaegerTag[] }>;
  warnings: string[] | null;
}

export interface WindowRecord {
  seriesKey: string;
  service: string;
  operation: string;
  kind: string;
  windowEnd: string;
  windowSeconds: number;
  count: number;
  errorCount: number;
  errorRate: number;
  ratePerSecond: number;
  latencyMs: { p50: number; p95: number; p99: number; max: number; mean: number };
  exemplars?: { traceId: string; durationMs: number }[];
}
export interface SparkPoint {
  t: number;
  rate: number;
  errorRate: number;
  p99: number;
}
export interface SeriesOverview {
  seriesKey: string;
  latest: WindowRecord;
  spark: SparkPoint[];
}
export interface AlertChange {
  ruleId: string;
  state: 'firing' | 'resolved';
  series: { key: string; service: string; operation: string; kind: string };
  metric: string;
  comparison: string;
  value: number;
  threshold: number;
  windowEnd: string;
  evaluatedAt: string;
  reason?: string;
}
export interface DependencyLink {
  parent: string;
  child: string;
  callCount: number;
  errorCount: number;
}

export async function getJson<T>(url: string): Promise<T> {
  const res = await fetch(url, { headers: { accept: 'application/json' } });
  const body = await res.json().catch(() => undefined);
  if (!res.ok) throw new Error(body?.errors?.[0]?.msg ?? `${res.status} ${res.statusText}`);
  return body as T;
}

export const api = {
  services: () => getJson<{ data: string[] }>('/api/services').then((r) => r.data ?? []),
  operations: (service: string) =>
    getJson<{ data: string[] }>(`/api/services/${encodeURIComponent(service)}/operations`).then((r) => r.data ?? []),
  traces: (params: URLSearchParams) => getJson<{ data: JaegerTrace[] }>(`/api/traces?${params}`).then((r) => r.data ?? []),
  trace: (id: string) => getJson<{ data: JaegerTrace[] }>(`/api/traces/${encodeURIComponent(id)}`).then((r) => r.data[0]),
  overview: (lookbackMs: number) => getJson<{ data: SeriesOverview[] }>(`/api/ui/overview?lookback=${lookbackMs}`).then((r) => r.data),
  alerts: () => getJson<{ data: { firing: AlertChange[]; resolved: AlertChange[] } }>('/api/ui/alerts').then((r) => r.data),
  dependencies: (endTs: number, lookback: number) =>
    getJson<{ data: DependencyLink[]; sampledTraces: number; sampledSpans: number }>(
      `/api/dependencies?endTs=${endTs}&lookback=${lookback}`,
    ),
};

/** A tag's value by key, or undefined. */
export const tagOf = (tags: JaegerTag[], key: string) => tags.find((t) => t.key === key)?.value;
