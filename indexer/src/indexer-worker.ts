import { Partitioners } from 'kafkajs';
import type { Consumer, EachBatchPayload, Kafka, Producer } from 'kafkajs';
import { CancelledError, CommitSlot, CommitTracker, DeadLetter, HEADER_KAFKA_BATCH_ERROR, InvalidInputError, kafkaBatchError, Logger, Service, SharedConfig, standInDeadLetterHeaders } from '../../shared/src';
import type { BulkIndexer, PoisonDoc } from './bulk-indexer';
import { BulkPipeline } from './bulk-pipeline';
import { DeadLetterSender } from './dead-letters';
import type { IndexerSettings } from './config';
import { documentsOf, IndexDoc, RecordKind } from './documents';
import type { IndexerMetrics } from './metrics';

export interface IndexerWorkerDeps {
  kafka: Kafka; shared: SharedConfig; settings: IndexerSettings; logger: Logger; metrics: IndexerMetrics; bulk: BulkIndexer;
}

/** Per partition: the tracker of the records handed out, and the commit state. */
interface PartitionState {
  tracker: CommitTracker;
  /** Highest offset this process committed for the partition (commits only go forward). */
  committed: bigint;
  /** A commit is in flight; `want` is the next one to send when it returns. */
  committing: boolean;
  want?: string;
  highWatermark: bigint;
  /** Lost in a rebalance: bulks still settling must not commit for it any more. */
  revoked: boolean;
}

/**
 * Consumes the validated spans, metrics and alerts topics and writes them into the daily
 * indices. The Kafka handler only decodes: it hands each batch's documents to one BulkPipeline
 * shared by all partitions and returns, so kafkajs fetches the next batches while bulks are in
 * flight; it waits first while the pipeline holds more than MPLP_INDEXER_MAX_PENDING_BYTES, which
 * pauses fetching and bounds memory while Elasticsearch is slow or down. Offsets are committed
 * per partition as bulks settle, only past the prefix of records whose documents are all durable
 * or dead-lettered (CommitTracker), so a commit never passes an unwritten record.
 */
export class IndexerWorker implements Service {
  private consumer?: Consumer;
  private producer?: Producer;
  private readonly abort = new AbortController();
  private joined = false;
  private stopping = false;
  private readonly kindOf = new Map<string, RecordKind>();
  private readonly partitions = new Map<string, PartitionState>();
  /** The partition state each tracker belongs to (a revoked state stays revoked for its old trackers). */
  private readonly stateOf = new WeakMap<CommitTracker, PartitionState>();
  private readonly pipeline: BulkPipeline;
  private readonly dlq: DeadLetterSender;
  private readonly commitsInFlight = new Set<Promise<void>>();
  private totals = { records: 0, documents: 0, dlq: 0 };
  private timer?: NodeJS.Timeout;
  private commitWarnedAt = 0;

  constructor(private readonly deps: IndexerWorkerDeps) {
    const { shared, settings, metrics, logger } = deps;
    const all: Record<RecordKind, string> = { spans: shared.topicValidated, metrics: shared.topicMetrics, alerts: shared.topicAlerts };
    for (const k of settings.topics) {
      if (!(k in all)) throw new InvalidInputError('config', `MPLP_INDEXER_TOPICS: unknown kind ${k}`);
      this.kindOf.set(all[k as RecordKind], k as RecordKind);
    }
    this.pipeline = new BulkPipeline(deps.bulk, settings, (durable, poison) => this.settled(durable, poison), this.abort.signal,
      logger.child({ component: 'bulk' }), { inFlight: metrics.bulksInFlight, pendingBytes: metrics.pendingBytes });
    this.dlq = new DeadLetterSender(() => this.producer!, shared.topicDlq, settings, { lost: metrics.dlqLost }, logger.child({ component: 'dlq' }), this.abort.signal);
  }

  get ready(): boolean { return this.joined; }

  async start(): Promise<void> {
    const { kafka, settings, logger } = this.deps;
    this.producer = kafka.producer({ allowAutoTopicCreation: false, createPartitioner: Partitioners.DefaultPartitioner });
    this.consumer = kafka.consumer({
      groupId: settings.groupId, maxBytesPerPartition: settings.fetchMaxBytesPerPartition, maxBytes: settings.fetchMaxBytesPerPartition * 4,
      maxWaitTimeInMs: settings.fetchMaxWaitMs, sessionTimeout: 60_000, heartbeatInterval: 3_000,
    });
    this.consumer.on(this.consumer.events.GROUP_JOIN, (e) => { this.assigned(e.payload.memberAssignment); this.joined = true; });
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

  /**
   * After a rebalance: partitions no longer ours must not be committed by bulks still settling
   * (the new owner commits them; a late commit of ours could move its offset back). Partitions
   * kept are read again by kafkajs from the committed offset; their new records go to a new
   * tracker (handleBatch), while the old one keeps committing its durable prefix.
   */
  private assigned(assignment: Record<string, number[]>): void {
    for (const [key, state] of this.partitions) {
      const [topic, partition] = splitKey(key);
      if (!assignment[topic]?.includes(partition)) { state.revoked = true; this.partitions.delete(key); }
    }
  }

  private async handleBatch({ batch, resolveOffset, heartbeat, isRunning, isStale }: EachBatchPayload): Promise<void> {
    if (batch.messages.length === 0 || !isRunning() || isStale() || this.stopping) return;
    const { shared, settings, metrics } = this.deps;
    const kind = this.kindOf.get(batch.topic)!;
    const key = `${batch.topic}/${batch.partition}`;
    let state = this.partitions.get(key);
    if (!state) {
      state = { tracker: new CommitTracker(batch.topic, batch.partition), committed: -1n, committing: false, highWatermark: 0n, revoked: false };
      this.partitions.set(key, state);
      this.stateOf.set(state.tracker, state);
    } else if (!state.tracker.accepts(batch.messages[0].offset)) {
      // Read again from an earlier offset (rebalance): the old tracker's slots still settle.
      state.tracker = new CommitTracker(batch.topic, batch.partition);
      this.stateOf.set(state.tracker, state);
    }
    state.highWatermark = BigInt(batch.highWatermark);
    const tracker = state.tracker;
    const docs: IndexDoc[] = [];
    let undecodable: Array<{ letter: DeadLetter; slot: CommitSlot }> | undefined;
    for (const m of batch.messages) {
      const origin = `${key}/${m.offset}`;
      try {
        const batchError = m.headers?.[HEADER_KAFKA_BATCH_ERROR];
        // A stand-in for a record of a Kafka batch that could not be decompressed (shared/kafka-codecs).
        if (batchError !== undefined) throw kafkaBatchError(batchError.toString());
        const own = documentsOf(kind, m, shared.indexPrefix, origin, settings.maxDecompressedBytes);
        const slot = tracker.add(m.offset, own.length);
        for (const d of own) { d.record = slot; docs.push(d); }
      } catch (err) {
        const code = err instanceof InvalidInputError ? err.code : 'decode';
        metrics.dlq.inc({ code });
        const headers = standInDeadLetterHeaders(m.headers);
        (undecodable ??= []).push({ slot: tracker.add(m.offset, 1), letter: { value: m.value, code, reason: (err as Error).message, source: origin, ...(headers ? { headers } : {}) } });
      }
    }
    if (undecodable) void this.deadLetter(undecodable);
    this.pipeline.add(docs);
    this.commitProgress(state);
    // The records are handed to the pipeline: kafkajs may fetch past them. Committing is separate.
    resolveOffset(batch.messages[batch.messages.length - 1].offset);
    metrics.records.inc({ kind }, batch.messages.length);
    this.totals.records += batch.messages.length; this.totals.documents += docs.length;
    // Full: hold this handler, and with it the fetch loop, until bulks drain below the bound —
    // but let a rebalance through (kafkajs rejoins only once the handler returns), heartbeating
    // meanwhile so the group keeps this member.
    if (this.pipeline.pendingBytes >= settings.maxPendingBytes) {
      let roomy = false;
      const room = this.pipeline.waitForRoom().then(() => { roomy = true; });
      while (!roomy) {
        let timer: NodeJS.Timeout | undefined;
        await Promise.race([room, new Promise<void>((r) => { timer = setTimeout(r, 3000); })]);
        clearTimeout(timer);
        if (roomy || !isRunning() || isStale()) break;
        try { await heartbeat(); } catch (err) {
          if ((err as { type?: string }).type === 'REBALANCE_IN_PROGRESS') break;
        }
      }
    }
    if (isRunning() && !isStale()) await heartbeat();
  }

  /** A bulk settled: dead-letter its poison, then settle every document's record and commit what is complete. */
  private async settled(durable: IndexDoc[], poison: PoisonDoc[]): Promise<void> {
    if (poison.length) {
      await this.dlq.send(poison.map((p) => {
        const code = `index_${p.type}`.slice(0, 64);
        this.deps.metrics.dlq.inc({ code });
        const span = SPAN_DOC_ID.test(p.doc.id) ? { traceId: p.doc.id.slice(0, 32), spanId: p.doc.id.slice(32) } : {};
        return { key: p.doc.id, value: p.doc.source, code, reason: `Elasticsearch refused document ${p.doc.id} for ${p.doc.index}: ${p.reason}`, source: p.doc.origin, ...span };
      }));
      this.totals.dlq += poison.length;
    }
    let last: CommitTracker | undefined;
    const touched = new Set<CommitTracker>();
    for (const list of [durable, poison.map((p) => p.doc)]) {
      for (const d of list) {
        CommitTracker.settle(d.record!);
        const t = d.record!.tracker;
        if (t !== last) { touched.add(t); last = t; }
      }
    }
    for (const t of touched) {
      const state = this.stateOf.get(t);
      if (state) this.commitProgress(state, t);
    }
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
    for (const r of records) CommitTracker.settle(r.slot);
    const t = records[0].slot.tracker;
    const state = this.stateOf.get(t);
    if (state) this.commitProgress(state, t);
  }

  /**
   * Commits the partition past its complete prefix. One commit per partition is in flight at a
   * time; a newer target replaces a waiting one. A failed commit stays offered by the tracker and
   * is made again when the next bulk settles; until then a restart only reads again.
   */
  private commitProgress(state: PartitionState, tracker = state.tracker): void {
    if (state.revoked) return;
    const next = tracker.toCommit();
    if (next !== undefined && BigInt(next) > (state.want !== undefined ? BigInt(state.want) : state.committed)) state.want = next;
    if (state.committing || state.want === undefined) return;
    const offset = state.want;
    state.want = undefined;
    state.committing = true;
    const { topic, partition } = tracker;
    const p = (async () => {
      try {
        await this.consumer!.commitOffsets([{ topic, partition, offset }]);
        tracker.confirmCommitted(offset);
        if (BigInt(offset) > state.committed) state.committed = BigInt(offset);
        this.deps.metrics.lag.set({ topic, partition: String(partition) }, Math.max(0, Number(state.highWatermark - BigInt(offset))));
      } catch (err) {
        if (Date.now() - this.commitWarnedAt > 10_000) { this.commitWarnedAt = Date.now(); this.deps.logger.warn({ err, topic, partition, offset }, 'offset commit failed; a later commit covers it'); }
      } finally {
        state.committing = false;
        if (state.want !== undefined && !state.revoked) this.commitProgress(state, tracker);
      }
    })();
    this.commitsInFlight.add(p);
    void p.finally(() => this.commitsInFlight.delete(p));
  }

  /**
   * Clean shutdown: stop fetching, write and commit what was handed out (until the deadline;
   * then abort the retries, and what is unwritten stays uncommitted and is read again), then
   * leave the group.
   */
  async stop(signal?: AbortSignal): Promise<void> {
    clearInterval(this.timer);
    this.stopping = true;
    signal?.addEventListener('abort', () => this.abort.abort(), { once: true });
    const stopRetriesSoon = setTimeout(() => this.abort.abort(), Math.max(1000, this.deps.settings.shutdownTimeoutMs - 5000));
    try {
      if (this.consumer) this.consumer.pause([...this.kindOf.keys()].map((topic) => ({ topic })));
      await this.pipeline.drain();
      while (this.commitsInFlight.size > 0) await Promise.allSettled([...this.commitsInFlight]);
    } finally {
      clearTimeout(stopRetriesSoon);
    }
    try { await this.consumer?.disconnect(); } catch (err) { this.deps.logger.warn({ err }, 'consumer disconnect failed'); }
    this.abort.abort();
    this.pipeline.close();
    try { await this.producer?.disconnect(); } catch (err) { this.deps.logger.warn({ err }, 'producer disconnect failed'); }
  }
}

/** A span document's _id: traceId (32 hex) + spanId (16 hex). */
const SPAN_DOC_ID = /^[0-9a-f]{48}$/;

function splitKey(key: string): [string, number] {
  const i = key.lastIndexOf('/');
  return [key.slice(0, i), Number(key.slice(i + 1))];
}
