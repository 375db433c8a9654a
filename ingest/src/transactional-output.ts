import { Partitioners } from 'kafkajs';
import type { Kafka, Message, Producer, Transaction } from 'kafkajs';
import { backoffDelay, CancelledError, classifyKafkaError, delay, Logger, MplpError } from '../../shared/src';
import { splitByBytes, TopicMessages } from '../../shared/src/output-producer';

/** What one input partition's transactions need; see TransactionalOutput. */
export interface TransactionalOutputOptions {
  kafka: Kafka;
  /** The consumer group whose offsets the transactions commit (sendOffsets). */
  groupId: string;
  /** transactional.id = `<prefix>-<input topic>-<partition>`. */
  idPrefix: string;
  /** Output bytes a transaction gathers before it commits. */
  maxBytes: number;
  /** Longest the oldest chunk ready for a transaction waits for it to commit. */
  maxAgeMs: number;
  /** kafkajs' first retry delay (and so its pace of retrying CONCURRENT_TRANSACTIONS after a commit). */
  retryBackoffMs: number;
  /** What one sendBatch may carry (kafkajs writes one partition's messages of a call as one record batch). */
  maxRequestBytes: number;
  logger: Logger;
  /** true: commit what is gathered now (the worker's byte budget is full; waiting would only hold fetching back). */
  pressure(): boolean;
  /** The group's committed offset of an input partition, read from the broker. */
  committedOffset(topic: string, partition: number): Promise<bigint>;
  /** Shutdown deadline: stops retrying. */
  signal: AbortSignal;
}

/** The partition's transactional producer was fenced: a newer owner (or our own re-init) took its transactional.id. */
export class PartitionFencedError extends MplpError {
  constructor(transactionalId: string, cause: unknown) {
    super('kafka_producer_fenced', `transactional producer ${transactionalId} fenced: the input partition has another owner`, {
      disposition: 'permanent',
      cause,
    });
  }
}

/** The input partition stopped being ours (revoked, fenced, shutdown) before its chunk was committed. */
export class PartitionLostError extends MplpError {
  constructor(transactionalId: string) {
    super('partition_lost', `input partition of ${transactionalId} no longer ours: its uncommitted output was dropped`, {
      disposition: 'permanent',
    });
  }
}

/** Whether a kafkajs error, or one it wraps, is a broker error of one of these types (or codes). */
function hasType(err: unknown, types: string[], codes: number[] = []): boolean {
  for (let e = err as { type?: string; code?: number; cause?: unknown; originalError?: unknown } | undefined, i = 0; e && i < 8; i++) {
    if ((e.type && types.includes(e.type)) || (e.code !== undefined && codes.includes(e.code))) return true;
    e = (e.originalError ?? e.cause) as typeof e;
  }
  return false;
}

/** Whether a kafkajs error (or one it wraps) says the producer's epoch is no longer current. */
export function isFenced(err: unknown): boolean {
  return hasType(err, ['INVALID_PRODUCER_EPOCH', 'PRODUCER_FENCED'], [47, 90]);
}

/** A chunk of input (ending at `offset`) and, once encoded, its output. */
export interface TransactionTicket {
  readonly offset: bigint;
  outputs?: TopicMessages[];
  /** A message Kafka refused for good → the DLQ message to send in its place (a reference). */
  refer?: (message: Message, err: MplpError) => TopicMessages;
  bytes: number;
  readyAt: number;
  resolve(): void;
  reject(err: Error): void;
  readonly committed: Promise<void>;
}

/**
 * One input partition's transactions: a kafkajs transactional producer whose transactional.id is
 * the partition's, and the chunks of the partition in offset order. Chunks are encoded in any
 * order; a transaction takes the ready prefix (so its offsets never pass a chunk whose output it
 * does not hold) until MPLP_INGEST_TRANSACTION_MAX_BYTES or _MAX_AGE, then sends the output, the
 * dead letters and the input offset after the prefix (sendOffsets) and commits. A failed
 * transaction is not half-kept: the producer is made again (its init aborts what was open), the
 * committed offset read back (an EndTxn that failed on the way back may have committed), and the
 * same output sent again in a new transaction.
 */
export class PartitionTransactions {
  readonly transactionalId: string;
  private producer?: Producer;
  private tickets: TransactionTicket[] = [];
  private committing?: Promise<void>;
  private timer?: NodeJS.Timeout;
  private closed = false;
  private flushing = false;
  /** The input offset committed by the last transaction of this owner (or read when it took the partition). */
  private committedTo?: bigint;

  constructor(
    readonly topic: string,
    readonly partition: number,
    private readonly opts: TransactionalOutputOptions,
  ) {
    this.transactionalId = `${opts.idPrefix}-${topic}-${partition}`;
  }

  /**
   * Initializes the producer (InitProducerId with the partition's transactional.id): a previous
   * owner's producer is fenced and its open transaction aborted, or its commit completed, before
   * this resolves — so the committed offset read after it is final.
   */
  async open(): Promise<void> {
    this.producer = await this.newProducer();
  }

  /** The committed offset read after open(): where this owner's first transaction continues from. */
  startFrom(offset: bigint): void {
    this.committedTo = offset;
  }

  /** A chunk registered (in offset order, as it is handed out); complete it once encoded. */
  reserve(lastOffset: string): TransactionTicket {
    let resolve!: () => void;
    let reject!: (err: Error) => void;
    const committed = new Promise<void>((res, rej) => {
      resolve = res;
      reject = rej;
    });
    committed.catch(() => undefined);
    const ticket: TransactionTicket = { offset: BigInt(lastOffset), bytes: 0, readyAt: 0, resolve, reject, committed };
    if (this.closed) reject(new PartitionLostError(this.transactionalId));
    else this.tickets.push(ticket);
    return ticket;
  }

  /** The chunk's output; resolves once the transaction holding it and its input offsets committed. */
  complete(
    ticket: TransactionTicket,
    outputs: TopicMessages[],
    bytes: number,
    refer?: (message: Message, err: MplpError) => TopicMessages,
  ): Promise<void> {
    ticket.outputs = outputs;
    ticket.refer = refer;
    ticket.bytes = bytes;
    ticket.readyAt = Date.now();
    this.pump();
    return ticket.committed;
  }

  /** Commit what is ready now, and from now on as soon as it is (shutdown). */
  flush(): void {
    this.flushing = true;
    this.pump();
  }

  /** Revoked or lost: chunks not yet committed are dropped (the next owner reads them again), the producer closed. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    clearTimeout(this.timer);
    for (const t of this.tickets) t.reject(new PartitionLostError(this.transactionalId));
    this.tickets = [];
    // A commit in progress ends by itself (committed, then the next owner reads its offset, or
    // fenced), or at its next step once closed; bounded, as a broker outage may hold it.
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([this.committing, new Promise((r) => (timer = setTimeout(r, 30_000)))]).catch(() => undefined);
    clearTimeout(timer);
    await this.producer?.disconnect().catch(() => undefined);
  }

  private pump(): void {
    if (this.committing || this.closed) return;
    let n = 0;
    let bytes = 0;
    let oldest = Infinity;
    for (const t of this.tickets) {
      if (!t.outputs) break;
      n++;
      bytes += t.bytes;
      oldest = Math.min(oldest, t.readyAt);
    }
    if (n === 0) return;
    const age = Date.now() - oldest;
    if (bytes < this.opts.maxBytes && age < this.opts.maxAgeMs && !this.flushing && !this.opts.pressure()) {
      this.timer ??= setTimeout(() => {
        this.timer = undefined;
        this.pump();
      }, this.opts.maxAgeMs - age);
      return;
    }
    clearTimeout(this.timer);
    this.timer = undefined;
    const batch = this.tickets.splice(0, n);
    this.committing = this.commit(batch).then(
      () => {
        this.committedTo = batch[batch.length - 1].offset + 1n;
        batch.forEach((t) => t.resolve());
      },
      (err: Error) => batch.forEach((t) => t.reject(err)),
    );
    void this.committing.finally(() => {
      this.committing = undefined;
      this.pump();
    });
  }

  /** Sends the batch's output with its input offsets in one transaction, until that commits (or the partition is lost). */
  private async commit(batch: TransactionTicket[]): Promise<void> {
    const end = batch[batch.length - 1].offset + 1n;
    let oneByOne = false;
    for (let attempt = 1; ; attempt++) {
      if (this.closed) throw new PartitionLostError(this.transactionalId);
      if (this.opts.signal.aborted) throw new CancelledError();
      try {
        if (attempt > 1 && (await this.recover(end))) return;
        await this.transact(batch, end, oneByOne);
        return;
      } catch (err) {
        if (isFenced(err)) throw new PartitionFencedError(this.transactionalId, err);
        if (this.closed) throw new PartitionLostError(this.transactionalId);
        // A record Kafka refuses for good (over the topic's max.message.bytes): next time record by
        // record, each refused one replaced by its reference in the DLQ, as without transactions.
        if (isRefusal(err)) oneByOne = true;
        const wait = backoffDelay(attempt, 200, 10_000);
        this.opts.logger.warn(
          { err, transactionalId: this.transactionalId, attempt, waitMs: wait },
          'transaction failed; nothing of it is committed, its output goes again in a new transaction',
        );
        await delay(wait, this.opts.signal);
      }
    }
  }

  /**
   * After a failed transaction: a new producer (its init aborts what the failed one left open, or
   * completes its commit), then the committed offset says what happened. At the batch's end: the
   * commit went through (true). Where this owner left it: nothing of it did, send it again (false).
   * Anywhere else: another owner moved it, the partition is not ours.
   */
  private async recover(end: bigint): Promise<boolean> {
    await this.producer?.disconnect().catch(() => undefined);
    if (this.closed) throw new PartitionLostError(this.transactionalId);
    this.producer = await this.newProducer();
    if (this.closed) throw new PartitionLostError(this.transactionalId);
    const committed = await this.opts.committedOffset(this.topic, this.partition);
    if (committed === end) return true;
    if (this.committedTo === undefined || committed === this.committedTo) return false;
    throw new PartitionFencedError(this.transactionalId, new Error(`committed offset ${committed} moved by another owner`));
  }

  private async transact(batch: TransactionTicket[], end: bigint, oneByOne: boolean): Promise<void> {
    const tx = await this.producer!.transaction();
    try {
      if (oneByOne) await sendOneByOne(tx, batch);
      else
        for (const topicMessages of splitByBytes(
          batch.flatMap((t) => t.outputs!),
          this.opts.maxRequestBytes,
        ))
          await tx.sendBatch({ topicMessages, acks: -1 });
      await tx.sendOffsets({
        consumerGroupId: this.opts.groupId,
        topics: [{ topic: this.topic, partitions: [{ partition: this.partition, offset: end.toString() }] }],
      });
      await tx.commit();
    } catch (err) {
      if (!isFenced(err) && tx.isActive()) await tx.abort().catch(() => undefined);
      throw err;
    }
  }

  private async newProducer(): Promise<Producer> {
    const producer = this.opts.kafka.producer({
      transactionalId: this.transactionalId,
      idempotent: true,
      maxInFlightRequests: 1,
      allowAutoTopicCreation: false,
      // Java-compatible murmur2, as the at-least-once producers: a trace id lands in the same partition.
      createPartitioner: Partitioners.DefaultPartitioner,
      // Unlimited retries (an idempotent producer's); a transaction that still fails is aborted and sent again.
      retry: { initialRetryTime: this.opts.retryBackoffMs, retries: Number.MAX_SAFE_INTEGER, maxRetryTime: 10_000 },
    });
    await producer.connect();
    try {
      // kafkajs sends InitProducerId for the transactional.id at its first transaction; an empty one ends locally.
      const tx = await producer.transaction();
      await tx.abort();
    } catch (err) {
      await producer.disconnect().catch(() => undefined);
      throw err;
    }
    return producer;
  }
}

/** Each message in a sendBatch of its own; one refused for good is replaced by its ticket's reference (itself refused: thrown). */
async function sendOneByOne(tx: Transaction, batch: TransactionTicket[]): Promise<void> {
  for (const t of batch)
    for (const { topic, messages } of t.outputs!)
      for (const m of messages) {
        try {
          await tx.sendBatch({ topicMessages: [{ topic, messages: [m] }], acks: -1 });
        } catch (err) {
          if (!isRefusal(err) || !t.refer) throw err;
          await tx.sendBatch({ topicMessages: [t.refer(m, classifyKafkaError(err, 'produce'))], acks: -1 });
        }
      }
}

/** Kafka refused a record for good (not a fence, not something a retry fixes). */
function isRefusal(err: unknown): boolean {
  return !isFenced(err) && hasType(err, ['MESSAGE_TOO_LARGE', 'RECORD_LIST_TOO_LARGE', 'INVALID_RECORD', 'CORRUPT_MESSAGE']);
}

/** Every input partition's transactions in this process, keyed by the partition's assignment. */
export class TransactionalOutput<K extends object> {
  private readonly byPartition = new Map<K, PartitionTransactions>();
  /** Closing by transactional.id: the partition taken again here waits for its previous transactions to end. */
  private readonly closing = new Map<string, Promise<void>>();

  constructor(private readonly opts: TransactionalOutputOptions) {}

  /** The partition became ours: its producer is initialized (fencing the previous owner) before this resolves. */
  async open(key: K, topic: string, partition: number): Promise<void> {
    const txns = new PartitionTransactions(topic, partition, this.opts);
    await this.closing.get(txns.transactionalId);
    await txns.open();
    this.byPartition.set(key, txns);
  }

  of(key: K): PartitionTransactions | undefined {
    return this.byPartition.get(key);
  }

  close(key: K): void {
    const txns = this.byPartition.get(key);
    if (!txns) return;
    this.byPartition.delete(key);
    const closed = txns.close();
    this.closing.set(txns.transactionalId, closed);
    void closed.finally(() => {
      if (this.closing.get(txns.transactionalId) === closed) this.closing.delete(txns.transactionalId);
    });
  }

  flush(): void {
    for (const t of this.byPartition.values()) t.flush();
  }

  async closeAll(): Promise<void> {
    for (const key of [...this.byPartition.keys()]) this.close(key);
    await Promise.allSettled([...this.closing.values()]);
  }
}
