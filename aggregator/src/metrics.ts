import { Counter, Gauge, Histogram, Registry } from 'prom-client';

/** Prometheus metrics of the aggregator. */
export class AggregatorMetrics {
  readonly spans: Counter;
  readonly lateSpans: Counter;
  readonly badMessages: Counter;
  readonly partialsPublished: Counter;
  readonly windowsPublished: Counter;
  readonly alertsPublished: Counter;
  readonly alertStates: Gauge;
  readonly anomalyBaselines: Gauge;
  readonly overflowSpans: Counter;
  readonly globalOverflowSpans: Counter;
  readonly overflowSeries: Gauge;
  readonly liveSeries: Gauge;
  readonly watermarkLag: Gauge;
  readonly watermarkLead: Gauge;
  readonly closeToPublish: Histogram;
  readonly rulesReloads: Counter;

  constructor(registry: Registry) {
    const r = [registry];
    this.spans = new Counter({ name: 'mplp_aggregator_spans_total', help: 'spans recorded into panes', registers: r });
    this.lateSpans = new Counter({
      name: 'mplp_aggregator_late_spans_total',
      help: "spans later than the allowed lateness (counted in the next window's lateCount)",
      registers: r,
    });
    this.badMessages = new Counter({
      name: 'mplp_aggregator_bad_messages_total',
      help: 'validated-topic messages that could not be decoded',
      registers: r,
    });
    this.partialsPublished = new Counter({
      name: 'mplp_aggregator_partials_published_total',
      help: 'pane partials published to the internal topic',
      registers: r,
    });
    this.windowsPublished = new Counter({
      name: 'mplp_aggregator_windows_published_total',
      help: 'window records published to the metrics topic',
      registers: r,
    });
    this.alertsPublished = new Counter({
      name: 'mplp_aggregator_alert_changes_total',
      help: 'alert state changes published',
      labelNames: ['state'],
      registers: r,
    });
    this.alertStates = new Gauge({
      name: 'mplp_aggregator_alert_states',
      help: "firing or pending (rule, series) alert states held by this process's merge stage",
      registers: r,
    });
    this.anomalyBaselines = new Gauge({
      name: 'mplp_aggregator_anomaly_baselines',
      help: "learned (anomaly rule, series) baselines held by this process's merge stage",
      registers: r,
    });
    this.overflowSpans = new Counter({
      name: 'mplp_aggregator_overflow_spans_total',
      help: 'spans folded into an overflow series because the series cap was reached',
      registers: r,
    });
    this.globalOverflowSpans = new Counter({
      name: 'mplp_aggregator_global_overflow_spans_total',
      help: 'of the overflow spans, those folded into the global overflow series because the overflow-series cap was reached too',
      registers: r,
    });
    this.overflowSeries = new Gauge({
      name: 'mplp_aggregator_overflow_series',
      help: 'live per-service overflow series in this process',
      registers: r,
    });
    this.liveSeries = new Gauge({
      name: 'mplp_aggregator_live_series',
      help: 'series counted against the cap in this process',
      registers: r,
    });
    this.watermarkLag = new Gauge({
      name: 'mplp_aggregator_watermark_lag_seconds',
      help: 'wall clock minus the lowest merge watermark',
      registers: r,
    });
    this.watermarkLead = new Gauge({
      name: 'mplp_aggregator_watermark_lead_seconds',
      help: "newest watermark of this process's source partitions minus the wall clock (above MPLP_AGGREGATOR_MAX_CLOCK_SKEW means a clock problem)",
      registers: r,
    });
    this.closeToPublish = new Histogram({
      name: 'mplp_aggregator_window_close_to_publish_seconds',
      help: 'from a window becoming complete to its record acknowledged by Kafka',
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2, 5],
      registers: r,
    });
    this.rulesReloads = new Counter({
      name: 'mplp_aggregator_rules_reloads_total',
      help: 'alert rules file loads',
      labelNames: ['result'],
      registers: r,
    });
  }
}
