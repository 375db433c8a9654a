import { Counter, Gauge, Histogram, Registry } from 'prom-client';

export class IndexerMetrics {
  readonly indexed: Counter;
  readonly records: Counter<'kind'>;
  readonly dlq: Counter<'code'>;
  readonly dlqLost: Counter<'code'>;
  readonly retries: Counter<'cause'>;
  readonly bulkSeconds: Histogram;
  readonly bulkDocs: Histogram;
  readonly bulkBytes: Histogram;
  readonly lag: Gauge<'topic' | 'partition'>;
  readonly bulksInFlight: Gauge;
  readonly pendingBytes: Gauge;

  constructor(registry: Registry) {
    const r = [registry];
    this.indexed = new Counter({
      name: 'mplp_indexer_documents_indexed_total',
      help: 'documents acknowledged by Elasticsearch (including 409 already-written)',
      registers: r,
    });
    this.records = new Counter({
      name: 'mplp_indexer_records_total',
      help: 'Kafka records read and handed to the bulk pipeline, by kind (committed once written; see mplp_indexer_consumer_lag)',
      labelNames: ['kind'],
      registers: r,
    });
    this.dlq = new Counter({
      name: 'mplp_indexer_dlq_total',
      help: 'documents or records sent to the DLQ, by code',
      labelNames: ['code'],
      registers: r,
    });
    this.dlqLost = new Counter({
      name: 'mplp_indexer_dlq_lost_total',
      help: 'dead letters the DLQ topic refused even as a reference without value (logged with their source offset), by code',
      labelNames: ['code'],
      registers: r,
    });
    this.retries = new Counter({
      name: 'mplp_indexer_retries_total',
      help: 'bulk requests or items retried, by cause',
      labelNames: ['cause'],
      registers: r,
    });
    this.bulkSeconds = new Histogram({
      name: 'mplp_indexer_bulk_seconds',
      help: 'bulk request latency',
      buckets: [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers: r,
    });
    this.bulkDocs = new Histogram({
      name: 'mplp_indexer_bulk_documents',
      help: 'documents per bulk request',
      buckets: [1, 10, 100, 500, 1000, 2500, 5000, 10000],
      registers: r,
    });
    this.bulkBytes = new Histogram({
      name: 'mplp_indexer_bulk_bytes',
      help: 'bytes per bulk request',
      buckets: [1e3, 1e4, 1e5, 5e5, 1e6, 2.5e6, 5e6, 1e7],
      registers: r,
    });
    this.bulksInFlight = new Gauge({ name: 'mplp_indexer_bulks_in_flight', help: 'bulk requests in flight now', registers: r });
    this.pendingBytes = new Gauge({
      name: 'mplp_indexer_pending_bytes',
      help: 'bulk bytes of documents handed to the bulk pipeline and not yet settled (fetching pauses at MPLP_INDEXER_MAX_PENDING_BYTES)',
      registers: r,
    });
    this.lag = new Gauge({
      name: 'mplp_indexer_consumer_lag',
      help: 'records behind the end of each input partition, as of the last commit',
      labelNames: ['topic', 'partition'],
      registers: r,
    });
  }
}
