import type Piscina from 'piscina';
import type { Admin, Kafka, Message } from 'kafkajs';
import type { Registry } from 'prom-client';
import {
  AssignedPartition,
  BatchContext,
  ByteBudget,
  CancelledError,
  CommitSlot,
  CommittedPosition,
  FORMAT_NDJSON_V1,
  HEADER_FORMAT,
  HEADER_KAFKA_BATCH_ERROR,
  HEADER_SPANS,
  HEADER_SPAN_SUMMARY,
  Logger,
  MplpError,
  PartitionConsumer,
  Service,
  SharedConfig,
  classifyKafkaError,
  retry,
} from '../../shared/src';
import type { IngestSettings } from './config';
import {
  DLQ_HEADER_CODE,
  DLQ_HEADER_ERROR,
  DLQ_HEADER_SOURCE,
  DLQ_HEADER_TRUNCATED,
  DlqRecord,
  MessageProcessor,
} from './message-processor';
import { IngestMetrics } from './metrics';
import { createOutputProducer, deliveredOf, OutputProducer } from '../../shared/src/output-producer';
import { BatchStats, EncodedBatch, encodeBatch, EncodeLimits, InputMessage, OutputRecord } from './batch-encoder';
import { deadLetterReference, outputRecordReference } from './refused-output';
import { DecodeResult, DecodeTask, packBuffers } from './decode-worker';
import { PartitionFencedError, TransactionalOutput, TransactionTicket } from './transactional-output';

export interface IngestWorkerDeps {
  kafka: Kafka;
  shared: SharedConfig;
  settings: IngestSettings;
  logger: Logger;
  metrics: IngestMetrics;
  /** Where the consumer's per-partition gauges go (/metrics). */
  registry?: Registry;
  /** Threads running decode + normalize + lz4; absent: done in the consumer's thread. */
  pool?: Piscina;
  /** Called after each input chunk's output is acknowledged (benchmarks). */
  onBatchCommitted?: (info: { seconds: number; spans: number; messages: number }) => void;
}

/**
 * Consumes raw OTLP, produces lz4 batches keyed by trace id and dead letters, and commits an
 * input offset only after everything derived from it, and from every offset before it, is
 * acknowledged by Kafka (acks=all). Input in flight (fetched, not yet acknowledged) is bounded
 * by MPLP_INGEST_MAX_IN_FLIGHT_BYTES plus one fetch; while it is full the consumer heartbeats, so
 * an output stall longer than the session timeout keeps the member in its group. Consumption,
 * commits and readiness are the shared PartitionConsumer's.
 */
export class IngestWorker implements Service {
  private readonly consumer: PartitionConsumer;
  private producer?: OutputProducer;
  private readonly processor: MessageProcessor;
  private summaryTimer?: NodeJS.Timeout;
  private readonly abort = new AbortController();
  private readonly sends = new SendGate();
  private readonly inFlight = new Set<Promise<void>>();
  private readonly budget: ByteBudget;
  private totals = { messages: 0, spans: 0, valid: 0, rejected: 0, bytesIn: 0, bytesOut: 0 };
  /** MPLP_INGEST_TRANSACTIONS: output, dead letters and input offsets of a partition in one transaction. */
  private readonly txn?: TransactionalOutput<AssignedPartition>;
  private readonly admin?: Admin;

  constructor(private readonly deps: IngestWorkerDeps) {
    this.processor = new MessageProcessor(deps.settings);
    const { kafka, shared, settings, logger, registry } = deps;
    this.budget = new ByteBudget(settings.maxInFlightBytes);
    if (settings.transactions) {
      const admin = kafka.admin();
      this.admin = admin;
      this.txn = new TransactionalOutput({
        kafka,
        groupId: settings.groupId,
        idPrefix: settings.transactionalIdPrefix,
        maxBytes: settings.transactionMaxBytes,
        maxAgeMs: settings.transactionMaxAgeMs,
        retryBackoffMs: settings.transactionRetryBackoffMs,
        maxRequestBytes: settings.maxRecordBytes,
        logger,
        pressure: () => this.budget.full,
        committedOffset: (topic, partition) => committedOffset(admin, settings.groupId, topic, partition),
        signal: this.abort.signal,
      });
    }
    this.consumer = new PartitionConsumer({
      kafka,
      groupId: settings.groupId,
      topics: [shared.topicRaw],
      logger,
      registry,
      maxUnsettledAgeMs: shared.kafkaMaxUnsettledAgeMs,
      partitionsConsumedConcurrently: settings.partitionsConcurrently,
      consumerConfig: {
        maxBytesPerPartition: settings.fetchMaxBytesPerPartition,
        maxBytes: settings.fetchMaxBytesPerPartition * 4,
        sessionTimeout: settings.sessionTimeoutMs,
        heartbeatInterval: Math.min(3_000, Math.floor(settings.sessionTimeoutMs / 3)),
      },
      handleBatch: (batch) => this.handleBatch(batch),
      ...(this.txn ? this.transactionalConsumption(this.txn) : {}),
    });
  }

  /**
   * Transactions: a new partition's producer is initialized (fencing its previous owner) before its
   * start offset is read; offsets are committed by the transactions, not the consumer.
   */
  private transactionalConsumption(txn: TransactionalOutput<AssignedPartition>) {
    return {
      admin: this.admin,
      offsetsCommittedByHandler: true,
      fence: async (p: AssignedPartition) => {
        await txn.open(p, p.topic, p.partition);
        if (p.revoked) txn.close(p);
      },
      onAssigned: (p: AssignedPartition, committed?: CommittedPosition): undefined => {
        if (committed) txn.of(p)?.startFrom(committed.offset);
        return undefined;
      },
      onRevoked: (ps: readonly AssignedPartition[]) => ps.forEach((p) => txn.close(p)),
    };
  }

  get ready(): boolean {
    return this.consumer.ready;
  }

  /** Settles with the error of a non-retriable consumer crash (the harness exits non-zero). */
  get failure(): Promise<Error> {
    return this.consumer.failure;
  }

  /** The client producing the output (after start). */
  get producerKind(): OutputProducer['kind'] | undefined {
    return this.txn ? 'kafkajs' : this.producer?.kind;
  }

  async start(): Promise<void> {
    const { kafka, shared, settings, logger } = this.deps;
    // Transactions produce with kafkajs, a producer per input partition (transactional-output.ts).
    if (!this.txn) {
      this.producer = createOutputProducer(settings.producer, kafka, shared, logger, settings.maxRecordBytes);
      await this.producer.connect();
    }
    await this.admin?.connect();
    await this.consumer.start();
    this.summaryTimer = setInterval(() => this.logSummary(), settings.summaryIntervalMs);
    this.summaryTimer.unref();
    logger.info(
      {
        input: shared.topicRaw,
        output: shared.topicValidated,
        dlq: shared.topicDlq,
        groupId: settings.groupId,
        producer: this.txn ? 'kafkajs, transactional' : this.producer?.kind,
      },
      'ingest started',
    );
  }

  /**
   * Splits a fetched batch into chunks of about taskBytes, hands each to the pipeline and
   * returns as soon as they are registered: kafkajs fetches again only after every batch of its
   * previous fetch returns, and waiting here for encode + produce left the pool idle between
   * fetches. Memory stays bounded: a chunk waits for room under MPLP_INGEST_MAX_IN_FLIGHT_BYTES
   * before it is registered, which holds eachBatch and with it the fetching (heartbeating).
   */
  private async handleBatch(batch: BatchContext<undefined>): Promise<void> {
    const key = `${batch.partition.topic}/${batch.partition.partition}`;
    const chunks: { inputs: InputMessage[]; bytes: number; last: string }[] = [];
    let cur: InputMessage[] = [];
    let curBytes = 0;
    for (const m of batch.messages) {
      const batchError = m.headers?.[HEADER_KAFKA_BATCH_ERROR]?.toString();
      cur.push({
        value: m.value,
        contentType: m.headers?.['content-type']?.toString(),
        source: `${key}/${m.offset}`,
        ...(batchError !== undefined ? { batchError } : {}),
      });
      curBytes += m.value?.length ?? 0;
      if (curBytes >= this.deps.settings.taskBytes) {
        chunks.push({ inputs: cur, bytes: curBytes, last: m.offset });
        cur = [];
        curBytes = 0;
      }
    }
    if (cur.length) chunks.push({ inputs: cur, bytes: curBytes, last: batch.messages[batch.messages.length - 1].offset });
    for (const chunk of chunks) {
      if (!(await batch.waitForRoom(this.budget))) return;
      const slot = batch.partition.register(chunk.last);
      const ticket = this.txn?.of(batch.partition)?.reserve(chunk.last);
      this.budget.take(chunk.bytes);
      const run = handled(
        ticket
          ? this.runTransactionalChunk(chunk.inputs, chunk.bytes, slot, batch.partition, ticket)
          : this.runChunk(chunk.inputs, chunk.bytes, slot),
      );
      this.inFlight.add(run);
      run.then(
        () => this.inFlight.delete(run),
        () => this.inFlight.delete(run),
      );
      batch.handedOut(chunk.last);
    }
    this.deps.metrics.lag.set(
      { partition: String(batch.partition.partition) },
      Number(BigInt(batch.highWatermark) - BigInt(chunks[chunks.length - 1].last) - 1n),
    );
    if (batch.active()) await batch.heartbeat();
  }

  /**
   * Encode, produce with acks=all, then mark the chunk done and commit what became committable.
   * A chunk whose output passes MPLP_INGEST_MAX_IN_FLIGHT_BYTES is encoded and produced in parts,
   * and its output counts against that bound until acknowledged.
   */
  private async runChunk(inputs: InputMessage[], bytes: number, slot: CommitSlot): Promise<void> {
    const started = performance.now();
    try {
      let spans = 0;
      for (let rest = inputs; rest.length > 0;) {
        const res = await this.encode(rest);
        rest = rest.slice(res.consumed);
        this.count(res.stats);
        // Output counts against the in-flight bound from encoding until it is acknowledged.
        const outBytes = res.stats.bytesOut + res.stats.dlqBytesOut;
        this.budget.take(outBytes);
        try {
          const refusedSpans = await this.produce(res.records, res.dlq);
          this.deps.metrics.spansValid.inc(res.stats.spansValid - refusedSpans);
          spans += res.stats.spansValid - refusedSpans;
        } finally {
          this.budget.give(outBytes);
        }
      }
      this.consumer.settle(slot);
      const seconds = (performance.now() - started) / 1000;
      this.deps.metrics.batchSeconds.observe(seconds);
      this.deps.onBatchCommitted?.({ seconds, spans, messages: inputs.length });
    } catch (err) {
      // Only shutdown ends a chunk unfinished (send retries until then); its offsets stay
      // uncommitted and are read again after the restart.
      if (!this.abort.signal.aborted) this.deps.logger.error({ err }, 'chunk failed; its input will be read again after a restart');
      throw err;
    } finally {
      this.budget.give(bytes);
    }
  }

  /**
   * Encodes the chunk and hands its output to the partition's transaction; settles once that
   * committed (output, dead letters and the input offset together). The output counts against
   * MPLP_INGEST_MAX_IN_FLIGHT_BYTES until then. A partition lost meanwhile (revoked, or its producer
   * fenced) drops the chunk: the partition's owner reads it again from the committed offset.
   */
  private async runTransactionalChunk(
    inputs: InputMessage[],
    bytes: number,
    slot: CommitSlot,
    partition: AssignedPartition,
    ticket: TransactionTicket,
  ): Promise<void> {
    const started = performance.now();
    const topicMessages: { topic: string; messages: Message[] }[] = [];
    // Where each output message came from, for the reference that replaces it if Kafka refuses it for good.
    const origin = new Map<Message, (err: MplpError) => DlqRecord>();
    let outBytes = 0;
    let spans = 0;
    try {
      for (let rest = inputs; rest.length > 0;) {
        const res = await this.encode(rest);
        rest = rest.slice(res.consumed);
        this.count(res.stats);
        this.budget.take(res.stats.bytesOut + res.stats.dlqBytesOut);
        outBytes += res.stats.bytesOut + res.stats.dlqBytesOut;
        const out = this.outputOf(res.records, res.dlq);
        const [validated, dead] = res.records.length ? [out[0], out[1]] : [undefined, out[0]];
        validated?.messages.forEach((m, i) => origin.set(m, (e) => outputRecordReference(res.records[i], e)));
        dead?.messages.forEach((m, i) => origin.set(m, (e) => deadLetterReference(res.dlq[i], e)));
        topicMessages.push(...out);
        spans += res.stats.spansValid;
      }
      let refusedSpans = 0;
      await this.txn!.of(partition)!.complete(ticket, topicMessages, outBytes, (m, e) => {
        const ref = origin.get(m)!(e);
        this.deps.metrics.rejected.inc({ code: ref.code }, Math.max(1, ref.spans));
        if (m.headers?.[DLQ_HEADER_CODE] === undefined) refusedSpans += ref.spans;
        return this.outputOf([], [ref])[0];
      });
      spans -= refusedSpans;
      this.deps.metrics.spansValid.inc(spans);
      this.consumer.settle(slot);
      const seconds = (performance.now() - started) / 1000;
      this.deps.metrics.batchSeconds.observe(seconds);
      this.deps.onBatchCommitted?.({ seconds, spans, messages: inputs.length });
    } catch (err) {
      if (err instanceof PartitionFencedError) {
        this.deps.logger.warn(
          { err, partition: partition.partition },
          'input partition fenced: its uncommitted work is dropped and the partition taken again',
        );
        this.consumer.retake(partition);
      } else if (!this.abort.signal.aborted && !partition.revoked)
        this.deps.logger.error({ err }, 'chunk failed; its input will be read again after a restart');
      throw err;
    } finally {
      this.budget.give(bytes + outBytes);
    }
  }

  /**
   * Produces validated records and dead letters; returns how many spans Kafka refused. When Kafka
   * refuses the lot for good (a record over the topic's max.message.bytes, an invalid record), each
   * record is sent alone and each one refused is replaced by a reference in the DLQ
   * (refused-output.ts): the chunk settles instead of waiting forever.
   */
  private async produce(records: OutputRecord[], dlq: DlqRecord[]): Promise<number> {
    const topicMessages = this.outputOf(records, dlq);
    if (!topicMessages.length) return 0;
    try {
      await this.sends.shared(() => this.send(topicMessages));
      return 0;
    } catch (err) {
      if (!isRefusal(err, this.abort.signal)) throw err;
      this.deps.logger.warn({ err }, 'Kafka refused output for good; sending record by record, refused ones go to the DLQ as references');
      // Records acknowledged despite the failure (librdkafka reports each) are not sent again. The
      // others go one at a time, and alone: sent with any other record (of this call or of another
      // chunk's send in flight), the client would batch them into the same refused record batch
      // again (records of one partition share one), and a good record would be refused with it.
      const delivered = deliveredOf(err) ?? [];
      return this.sends.exclusively(async () => {
        let refusedSpans = 0;
        for (const [i, r] of records.entries()) {
          if (!delivered[i] && (await this.sendOrRefer([r], [], (e) => outputRecordReference(r, e)))) refusedSpans += r.spans;
        }
        for (const [j, d] of dlq.entries()) {
          if (!delivered[records.length + j]) await this.sendOrRefer([], [d], (e) => deadLetterReference(d, e));
        }
        return refusedSpans;
      });
    }
  }

  /** Sends, and on a refusal for good sends the reference instead, retrying that until it is acknowledged or shutdown. */
  private async sendOrRefer(records: OutputRecord[], dlq: DlqRecord[], reference: (err: MplpError) => DlqRecord): Promise<boolean> {
    try {
      await this.send(this.outputOf(records, dlq));
      return false;
    } catch (err) {
      if (!isRefusal(err, this.abort.signal)) throw err;
      const ref = reference(err as MplpError);
      this.deps.metrics.rejected.inc({ code: ref.code }, Math.max(1, ref.spans));
      // A reference is a few hundred bytes: if even that is refused the DLQ topic itself is
      // misconfigured (ACLs, a compacted topic), which retrying outlives once fixed.
      await retry(() => this.producer!.send(this.outputOf([], [ref])), {
        attempts: Infinity,
        baseDelayMs: 200,
        maxDelayMs: 10_000,
        signal: this.abort.signal,
        classify: (e) => {
          const m = classifyKafkaError(e, 'produce');
          return m.retryable ? m : new MplpError(m.code, m.message, { disposition: 'retryable', cause: m });
        },
        onRetry: (e, attempt, wait) =>
          this.deps.logger.error({ err: e, attempt, waitMs: wait }, 'DLQ refused a reference record; retrying'),
      });
      return true;
    }
  }

  private outputOf(records: OutputRecord[], dead: DlqRecord[]): { topic: string; messages: Message[] }[] {
    const { shared } = this.deps;
    const out: Message[] = records.map((r) => ({
      key: r.key,
      value: r.value,
      headers: {
        [HEADER_FORMAT]: FORMAT_NDJSON_V1,
        [HEADER_SPANS]: String(r.spans),
        ...(r.summary ? { [HEADER_SPAN_SUMMARY]: r.summary } : {}),
      },
    }));
    const dlq: Message[] = dead.map((d) => ({
      value: d.value,
      headers: {
        [DLQ_HEADER_ERROR]: d.reason,
        [DLQ_HEADER_CODE]: d.code,
        [DLQ_HEADER_SOURCE]: d.source,
        ...(d.truncated ? { [DLQ_HEADER_TRUNCATED]: 'true' } : {}),
        ...(d.spans > 0 ? { [HEADER_SPANS]: String(d.spans) } : {}),
        ...(d.contentType ? { 'content-type': d.contentType } : {}),
      },
    }));
    const topicMessages: { topic: string; messages: Message[] }[] = [];
    if (out.length) topicMessages.push({ topic: shared.topicValidated, messages: out });
    if (dlq.length) topicMessages.push({ topic: shared.topicDlq, messages: dlq });
    return topicMessages;
  }

  /** acks=all, retried until it succeeds or we shut down: the batch must not be committed without it. */
  private async send(topicMessages: { topic: string; messages: Message[] }[]): Promise<void> {
    await retry(() => this.producer!.send(topicMessages), {
      attempts: Infinity,
      baseDelayMs: 200,
      maxDelayMs: 10_000,
      signal: this.abort.signal,
      classify: (e) => classifyKafkaError(e, 'produce'),
      onRetry: (err, attempt, wait) => this.deps.logger.warn({ err, attempt, waitMs: wait }, 'produce failed, retrying'),
    });
  }

  /** encodeBatch in a pool thread (values moved there and back in one buffer each way), or here when there is no pool. */
  private async encode(inputs: InputMessage[]): Promise<EncodedBatch> {
    const { settings } = this.deps;
    const limits: EncodeLimits = {
      maxBatchBytes: settings.maxBatchBytes,
      maxRecordBytes: settings.maxRecordBytes,
      maxOutputBytesPerMessage: settings.maxOutputBytesPerMessage,
      outputBudget: settings.maxInFlightBytes,
      spanSummary: settings.spanSummary,
    };
    if (!this.deps.pool) return encodeBatch(this.processor, inputs, limits);
    const { buf, bounds } = packBuffers(inputs.map((m) => m.value));
    const task: DecodeTask = {
      buf,
      bounds,
      contentTypes: inputs.map((m) => m.contentType),
      sources: inputs.map((m) => m.source),
      ...(inputs.some((m) => m.batchError !== undefined) ? { batchErrors: inputs.map((m) => m.batchError) } : {}),
      limits: settings,
      encode: limits,
    };
    const res = (await this.deps.pool.run(task, { transferList: [buf] })) as DecodeResult;
    const at = (start: number, end: number) => Buffer.from(res.buf, start, end - start);
    return {
      records: res.records.map((r) => ({
        key: r.key,
        value: at(r.start, r.end),
        ...(r.summary ? { summary: at(r.summary[0], r.summary[1]) } : {}),
        spans: r.spans,
        sources: r.sources,
      })),
      dlq: res.dlq.map((d) => ({
        value: at(d.start, d.end),
        code: d.code,
        reason: d.reason,
        source: d.source,
        truncated: d.truncated,
        spans: d.spans,
        contentType: d.contentType,
      })),
      stats: res.stats,
      consumed: res.consumed,
    };
  }

  private count(st: BatchStats): void {
    const { metrics } = this.deps;
    for (const [encoding, n] of Object.entries(st.messagesByEncoding)) {
      metrics.messagesIn.inc({ encoding }, n);
      this.totals.messages += n;
    }
    for (const [code, n] of Object.entries(st.rejectedByCode)) {
      metrics.rejected.inc({ code }, n);
      this.totals.rejected += n;
    }
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

  async stop(signal?: AbortSignal): Promise<void> {
    clearInterval(this.summaryTimer);
    // A handler waiting for room returns now; nothing new is registered once the consumer stops.
    this.budget.close();
    // At the deadline, cancel the produce retries: what is not acknowledged stays uncommitted.
    signal?.addEventListener('abort', () => this.abort.abort(), { once: true });
    // Finish the chunks in flight and commit them while still a member of the group.
    await this.consumer.stop(async () => {
      this.txn?.flush();
      while (this.inFlight.size) await Promise.allSettled([...this.inFlight]);
    });
    this.abort.abort();
    await this.txn?.closeAll();
    await this.admin?.disconnect().catch(() => undefined);
    try {
      await this.producer?.disconnect();
    } catch (err) {
      this.deps.logger.warn({ err }, 'producer disconnect failed');
    }
    this.logSummary();
  }
}

/** The group's committed offset of a partition, else its low watermark (as PartitionConsumer reads a start position). */
async function committedOffset(admin: Admin, groupId: string, topic: string, partition: number): Promise<bigint> {
  const [committed] = await admin.fetchOffsets({ groupId, topics: [topic] });
  const offset = BigInt(committed.partitions.find((p) => p.partition === partition)?.offset ?? '-1');
  if (offset >= 0n) return offset;
  const low = (await admin.fetchTopicOffsets(topic)).find((o) => o.partition === partition)?.low;
  return BigInt(low ?? '0');
}

/**
 * Sends share the producer, except the record-by-record resends after a refusal, which wait for
 * the sends in flight to finish and hold new ones back until they are done.
 */
export class SendGate {
  private inFlight = 0;
  private exclusive: Promise<void> | undefined;
  private drained: (() => void) | undefined;

  async shared<T>(fn: () => Promise<T>): Promise<T> {
    while (this.exclusive) await this.exclusive;
    this.inFlight++;
    try {
      return await fn();
    } finally {
      if (--this.inFlight === 0) this.drained?.();
    }
  }

  async exclusively<T>(fn: () => Promise<T>): Promise<T> {
    while (this.exclusive) await this.exclusive;
    let release!: () => void;
    this.exclusive = new Promise((r) => (release = r));
    try {
      while (this.inFlight > 0) await new Promise<void>((r) => (this.drained = r));
      return await fn();
    } finally {
      this.drained = undefined;
      this.exclusive = undefined;
      release();
    }
  }
}

/** A produce error no retry will fix (not shutdown): the records are to be settled through the DLQ. */
function isRefusal(err: unknown, signal: AbortSignal): boolean {
  return !signal.aborted && err instanceof MplpError && !(err instanceof CancelledError) && !err.retryable;
}

/** The promise itself, marked handled: it is awaited later, and an early rejection must not count as unhandled meanwhile. */
function handled<T>(p: Promise<T>): Promise<T> {
  p.catch(() => undefined);
  return p;
}
