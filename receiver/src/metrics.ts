import { Counter, Gauge, Histogram, Registry } from 'prom-client';

/** The receiver's Prometheus counters (counters go to /metrics, never a log line per export). */
export class ReceiverMetrics {
  readonly exports: Counter<'transport' | 'outcome'>;
  readonly spansAccepted: Counter;
  readonly spansRejected: Counter;
  readonly records: Counter;
  readonly bytesIn: Counter;
  readonly inFlightBytes: Gauge;
  readonly exportSeconds: Histogram<'transport'>;

  constructor(registry: Registry) {
    const r = [registry];
    this.exports = new Counter({
      name: 'mplp_receiver_exports_total',
      help: 'export requests answered, by transport (http, grpc) and outcome (ok, partial, invalid, too_large, unsupported, unauthenticated, throttled, unavailable)',
      labelNames: ['transport', 'outcome'],
      registers: r,
    });
    this.spansAccepted = new Counter({
      name: 'mplp_receiver_spans_accepted_total',
      help: 'spans acknowledged by Kafka and answered OK',
      registers: r,
    });
    this.spansRejected = new Counter({
      name: 'mplp_receiver_spans_rejected_total',
      help: 'spans dropped at the door (no valid trace id), reported as partial success',
      registers: r,
    });
    this.records = new Counter({
      name: 'mplp_receiver_records_total',
      help: 'Kafka records produced (per export: one per destination partition, or per trace id with MPLP_RECEIVER_RECORDS=trace)',
      registers: r,
    });
    this.bytesIn = new Counter({ name: 'mplp_receiver_bytes_in_total', help: 'request bytes received, after decompression', registers: r });
    this.inFlightBytes = new Gauge({
      name: 'mplp_receiver_in_flight_bytes',
      help: 'request bytes held (received, inflated, being produced); bounded by MPLP_RECEIVER_MAX_IN_FLIGHT_BYTES',
      registers: r,
    });
    this.exportSeconds = new Histogram({
      name: 'mplp_receiver_export_seconds',
      help: 'time from the whole request received to the answer',
      labelNames: ['transport'],
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers: r,
    });
  }
}
