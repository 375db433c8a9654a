import type { Registry } from 'prom-client';
import { DURATION_BUCKETS_MS, SeriesId, Stats } from './partial';

/** Names of the OpenTelemetry Collector's spanmetrics connector (Prometheus exporter, histogram unit s). */
export const CALLS_METRIC = 'traces_span_metrics_calls_total';
export const DURATION_METRIC = 'traces_span_metrics_duration_seconds';

const LE = [...DURATION_BUCKETS_MS.map((ms) => String(ms / 1000)), '+Inf'];

interface SeriesCounters {
  labels: Record<string, string>;
  error: number;
  ok: number;
  unset: number;
  /** Non-cumulative counts per bucket (the last one: above the highest bound). */
  buckets: number[];
  count: number;
  sumSeconds: number;
}

interface MetricValue {
  metricName?: string;
  labels: Record<string, string>;
  value: number;
}

/** A dimension key as a Prometheus label name (as the connector's Prometheus exporter does). */
function labelName(key: string): string {
  const n = key.replace(/[^a-zA-Z0-9_]/g, '_');
  return /^[0-9]/.test(n) ? `key_${n}` : n;
}

/**
 * The window measures as Prometheus counters with the spanmetrics connector's names and labels,
 * so dashboards and PromQL written for the connector work on the aggregator's /metrics.
 *
 * Counted by the merge stage that owns a series' partials partition (one process per series), one
 * pane at a time: a window's newest pane, when the window is emitted, is the moment that pane
 * first becomes part of an emitted window, so each span is counted once although 12 windows hold
 * it, and the counters only grow. A lost partition's series and a series the merge stage drops
 * (no spans for a window) leave /metrics (the next owner, or the series' return, starts at 0:
 * a counter reset, which rate() handles), so the exposed series are the owned live ones, within
 * the series caps.
 */
export class SpanMetrics {
  private readonly byPartition = new Map<number, Map<string, SeriesCounters>>();

  constructor(registry: Registry) {
    registry.registerMetric({
      name: CALLS_METRIC,
      help: 'spans counted per series and status (spanmetrics connector naming)',
      type: 'counter',
      get: async () => ({ name: CALLS_METRIC, help: 'spans', type: 'counter', values: this.calls(), aggregator: 'sum' }),
    } as never);
    registry.registerMetric({
      name: DURATION_METRIC,
      help: 'span durations per series (spanmetrics connector naming and default buckets)',
      type: 'histogram',
      get: async () => ({ name: DURATION_METRIC, help: 'durations', type: 'histogram', values: this.durations(), aggregator: 'sum' }),
    } as never);
  }

  /** Adds one pane of a series (its stats merged over source partitions). */
  addPane(partition: number, key: string, series: SeriesId, pane: Stats): void {
    if (pane.count === 0) return;
    let part = this.byPartition.get(partition);
    if (!part) {
      part = new Map();
      this.byPartition.set(partition, part);
    }
    let c = part.get(key);
    if (!c) {
      const labels: Record<string, string> = {
        service_name: series.service,
        span_name: series.operation,
        span_kind: `SPAN_KIND_${series.kind}`,
      };
      for (const [k, v] of Object.entries(series.dims ?? {})) labels[labelName(k)] = v;
      c = { labels, error: 0, ok: 0, unset: 0, buckets: new Array<number>(LE.length).fill(0), count: 0, sumSeconds: 0 };
      part.set(key, c);
    }
    const ok = pane.okCount ?? 0;
    c.error += pane.errorCount;
    c.ok += ok;
    c.unset += pane.count - pane.errorCount - ok;
    // A partial of an older version has no buckets: its spans count in +Inf only.
    const b = pane.buckets;
    let bucketed = 0;
    if (b)
      for (let i = 0; i < c.buckets.length && i < b.length; i++) {
        c.buckets[i] += b[i];
        bucketed += b[i];
      }
    c.buckets[c.buckets.length - 1] += pane.count - bucketed;
    c.count += pane.count;
    c.sumSeconds += pane.sumMs / 1000;
  }

  dropSeries(partition: number, key: string): void {
    this.byPartition.get(partition)?.delete(key);
  }

  dropPartition(partition: number): void {
    this.byPartition.delete(partition);
  }

  /** Series exposed (for the summary and tests). */
  get size(): number {
    let n = 0;
    for (const p of this.byPartition.values()) n += p.size;
    return n;
  }

  private calls(): MetricValue[] {
    const out: MetricValue[] = [];
    for (const part of this.byPartition.values()) {
      for (const c of part.values()) {
        if (c.unset) out.push({ labels: { ...c.labels, status_code: 'STATUS_CODE_UNSET' }, value: c.unset });
        if (c.ok) out.push({ labels: { ...c.labels, status_code: 'STATUS_CODE_OK' }, value: c.ok });
        if (c.error) out.push({ labels: { ...c.labels, status_code: 'STATUS_CODE_ERROR' }, value: c.error });
      }
    }
    return out;
  }

  private durations(): MetricValue[] {
    const out: MetricValue[] = [];
    for (const part of this.byPartition.values()) {
      for (const c of part.values()) {
        let cum = 0;
        for (let i = 0; i < LE.length; i++) {
          cum += c.buckets[i];
          out.push({ metricName: `${DURATION_METRIC}_bucket`, labels: { ...c.labels, le: LE[i] }, value: cum });
        }
        out.push({ metricName: `${DURATION_METRIC}_sum`, labels: c.labels, value: Math.round(c.sumSeconds * 1e9) / 1e9 });
        out.push({ metricName: `${DURATION_METRIC}_count`, labels: c.labels, value: c.count });
      }
    }
    return out;
  }
}
