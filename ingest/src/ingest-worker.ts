import { Partitioners } from 'kafkajs';
import type { Consumer, EachBatchPayload, Kafka, Message, Producer } from 'kafkajs';
import {
  FORMAT_NDJSON_V1, HEADER_FORMAT, HEADER_SPANS, Logger, Service, SharedConfig, SpanBatchCodec, classifyKafkaError, retry,
} from '../../shared/src';
import type { IngestSettings } from './config';
import { DLQ_HEADER_CODE, DLQ_HEADER_ERROR, DLQ_HEADER_SOURCE, MessageProcessor } from './message-processor';
import { IngestMetrics } from './metrics';

export interface IngestWorkerDeps {
  kafka: Kafka; shared: SharedConfig; settings: IngestSettings; logger: Logger; metrics: IngestMetrics;
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
    const { shared, metrics } = this.deps;
    const byTrace = new Map<string, string[]>();
    const dlq: Message[] = [];
    for (const m of batch.messages) {
      const source = `${batch.topic}/${batch.partition}/${m.offset}`;
      const ct = m.headers?.['content-type']?.toString();
      const res = this.processor.process(m.value, ct, source);
      metrics.messagesIn.inc({ encoding: res.encoding ?? 'unknown' });
      metrics.bytesIn.inc(m.value?.length ?? 0);
      metrics.spansIn.inc(res.spans.length + res.dlq.filter((d) => d.code !== 'decode' && d.code !== 'empty' && d.code !== 'too_large').length);
      if (res.droppedAttributes) metrics.droppedAttributes.inc(res.droppedAttributes);
      if (res.truncatedValues) metrics.truncatedValues.inc(res.truncatedValues);
      this.totals.messages++;
      this.totals.bytesIn += m.value?.length ?? 0;
      for (const s of res.spans) {
        let lines = byTrace.get(s.traceId);
        if (!lines) byTrace.set(s.traceId, (lines = []));
        lines.push(JSON.stringify(s));
      }
      for (const d of res.dlq) {
        metrics.rejected.inc({ code: d.code });
        dlq.push({
          value: d.value,
          headers: {
            [DLQ_HEADER_ERROR]: d.reason, [DLQ_HEADER_CODE]: d.code, [DLQ_HEADER_SOURCE]: d.source,
            ...(d.truncated ? { 'mplp-truncated': 'true' } : {}),
          },
        });
      }
      this.totals.spans += res.spans.length;
      this.totals.valid += res.spans.length;
      this.totals.rejected += res.dlq.length;
    }
    const out: Message[] = [];
    let spansOut = 0;
    for (const [traceId, lines] of byTrace) {
      for (const chunk of chunkLines(lines, this.deps.settings.maxBatchBytes)) {
        const ndjson = Buffer.from(chunk.join('\n') + '\n');
        const value = SpanBatchCodec.encodeLines(ndjson);
        metrics.uncompressedOut.inc(ndjson.length);
        metrics.bytesOut.inc(value.length);
        this.totals.bytesOut += value.length;
        spansOut += chunk.length;
        out.push({ key: traceId, value, headers: { [HEADER_FORMAT]: FORMAT_NDJSON_V1, [HEADER_SPANS]: String(chunk.length) } });
      }
    }
    const topicMessages: { topic: string; messages: Message[] }[] = [];
    if (out.length) topicMessages.push({ topic: shared.topicValidated, messages: out });
    if (dlq.length) topicMessages.push({ topic: shared.topicDlq, messages: dlq });
    if (topicMessages.length) {
      // Retried until it succeeds or we shut down: the batch must not be committed without it.
      await retry(() => this.producer!.sendBatch({ topicMessages, acks: -1 }), {
        attempts: Infinity, baseDelayMs: 200, maxDelayMs: 10_000, signal: this.abort.signal,
        classify: (e) => classifyKafkaError(e, 'produce'),
        onRetry: (err, attempt, wait) => this.deps.logger.warn({ err, attempt, waitMs: wait }, 'produce failed, retrying'),
      });
    }
    metrics.spansValid.inc(spansOut);
    const last = batch.messages[batch.messages.length - 1].offset;
    resolveOffset(last);
    // Commit explicitly now that every derived record is acknowledged.
    await this.consumer!.commitOffsets([{ topic: batch.topic, partition: batch.partition, offset: (BigInt(last) + 1n).toString() }]);
    const hw = BigInt(batch.highWatermark);
    metrics.lag.set({ partition: String(batch.partition) }, Number(hw - BigInt(last) - 1n));
    const seconds = Number(process.hrtime.bigint() - started) / 1e9;
    metrics.batchSeconds.observe(seconds);
    this.deps.onBatchCommitted?.({ seconds, spans: spansOut, messages: batch.messages.length });
    await heartbeat();
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

/** Splits one trace's lines into chunks of at most maxBytes (a single larger line stays alone). */
export function chunkLines(lines: string[], maxBytes: number): string[][] {
  const chunks: string[][] = [];
  let cur: string[] = [];
  let size = 0;
  for (const l of lines) {
    const len = Buffer.byteLength(l) + 1;
    if (cur.length && size + len > maxBytes) { chunks.push(cur); cur = []; size = 0; }
    cur.push(l);
    size += len;
  }
  if (cur.length) chunks.push(cur);
  return chunks;
}


