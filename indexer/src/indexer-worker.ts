import { Partitioners } from 'kafkajs';
import type { Kafka, Producer } from 'kafkajs';
import type { Registry } from 'prom-client';
import {
  BatchContext,
  CancelledError,
  CommitSlot,
  DeadLetter,
  groupTimeouts,
  HEADER_KAFKA_BATCH_ERROR,
  InvalidInputError,
  kafkaBatchError,
  Logger,
  PartitionConsumer,
  Service,
  SharedConfig,
  standInDeadLetterHeaders,
} from '../../shared/src';
import type { BulkIndexer, PoisonDoc } from './bulk-indexer';
import { BulkPipeline } from './bulk-pipeline';
import { DeadLetterSender } from './dead-letters';
import type { IndexerSettings } from './config';
import { documentsOf, IndexDoc, RecordKind } from './documents';
import type { IndexerMetrics } from './metrics';

export interface IndexerWorkerDeps {
  kafka: Kafka;
  shared: SharedConfig;
  settings: IndexerSettings;
  logger: Logger;
  metrics: IndexerMetrics;
  bulk: BulkIndexer;
  /** Where the consumer's per-partition gauges go (/metrics). */
  registry?: Registry;
}

/**
 * Consumes the validated spans, metrics and alerts topics and writes them into the daily
 * indices. The Kafka handler only decodes: it hands each batch's documents to one BulkPipeline
 * shared by all partitions and returns, so kafkajs fetches the next batches while bulks are in
 * flight; it waits first while the pipeline holds more than MPLP_INDEXER_MAX_PENDING_BYTES, which
 * pauses fetching and bounds memory while Elasticsearch is slow or down. Offsets are committed
 * per partition as bulks settle, only past the prefix of records whose documents are all durable
 * or dead-lettered (CommitTracker), so a commit never passes an unwritten record. Consumption,
 * commits, revocation and readiness are the shared PartitionConsumer's.
 */
export class IndexerWorker implements Service {
  private readonly consumer: PartitionConsumer;
  private producer?: Producer;
  private readonly abort = new AbortController();
  private readonly kindOf = new Map<string, RecordKind>();
  private readonly pipeline: BulkPipeline;
  private readonly dlq: DeadLetterSender;
  private totals = { records: 0, documents: 0, dlq: 0 };
  private timer?: NodeJS.Timeout;

  constructor(private readonly deps: IndexerWorkerDeps) {
    const { shared, settings, metrics, logger } = deps;
    const all: Record<RecordKind, string> = { spans: shared.topicValidated, metrics: shared.topicMetrics, alerts: shared.topicAlerts };
    for (const k of settings.topics) {
      if (!(k in all)) throw new InvalidInputError('config', `MPLP_INDEXER_TOPICS: unknown kind ${k}`);
      this.kindOf.set(all[k as RecordKind], k as RecordKind);
    }
    this.pipeline = new BulkPipeline(
      deps.bulk,
      settings,
      (durable, poison) => this.settled(durable, poison),
      this.abort.signal,
      logger.child({ component: 'bulk' }),
      { inFlight: metrics.bulksInFlight, pendingBytes: metrics.pendingBytes },
    );
    this.consumer = new PartitionConsumer({
      kafka: deps.kafka,
      groupId: settings.groupId,
      topics: [...this.kindOf.keys()],
      logger,
      registry: deps.registry,
      maxUnsettledAgeMs: shared.kafkaMaxUnsettledAgeMs,
      partitionsConsumedConcurrently: settings.partitionsConcurrently,
      consumerConfig: {
        maxBytesPerPartition: settings.fetchMaxBytesPerPartition,
        maxBytes: settings.fetchMaxBytesPerPartition * 4,
        maxWaitTimeInMs: settings.fetchMaxWaitMs,
        ...groupTimeouts(settings.sessionTimeoutMs),
      },
      handleBatch: (batch) => this.handleBatch(batch),
      onCommitted: (p, offset) =>
        metrics.lag.set({ topic: p.topic, partition: String(p.partition) }, Math.max(0, Number(p.highWatermark - BigInt(offset)))),
    });
    this.dlq = new DeadLetterSender(
      () => this.producer!,
      shared.topicDlq,
      settings,
      { lost: metrics.dlqLost },
      logger.child({ component: 'dlq' }),
      this.abort.signal,
    );
  }

  get ready(): boolean {
    return this.consumer.ready;
  }

  /** Settles with the error of a non-retriable consumer crash (the harness exits non-zero). */
  get failure(): Promise<Error> {
    return this.consumer.failure;
  }

  async start(): Promise<void> {
    const { kafka, settings, logger } = this.deps;
    this.producer = kafka.producer({ allowAutoTopicCreation: false, createPartitioner: Partitioners.DefaultPartitioner });
    await this.producer.connect();
    await this.consumer.start();
    this.timer = setInterval(() => {
      logger.info({ ...this.totals }, 'indexer summary');
      this.totals = { records: 0, documents: 0, dlq: 0 };
    }, settings.summaryIntervalMs);
    this.timer.unref();
    logger.info({ topics: [...this.kindOf.keys()], groupId: settings.groupId }, 'indexer started');
  }

  private async handleBatch(batch: BatchContext<undefined>): Promise<void> {
    const { shared, settings, metrics } = this.deps;
    const { topic, partition } = batch.partition;
    const kind = this.kindOf.get(topic)!;
    const key = `${topic}/${partition}`;
    const docs: IndexDoc[] = [];
    let undecodable: Array<{ letter: DeadLetter; slot: CommitSlot }> | undefined;
    for (const m of batch.messages) {
      const origin = `${key}/${m.offset}`;
      try {
        const batchError = m.headers?.[HEADER_KAFKA_BATCH_ERROR];
        // A stand-in for a record of a Kafka batch that could not be decompressed (shared/kafka-codecs).
        if (batchError !== undefined) throw kafkaBatchError(batchError.toString());
        const own = documentsOf(kind, m, shared.indexPrefix, origin, settings.maxDecompressedBytes);
        const slot = batch.partition.register(m.offset, own.length);
        for (const d of own) {
          d.record = slot;
          docs.push(d);
        }
      } catch (err) {
        const code = err instanceof InvalidInputError ? err.code : 'decode';
        metrics.dlq.inc({ code });
        const headers = standInDeadLetterHeaders(m.headers);
        (undecodable ??= []).push({
          slot: batch.partition.register(m.offset, 1),
          letter: { value: m.value, code, reason: (err as Error).message, source: origin, ...(headers ? { headers } : {}) },
        });
      }
    }
    if (undecodable) void this.deadLetter(undecodable);
    this.pipeline.add(docs);
    // Records without documents are settled already: commit them.
    void batch.partition.requestCommit();
    // The records are handed to the pipeline: kafkajs may fetch past them. Committing is separate.
    batch.handedOut(batch.messages[batch.messages.length - 1].offset);
    metrics.records.inc({ kind }, batch.messages.length);
    this.totals.records += batch.messages.length;
    this.totals.documents += docs.length;
    // Full: hold this handler, and with it the fetch loop, until bulks drain below the bound —
    // but let a rebalance through (kafkajs rejoins only once the handler returns), heartbeating.
    if (await batch.waitForRoom(this.pipeline.budget)) await batch.heartbeat();
  }

  /** A bulk settled: dead-letter its poison, then settle every document's record and commit what is complete. */
  private async settled(durable: IndexDoc[], poison: PoisonDoc[]): Promise<void> {
    if (poison.length) {
      await this.dlq.send(
        poison.map((p) => {
          const code = `index_${p.type}`.slice(0, 64);
          this.deps.metrics.dlq.inc({ code });
          const span = SPAN_DOC_ID.test(p.doc.id) ? { traceId: p.doc.id.slice(0, 32), spanId: p.doc.id.slice(32) } : {};
          return {
            key: p.doc.id,
            value: p.doc.source,
            code,
            reason: `Elasticsearch refused document ${p.doc.id} for ${p.doc.index}: ${p.reason}`,
            source: p.doc.origin,
            ...span,
          };
        }),
      );
      this.totals.dlq += poison.length;
    }
    for (const d of durable) this.consumer.settle(d.record!);
    for (const p of poison) this.consumer.settle(p.doc.record!);
  }

  /** Undecodable records go to the DLQ (cut to MPLP_INDEXER_MAX_DLQ_VALUE_BYTES); once acknowledged they count as complete. */
  private async deadLetter(records: Array<{ letter: DeadLetter; slot: CommitSlot }>): Promise<void> {
    try {
      await this.dlq.send(records.map((r) => r.letter));
    } catch (err) {
      if (!(err instanceof CancelledError)) this.deps.logger.error({ err }, 'DLQ send failed; the records stay uncommitted');
      return;
    }
    this.totals.dlq += records.length;
    for (const r of records) this.consumer.settle(r.slot);
  }

  /**
   * Clean shutdown: stop fetching, write and commit what was handed out (until the deadline;
   * then abort the retries, and what is unwritten stays uncommitted and is read again), then
   * leave the group.
   */
  async stop(signal?: AbortSignal): Promise<void> {
    clearInterval(this.timer);
    signal?.addEventListener('abort', () => this.abort.abort(), { once: true });
    const stopRetriesSoon = setTimeout(() => this.abort.abort(), Math.max(1000, this.deps.settings.shutdownTimeoutMs - 5000));
    try {
      await this.consumer.stop(() => this.pipeline.drain());
    } finally {
      clearTimeout(stopRetriesSoon);
    }
    this.abort.abort();
    this.pipeline.close();
    try {
      await this.producer?.disconnect();
    } catch (err) {
      this.deps.logger.warn({ err }, 'producer disconnect failed');
    }
  }
}

/** A span document's _id: traceId (32 hex) + spanId (16 hex). */
const SPAN_DOC_ID = /^[0-9a-f]{48}$/;
