import type { Client } from '@elastic/elasticsearch';
import { classifyElasticsearchError } from '../../shared/src';
import { BadRequest } from './query-params';

/**
 * Jaeger's service-performance-monitoring (SPM) API — /api/metrics/latencies, /calls, /errors and
 * /minstep, what the Jaeger UI's Monitor tab reads — answered from the aggregator's window records
 * in `<prefix>-metrics-*` instead of Prometheus. Parameters and answers follow Jaeger's
 * cmd/query/app (query_parser.go parseMetricsQueryParams) and its metrics proto (MetricFamily as
 * protobuf JSON).
 */

export type SpmMetric = 'latencies' | 'calls' | 'errors';

export interface SpmQuery {
  services: string[];
  spanKinds: string[];
  groupByOperation: boolean;
  endMs: number;
  lookbackMs: number;
  stepMs: number;
  ratePerMs: number;
  /** latencies only */
  quantile?: number;
}

/** The aggregator emits a window every 5 s: a finer step would only repeat points. */
export const SPM_MIN_STEP_MS = 5_000;
const SPAN_KINDS = ['UNSPECIFIED', 'INTERNAL', 'SERVER', 'CLIENT', 'PRODUCER', 'CONSUMER'];
const MAX_POINTS = 11_000; // Prometheus' own limit of points per series
const MAX_MS = 10 * 365 * 86400e3;
// Percentiles every window record holds, by quantile (q = 0 is the window's minimum).
const STORED: [number, string][] = [
  [0, 'min'],
  [0.5, 'p50'],
  [0.9, 'p90'],
  [0.95, 'p95'],
  [0.99, 'p99'],
  [0.999, 'p999'],
  [1, 'max'],
];

function millis(params: URLSearchParams, name: string, fallback: number, min: number): number {
  const raw = params.get(name);
  if (raw === null || raw === '') return fallback;
  const n = /^\d{1,15}$/.test(raw) ? Number(raw) : NaN;
  if (!(n >= min && n <= (name === 'endTs' ? Number.MAX_SAFE_INTEGER : MAX_MS))) {
    throw new BadRequest(
      `${name} must be an integer number of milliseconds${name === 'endTs' ? ' since the epoch' : ''} from ${min}, got "${raw.slice(0, 64)}"`,
    );
  }
  return n;
}

/** The query parameters of the SPM routes, checked: anything malformed is a 400 naming it. */
export function parseSpmParams(metric: SpmMetric, params: URLSearchParams, now = Date.now()): SpmQuery {
  const services = params.getAll('service');
  if (!services.length || services.some((s) => !s || s.length > 1024))
    throw new BadRequest('please provide at least one service name (parameter service, 1 to 1024 characters)');
  const group = params.get('groupByOperation') ?? '';
  if (!['', 'true', 'false', '1', '0'].includes(group))
    throw new BadRequest(`groupByOperation must be true or false, got "${group.slice(0, 64)}"`);
  // The Jaeger UI sends `server`, Jaeger's proto names are SPAN_KIND_SERVER: both are taken.
  const kinds = (params.has('spanKind') ? params.getAll('spanKind') : ['server']).map((k) => k.toUpperCase().replace(/^SPAN_KIND_/, ''));
  for (const k of kinds)
    if (!SPAN_KINDS.includes(k))
      throw new BadRequest(
        `unsupported span kind "${k.slice(0, 64)}" (spanKind is one of ${SPAN_KINDS.map((s) => s.toLowerCase()).join(', ')}, or SPAN_KIND_SERVER etc.)`,
      );
  const q: SpmQuery = {
    services,
    spanKinds: kinds,
    groupByOperation: group === 'true' || group === '1',
    endMs: millis(params, 'endTs', now, 0),
    lookbackMs: millis(params, 'lookback', 3_600_000, 1),
    stepMs: millis(params, 'step', SPM_MIN_STEP_MS, 1),
    ratePerMs: millis(params, 'ratePer', 600_000, 1),
  };
  q.stepMs = Math.max(q.stepMs, SPM_MIN_STEP_MS);
  if (q.lookbackMs / q.stepMs > MAX_POINTS) throw new BadRequest(`lookback / step gives more than ${MAX_POINTS} points; use a larger step`);
  if (metric === 'latencies') {
    const raw = params.get('quantile') ?? '';
    const quantile = /^(0(\.\d{1,9})?|1(\.0*)?|\.\d{1,9})$/.test(raw) ? Number(raw) : NaN;
    if (!(quantile >= 0 && quantile <= 1))
      throw new BadRequest(`quantile must be a number from 0 to 1, like 0.95, got "${raw.slice(0, 64)}"`);
    q.quantile = quantile;
  }
  return q;
}

/**
 * A quantile's latency from a window's stored percentiles: exact for 0.5, 0.9, 0.95, 0.99, 0.999
 * (and 0, 1: min, max); between them interpolated linearly (the Monitor tab asks for 0.75).
 */
export function quantileOf(latencyMs: Record<string, number | undefined>, q: number): number | undefined {
  for (let i = 1; i < STORED.length; i++) {
    const [q1, f1] = STORED[i];
    if (q > q1) continue;
    const [q0, f0] = STORED[i - 1];
    const hi = latencyMs[f1];
    const lo = latencyMs[f0];
    if (q === q1 || lo === undefined) return hi;
    if (hi === undefined) return lo;
    return lo + ((hi - lo) * (q - q0)) / (q1 - q0);
  }
  return latencyMs.max;
}

interface Label {
  name: string;
  value: string;
}
interface MetricPoint {
  gaugeValue: { doubleValue: number };
  timestamp: string;
}
export interface MetricFamily {
  name: string;
  type: 'GAUGE';
  help: string;
  metrics: { labels: Label[]; metricPoints: MetricPoint[] }[];
}

type Src = {
  service: string;
  operation: string;
  ratePerSecond?: number;
  count?: number;
  errorCount?: number;
  latencyMs?: Record<string, number>;
};
type StepBucket = { key: number; doc_count: number; s: { buckets: { key: string; w: { hits: { hits: { _source: Src }[] } } }[] } };
type Steps = { buckets: StepBucket[] };
type GroupBucket = { key: string; steps?: Steps; o?: { buckets: { key: string; steps: Steps }[] } };

/** The reads behind the SPM routes. */
export class ServiceMetrics {
  constructor(
    private readonly es: Client,
    private readonly prefix: string,
    private readonly maxSeries: number,
  ) {}

  /**
   * One point per step and group (service, or service and operation): from every series of the
   * group, the latest window record ending in the step; call rate is their sum, error rate
   * their errors over their calls, latency the highest of their quantiles (exact for one series).
   */
  async query(metric: SpmMetric, q: SpmQuery): Promise<MetricFamily> {
    const fields = ['service', 'operation', 'ratePerSecond', 'count', 'errorCount', 'latencyMs'];
    const steps = {
      steps: {
        // Step boundaries fall just after endTs, so the last step ends with the newest window.
        date_histogram: { field: 'windowEnd', fixed_interval: `${q.stepMs}ms`, offset: `${(q.endMs + 1) % q.stepMs}ms`, min_doc_count: 1 },
        aggs: {
          s: {
            terms: { field: 'seriesKey', size: this.maxSeries },
            aggs: { w: { top_hits: { size: 1, sort: [{ windowEnd: 'desc' }], _source: fields } } },
          },
        },
      },
    };
    let res;
    try {
      res = await this.es.search({
        index: `${this.prefix}-metrics-*`,
        ignore_unavailable: true,
        allow_no_indices: true,
        size: 0,
        query: {
          bool: {
            filter: [
              { terms: { service: q.services } },
              { terms: { kind: q.spanKinds } },
              { range: { windowEnd: { gt: q.endMs - q.lookbackMs, lte: q.endMs, format: 'epoch_millis' } } },
            ],
          },
        },
        aggs: {
          g: {
            terms: { field: 'service', size: this.maxSeries },
            aggs: q.groupByOperation ? { o: { terms: { field: 'operation', size: this.maxSeries }, aggs: steps } } : steps,
          },
        },
      } as never);
    } catch (err) {
      throw classifyElasticsearchError(err, 'service metrics');
    }
    const services = (res.aggregations as { g?: { buckets: GroupBucket[] } } | undefined)?.g?.buckets ?? [];
    const groups = services.flatMap((s) =>
      s.o ? s.o.buckets.map((o) => ({ labels: [s.key, o.key], steps: o.steps })) : [{ labels: [s.key], steps: s.steps! }],
    );
    return {
      ...familyName(metric, q),
      metrics: groups.map((g) => {
        const labels = [
          { name: 'service_name', value: g.labels[0] },
          ...(q.groupByOperation ? [{ name: 'operation', value: g.labels[1] }] : []),
        ];
        const metricPoints = g.steps.buckets.flatMap((b) => {
          const value = pointValue(
            metric,
            b.s.buckets.map((s) => s.w.hits.hits[0]._source),
            q.quantile ?? 0.95,
          );
          // Points stamped at their step's end, as Prometheus stamps a range query's points.
          return value === undefined
            ? []
            : [{ gaugeValue: { doubleValue: value }, timestamp: new Date(Math.min(b.key + q.stepMs - 1, q.endMs)).toISOString() }];
        });
        return { labels, metricPoints };
      }),
    };
  }
}

function pointValue(metric: SpmMetric, windows: Src[], quantile: number): number | undefined {
  if (!windows.length) return undefined;
  if (metric === 'calls') return windows.reduce((sum, w) => sum + (w.ratePerSecond ?? 0), 0);
  if (metric === 'errors') {
    const calls = windows.reduce((sum, w) => sum + (w.count ?? 0), 0);
    return calls ? windows.reduce((sum, w) => sum + (w.errorCount ?? 0), 0) / calls : 0;
  }
  const values = windows.map((w) => quantileOf(w.latencyMs ?? {}, quantile)).filter((v): v is number => v !== undefined);
  return values.length ? Math.max(...values) : undefined;
}

function familyName(metric: SpmMetric, q: SpmQuery): Pick<MetricFamily, 'name' | 'type' | 'help'> {
  const scope = q.groupByOperation ? 'service_operation' : 'service';
  const by = q.groupByOperation ? 'service & operation' : 'service';
  if (metric === 'latencies')
    return { name: `${scope}_latencies`, type: 'GAUGE', help: `${(q.quantile ?? 0.95).toFixed(2)}th quantile latency, grouped by ${by}` };
  if (metric === 'calls') return { name: `${scope}_call_rate`, type: 'GAUGE', help: `calls/sec, grouped by ${by}` };
  return {
    name: `${scope}_error_rate`,
    type: 'GAUGE',
    help: `error rate, computed as a fraction of errors/sec over calls/sec, grouped by ${by}`,
  };
}
