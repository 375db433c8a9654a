import { Partitioners } from 'kafkajs';
import type { Consumer, EachBatchPayload, Kafka, Message, Producer } from 'kafkajs';
import { classifyKafkaError, InvalidInputError, Logger, retry, Service, SharedConfig } from '../../shared/src';
import { BulkIndexer } from './bulk-indexer';
import type { IndexerSettings } from './config';
import { documentsOf, IndexDoc, RecordKind } from './documents';
import type { IndexerMetrics } from './metrics';

export interface IndexerWorkerDeps {
  kafka: Kafka; shared: SharedConfig; settings: IndexerSettings; logger: Logger; metrics: IndexerMetrics; bulk: BulkIndexer;
}

/**
 * Consumes the validated spans, metrics and alerts topics and writes them into the daily
 * indices. A fetched batch of one partition is written whole (all documents durable or
 * dead-lettered) before its offset is committed; kafkajs does not fetch that partition again
 * until then, so at most MPLP_INDEXER_PARTITIONS_CONCURRENTLY bulks run at once and memory stays
 * bounded while Elasticsearch is slow or down.
 */
export class IndexerWorker implements Service {
  private consumer?: Consumer;
  private producer?: Producer;
  private readonly abort = new AbortController();
  private joined = false;
  private readonly kindOf = new Map<string, RecordKind>();
  private totals = { records: 0, documents: 0, dlq: 0 };
  private timer?: NodeJS.Timeout;

  constructor(private readonly deps: IndexerWorkerDeps) {
    const { shared, settings } = deps;
    const all: Record<RecordKind, string> = { spans: shared.topicValidated, metrics: shared.topicMetrics, alerts: shared.topicAlerts };
    for (const k of settings.topics) {
      if (!(k in all)) throw new InvalidInputError('config', `MPLP_INDEXER_TOPICS: unknown kind ${k}`);
      this.kindOf.set(all[k as RecordKind], k as RecordKind);
    }
  }

  get ready(): boolean { return this.joined; }

  async start(): Promise<void> {
    const { kafka, settings, logger } = this.deps;
    this.producer = kafka.producer({ allowAutoTopicCreation: false, createPartitioner: Partitioners.DefaultPartitioner });
    this.consumer = kafka.consumer({
      groupId: settings.groupId, maxBytesPerPartition: settings.fetchMaxBytesPerPartition, maxBytes: settings.fetchMaxBytesPerPartition * 4,
      maxWaitTimeInMs: settings.fetchMaxWaitMs, sessionTimeout: 60_000, heartbeatInterval: 3_000,
    });
    this.consumer.on(this.consumer.events.GROUP_JOIN, () => { this.joined = true; });
    await this.producer.connect();
    await this.consumer.connect();
    await this.consumer.subscribe({ topics: [...this.kindOf.keys()], fromBeginning: true });
    await this.consumer.run({
      autoCommit: false, eachBatchAutoResolve: false, partitionsConsumedConcurrently: settings.partitionsConcurrently,
      eachBatch: (p) => this.handleBatch(p),
    });
    this.timer = setInterval(() => { logger.info({ ...this.totals }, 'indexer summary'); this.totals = { records: 0, documents: 0, dlq: 0 }; }, settings.summaryIntervalMs);
    this.timer.unref();
    logger.info({ topics: [...this.kindOf.keys()], groupId: settings.groupId }, 'indexer started');
  }

  private async handleBatch({ batch, resolveOffset, heartbeat, isRunning, isStale }: EachBatchPayload): Promise<void> {
    if (batch.messages.length === 0 || !isRunning() || isStale()) return;
    const { shared, settings, metrics } = this.deps;
    const kind = this.kindOf.get(batch.topic)!;
    const docs: IndexDoc[] = [];
    const dead: Message[] = [];
    for (const m of batch.messages) {
      const origin = `${batch.topic}/${batch.partition}/${m.offset}`;
      try {
        docs.push(...documentsOf(kind, m, shared.indexPrefix, origin, settings.maxDecompressedBytes));
      } catch (err) {
        const code = err instanceof InvalidInputError ? err.code : 'decode';
        metrics.dlq.inc({ code });
        dead.push({ value: m.value, headers: { 'mplp-error': (err as Error).message, 'mplp-error-code': code, 'mplp-source': origin } });
      }
    }
    const hb = setInterval(() => { void heartbeat().catch(() => undefined); }, 3000);
    try {
      const poison = await this.deps.bulk.write(docs, this.abort.signal);
      for (const p of poison) {
        const code = `index_${p.type}`.slice(0, 64);
        metrics.dlq.inc({ code });
        dead.push({ key: p.doc.id, value: p.doc.source, headers: { 'mplp-error': `Elasticsearch refused document ${p.doc.id} for ${p.doc.index}: ${p.reason}`.slice(0, 4000), 'mplp-error-code': code, 'mplp-source': p.doc.origin } });
      }
      if (dead.length) {
        await retry(() => this.producer!.send({ topic: shared.topicDlq, acks: -1, messages: dead }), {
          attempts: Infinity, baseDelayMs: settings.retryBaseMs, maxDelayMs: settings.retryMaxMs, signal: this.abort.signal,
          classify: (e) => classifyKafkaError(e, 'produce to DLQ'),
        });
      }
    } finally {
      clearInterval(hb);
    }
    const last = batch.messages[batch.messages.length - 1].offset;
    resolveOffset(last);
    await this.consumer!.commitOffsets([{ topic: batch.topic, partition: batch.partition, offset: (BigInt(last) + 1n).toString() }]);
    metrics.records.inc({ kind }, batch.messages.length);
    metrics.lag.set({ topic: batch.topic, partition: String(batch.partition) }, Number(BigInt(batch.highWatermark) - BigInt(last) - 1n));
    this.totals.records += batch.messages.length; this.totals.documents += docs.length; this.totals.dlq += dead.length;
    await heartbeat();
  }

  async stop(signal?: AbortSignal): Promise<void> {
    clearInterval(this.timer);
    // Give the in-flight batch until the deadline to finish; then abort its retries (it will not commit).
    signal?.addEventListener('abort', () => this.abort.abort(), { once: true });
    const disconnect = this.consumer?.disconnect();
    const stopRetriesSoon = setTimeout(() => this.abort.abort(), Math.max(1000, this.deps.settings.shutdownTimeoutMs - 5000));
    try { await disconnect; } catch (err) { this.deps.logger.warn({ err }, 'consumer disconnect failed'); }
    clearTimeout(stopRetriesSoon);
    this.abort.abort();
    try { await this.producer?.disconnect(); } catch (err) { this.deps.logger.warn({ err }, 'producer disconnect failed'); }
  }
}
