import { Partitioners } from 'kafkajs';
import type Piscina from 'piscina';
import type { Consumer, EachBatchPayload, Kafka, Message, Producer } from 'kafkajs';
import {
  FORMAT_NDJSON_V1, HEADER_FORMAT, HEADER_SPANS, Logger, Service, SharedConfig, classifyKafkaError, retry,
} from '../../shared/src';
import type { IngestSettings } from './config';
import { DLQ_HEADER_CODE, DLQ_HEADER_ERROR, DLQ_HEADER_SOURCE, MessageProcessor } from './message-processor';
import { IngestMetrics } from './metrics';
import { BatchStats, EncodedBatch, encodeBatch, InputMessage } from './batch-encoder';
import { DecodeResult, DecodeTask, packBuffers } from './decode-worker';

export interface IngestWorkerDeps {
  kafka: Kafka; shared: SharedConfig; settings: IngestSettings; logger: Logger; metrics: IngestMetrics;
  /** Threads running decode + normalize + lz4; absent: done in the consumer's thread. */
  pool?: Piscina;
  /** Called after each input batch is committed (benchmarks). */
  onBatchCommitted?: (info: { seconds: number; spans: number; messages: number }) => void;
}

/**
 * Consumes raw OTLP, produces lz4 batches keyed by trace id and dead letters, and commits an
 * input offset only after everything derived from it is acknowledged by Kafka (acks=all).
 * kafkajs does not fetch a partition again until eachBatch returns, so in-flight data is
 * bounded by MPLP_INGEST_FETCH_MAX_BYTES_PER_PARTITION × MPLP_INGEST_PARTITIONS_CONCURRENTLY.
 */
export class IngestWorker implements Service {
  private consumer?: Consumer;
  private producer?: Producer;
  private readonly processor: MessageProcessor;
  private summaryTimer?: NodeJS.Timeout;
  private readonly abort = new AbortController();
  private joined = false;
  private totals = { messages: 0, spans: 0, valid: 0, rejected: 0, bytesIn: 0, bytesOut: 0 };

  constructor(private readonly deps: IngestWorkerDeps) {
    this.processor = new MessageProcessor(deps.settings);
  }

  get ready(): boolean { return this.joined; }

  async start(): Promise<void> {
    const { kafka, shared, settings, logger } = this.deps;
    // The default (Java-compatible murmur2) partitioner: the same trace id lands in the same partition whoever produces it.
    this.producer = kafka.producer({ allowAutoTopicCreation: false, maxInFlightRequests: 5, createPartitioner: Partitioners.DefaultPartitioner });
    this.consumer = kafka.consumer({
      groupId: settings.groupId,
      maxBytesPerPartition: settings.fetchMaxBytesPerPartition,
      maxBytes: settings.fetchMaxBytesPerPartition * 4,
      sessionTimeout: 30_000,
      heartbeatInterval: 3_000,
    });
    this.consumer.on(this.consumer.events.GROUP_JOIN, (e) => {
      this.joined = true;
      logger.info({ memberAssignment: e.payload.memberAssignment }, 'joined consumer group');
    });
    await this.producer.connect();
    await this.consumer.connect();
    await this.consumer.subscribe({ topic: shared.topicRaw, fromBeginning: true });
    await this.consumer.run({
      autoCommit: false,
      eachBatchAutoResolve: false,
      partitionsConsumedConcurrently: settings.partitionsConcurrently,
      eachBatch: (payload) => this.handleBatch(payload),
    });
    this.summaryTimer = setInterval(() => this.logSummary(), settings.summaryIntervalMs);
    this.summaryTimer.unref();
    logger.info({ input: shared.topicRaw, output: shared.topicValidated, dlq: shared.topicDlq, groupId: settings.groupId }, 'ingest started');
  }

  private async handleBatch({ batch, resolveOffset, heartbeat, isRunning, isStale }: EachBatchPayload): Promise<void> {
    if (batch.messages.length === 0 || !isRunning() || isStale()) return;
    const started = process.hrtime.bigint();
    const { shared } = this.deps;
    // Chunks of about taskBytes, so one partition's fetch spreads over every pool thread.
    const chunks: InputMessage[][] = [];
    let cur: InputMessage[] = [];
    let curBytes = 0;
    for (const m of batch.messages) {
      cur.push({ value: m.value, contentType: m.headers?.['content-type']?.toString(), source: `${batch.topic}/${batch.partition}/${m.offset}` });
      curBytes += m.value?.length ?? 0;
      if (curBytes >= this.deps.settings.taskBytes) { chunks.push(cur); cur = []; curBytes = 0; }
    }
    if (cur.length) chunks.push(cur);
    // Each chunk is produced as soon as it is encoded, so the pool encodes the next chunks while
    // Kafka acknowledges the earlier ones; the offset is committed once every chunk is acknowledged.
    const encodings = this.deps.pool ? chunks.map((c) => handled(this.encode(c))) : undefined;
    const sends: Promise<void>[] = [];
    let spansOut = 0;
    for (let i = 0; i < chunks.length; i++) {
      const res = encodings ? await encodings[i] : await this.encode(chunks[i]);
      this.count(res.stats);
      const out: Message[] = [];
      const dlq: Message[] = [];
      for (const r of res.records) {
        out.push({ key: r.key, value: r.value, headers: { [HEADER_FORMAT]: FORMAT_NDJSON_V1, [HEADER_SPANS]: String(r.spans) } });
        spansOut += r.spans;
      }
      for (const d of res.dlq) {
        dlq.push({
          value: d.value,
          headers: {
            [DLQ_HEADER_ERROR]: d.reason, [DLQ_HEADER_CODE]: d.code, [DLQ_HEADER_SOURCE]: d.source,
            ...(d.truncated ? { 'mplp-truncated': 'true' } : {}),
          },
        });
      }
      const topicMessages: { topic: string; messages: Message[] }[] = [];
      if (out.length) topicMessages.push({ topic: shared.topicValidated, messages: out });
      if (dlq.length) topicMessages.push({ topic: shared.topicDlq, messages: dlq });
      if (topicMessages.length) sends.push(handled(this.send(topicMessages)));
    }
    await Promise.all(sends);
    this.deps.metrics.spansValid.inc(spansOut);
    const last = batch.messages[batch.messages.length - 1].offset;
    resolveOffset(last);
    // Commit explicitly now that every derived record is acknowledged (the committed offset is the next to read).
    await this.consumer!.commitOffsets([{ topic: batch.topic, partition: batch.partition, offset: (BigInt(last) + 1n).toString() }]);
    const hw = BigInt(batch.highWatermark);
    this.deps.metrics.lag.set({ partition: String(batch.partition) }, Number(hw - BigInt(last) - 1n));
    const seconds = Number(process.hrtime.bigint() - started) / 1e9;
    this.deps.metrics.batchSeconds.observe(seconds);
    this.deps.onBatchCommitted?.({ seconds, spans: spansOut, messages: batch.messages.length });
    await heartbeat();
  }

  /** acks=all, retried until it succeeds or we shut down: the batch must not be committed without it. */
  private async send(topicMessages: { topic: string; messages: Message[] }[]): Promise<void> {
    await retry(() => this.producer!.sendBatch({ topicMessages, acks: -1 }), {
      attempts: Infinity, baseDelayMs: 200, maxDelayMs: 10_000, signal: this.abort.signal,
      classify: (e) => classifyKafkaError(e, 'produce'),
      onRetry: (err, attempt, wait) => this.deps.logger.warn({ err, attempt, waitMs: wait }, 'produce failed, retrying'),
    });
  }

  /** encodeBatch in a pool thread (values moved there and back in one buffer each way), or here when there is no pool. */
  private async encode(inputs: InputMessage[]): Promise<EncodedBatch> {
    if (!this.deps.pool) return encodeBatch(this.processor, inputs, this.deps.settings.maxBatchBytes);
    const { buf, bounds } = packBuffers(inputs.map((m) => m.value));
    const task: DecodeTask = {
      buf, bounds, contentTypes: inputs.map((m) => m.contentType), sources: inputs.map((m) => m.source),
      limits: this.deps.settings, maxBatchBytes: this.deps.settings.maxBatchBytes,
    };
    const res = await this.deps.pool.run(task, { transferList: [buf] }) as DecodeResult;
    const at = (start: number, end: number) => Buffer.from(res.buf, start, end - start);
    return {
      records: res.records.map((r) => ({ key: r.key, value: at(r.start, r.end), spans: r.spans })),
      dlq: res.dlq.map((d) => ({ value: at(d.start, d.end), code: d.code, reason: d.reason, source: d.source, truncated: d.truncated })),
      stats: res.stats,
    };
  }

  private count(st: BatchStats): void {
    const { metrics } = this.deps;
    for (const [encoding, n] of Object.entries(st.messagesByEncoding)) { metrics.messagesIn.inc({ encoding }, n); this.totals.messages += n; }
    for (const [code, n] of Object.entries(st.rejectedByCode)) { metrics.rejected.inc({ code }, n); this.totals.rejected += n; }
    metrics.bytesIn.inc(st.bytesIn);
    metrics.spansIn.inc(st.spansIn);
    if (st.droppedAttributes) metrics.droppedAttributes.inc(st.droppedAttributes);
    if (st.truncatedValues) metrics.truncatedValues.inc(st.truncatedValues);
    metrics.uncompressedOut.inc(st.ndjsonBytesOut);
    metrics.bytesOut.inc(st.bytesOut);
    this.totals.spans += st.spansIn;
    this.totals.valid += st.spansValid;
    this.totals.bytesIn += st.bytesIn;
    this.totals.bytesOut += st.bytesOut;
  }

  private logSummary(): void {
    const t = this.totals;
    this.deps.logger.info({ ...t }, 'ingest summary');
    this.totals = { messages: 0, spans: 0, valid: 0, rejected: 0, bytesIn: 0, bytesOut: 0 };
  }

  async stop(): Promise<void> {
    clearInterval(this.summaryTimer);
    // consumer.disconnect() waits for the running eachBatch (produce + commit) to finish.
    try { await this.consumer?.disconnect(); } catch (err) { this.deps.logger.warn({ err }, 'consumer disconnect failed'); }
    this.abort.abort();
    try { await this.producer?.disconnect(); } catch (err) { this.deps.logger.warn({ err }, 'producer disconnect failed'); }
    this.logSummary();
  }
}

/** The promise itself, marked handled: it is awaited later, and an early rejection must not count as unhandled meanwhile. */
function handled<T>(p: Promise<T>): Promise<T> {
  p.catch(() => undefined);
  return p;
}
