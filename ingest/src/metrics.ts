import { Counter, Gauge, Histogram, Registry } from 'prom-client';

/** The ingest worker's Prometheus counters (DESIGN: counters go to /metrics, not logs). */
export class IngestMetrics {
  readonly messagesIn: Counter<'encoding'>;
  readonly spansIn: Counter;
  readonly spansValid: Counter;
  readonly rejected: Counter<'code'>;
  readonly bytesIn: Counter;
  readonly bytesOut: Counter;
  readonly uncompressedOut: Counter;
  readonly droppedAttributes: Counter;
  readonly truncatedValues: Counter;
  readonly batchSeconds: Histogram;
  readonly lag: Gauge<'partition'>;

  constructor(registry: Registry) {
    const r = [registry];
    this.messagesIn = new Counter({
      name: 'mplp_ingest_messages_total',
      help: 'input messages consumed',
      labelNames: ['encoding'],
      registers: r,
    });
    this.spansIn = new Counter({ name: 'mplp_ingest_spans_in_total', help: 'spans decoded from input', registers: r });
    this.spansValid = new Counter({
      name: 'mplp_ingest_spans_valid_total',
      help: 'spans normalized and produced to the validated topic',
      registers: r,
    });
    this.rejected = new Counter({
      name: 'mplp_ingest_rejected_total',
      help: 'messages or spans sent to the DLQ, by error code',
      labelNames: ['code'],
      registers: r,
    });
    this.bytesIn = new Counter({ name: 'mplp_ingest_bytes_in_total', help: 'input message bytes', registers: r });
    this.bytesOut = new Counter({
      name: 'mplp_ingest_bytes_out_total',
      help: 'lz4-compressed bytes produced to the validated topic',
      registers: r,
    });
    this.uncompressedOut = new Counter({
      name: 'mplp_ingest_ndjson_bytes_out_total',
      help: 'NDJSON bytes before lz4 (compression ratio = this / bytes_out)',
      registers: r,
    });
    this.droppedAttributes = new Counter({
      name: 'mplp_ingest_dropped_attributes_total',
      help: 'attributes dropped (over the cap or empty key)',
      registers: r,
    });
    this.truncatedValues = new Counter({
      name: 'mplp_ingest_truncated_values_total',
      help: 'attribute values truncated to the length cap',
      registers: r,
    });
    this.batchSeconds = new Histogram({
      name: 'mplp_ingest_batch_seconds',
      help: 'time from fetch to committed, per input batch',
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
      registers: r,
    });
    this.lag = new Gauge({
      name: 'mplp_ingest_consumer_lag',
      help: 'messages behind the end of each input partition',
      labelNames: ['partition'],
      registers: r,
    });
  }
}
