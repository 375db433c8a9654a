import { Counter, Gauge, Histogram, Registry } from 'prom-client';

/** The notifier's counters on /metrics (`mplp_notifier_*`). */
export class NotifierMetrics {
  readonly records: Counter;
  readonly delivered: Counter;
  readonly retries: Counter;
  readonly deadLettered: Counter;
  readonly duplicates: Counter;
  readonly resends: Counter;
  readonly firing: Gauge;
  readonly recordToDelivery: Histogram;

  constructor(r: Registry) {
    const registers = [r];
    this.records = new Counter({ name: 'mplp_notifier_records_total', help: 'alert records read from the alerts topic', registers });
    this.delivered = new Counter({
      name: 'mplp_notifier_delivered_total',
      help: 'changes delivered, by receiver kind',
      labelNames: ['receiver'],
      registers,
    });
    this.retries = new Counter({
      name: 'mplp_notifier_retries_total',
      help: 'delivery attempts that failed and were retried, by receiver kind and error code',
      labelNames: ['receiver', 'code'],
      registers,
    });
    this.deadLettered = new Counter({
      name: 'mplp_notifier_dead_lettered_total',
      help: 'records sent to the DLQ: malformed (receiver "none") or refused for good by a receiver',
      labelNames: ['receiver', 'code'],
      registers,
    });
    this.duplicates = new Counter({
      name: 'mplp_notifier_duplicates_total',
      help: 'changes not delivered because the same change (alert id and state) or a newer one was delivered already',
      registers,
    });
    this.resends = new Counter({
      name: 'mplp_notifier_resends_total',
      help: 'firing alerts sent to Alertmanager again (every resend interval)',
      labelNames: ['result'],
      registers,
    });
    this.firing = new Gauge({ name: 'mplp_notifier_firing_alerts', help: 'firing alerts in the partitions this process owns', registers });
    this.recordToDelivery = new Histogram({
      name: 'mplp_notifier_record_to_delivery_seconds',
      help: "from an alert record's Kafka timestamp to its delivery to every receiver",
      buckets: [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60],
      registers,
    });
  }
}
