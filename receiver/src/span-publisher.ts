import type { Admin, Kafka } from 'kafkajs';
import { classifyKafkaError, Logger, MplpError } from '../../shared/src';
import type { OutputProducer } from '../../shared/src/output-producer';
import type { TraceRecord } from './otlp-payload';

/** How long the raw topic's partition count is trusted before it is fetched again (in the background). */
const PARTITIONS_MAX_AGE_MS = 30_000;

/** Bytes of records per produce request when exports are coalesced (one export alone may be larger). */
const MAX_PRODUCE_BYTES = 8 * 1024 * 1024;

interface Pending {
  records: TraceRecord[];
  bytes: number;
  cancelled: boolean;
  resolve: () => void;
  reject: (err: unknown) => void;
}

export interface SpanPublisherOptions {
  kafka: Kafka;
  topic: string;
  /** A new producer session (kafkajs idempotent, or librdkafka), not yet connected. */
  createProducer: () => OutputProducer;
  /** Exports are grouped by partition: the topic's partition count is fetched at start. */
  partitioned: boolean;
  /** An export waits this long for the acknowledgement, then is answered "unavailable". */
  timeoutMs: number;
  /** After a failed produce, exports are refused at once for this long (the Retry-After given). */
  cooldownMs: number;
  logger: Logger;
}

/** Kafka is down or slow: the client should retry after `retryAfterMs` (503 / UNAVAILABLE). */
export class KafkaUnavailableError extends MplpError {
  constructor(message: string, retryAfterMs: number, cause?: unknown) {
    super('kafka_unavailable', message, { disposition: 'retryable', retryAfterMs, cause });
  }
}

/**
 * Produces the records of one export to the raw topic and resolves only once Kafka acknowledged
 * all of them from every in-sync replica (idempotent producer, acks=all). A produce that fails or
 * outlives its deadline throws KafkaUnavailableError. A kafkajs session is then discarded: the
 * next export starts a new idempotent session, so the broker can never take it for a retry of a
 * batch whose acknowledgement was lost and drop it as a duplicate (librdkafka handles that itself,
 * bumping its epoch, and keeps its session). Until the cooldown passes, exports are refused at
 * once instead of queueing behind a broker that is away.
 */
export class SpanPublisher {
  private producer?: Promise<OutputProducer>;
  /** The session behind `producer`, so it can be disconnected while it is still connecting. */
  private client?: OutputProducer;
  private admin?: Admin;
  private partitionCount?: { count: number; at: number; refreshing?: Promise<number> };
  /** The first fetch of the partition count, shared by the exports that wait for it. */
  private firstFetch?: Promise<number>;
  private unavailableUntil = 0;
  private lastError = '';
  private closed = false;
  private readonly queue: Pending[] = [];
  private flushing = false;

  constructor(private readonly opts: SpanPublisherOptions) {}

  /**
   * Not cooling down after a failure. It does not wait for a connection: a receiver taken out of
   * its load balancer would never get the export that reconnects it.
   */
  get ready(): boolean {
    return !this.closed && Date.now() >= this.unavailableUntil;
  }

  /** Connects now so the first export does not pay for it; a broker that is away is not fatal (exports get 503 until it is back). */
  async start(): Promise<void> {
    try {
      await this.withDeadline(Promise.all([this.connected(), this.opts.partitioned ? this.partitions() : undefined]));
    } catch (err) {
      this.fail(err);
      this.opts.logger.warn({ err: (err as Error).message }, 'Kafka not reachable at start; exports are refused with 503 until it is');
    }
  }

  /** The producer kind in use (known once a session was created). */
  get kind(): OutputProducer['kind'] | undefined {
    return this.client?.kind;
  }

  private refuseIfAway(): void {
    const { cooldownMs } = this.opts;
    if (this.closed) throw new KafkaUnavailableError('receiver shutting down', cooldownMs);
    if (Date.now() < this.unavailableUntil)
      throw new KafkaUnavailableError(`Kafka unavailable (${this.lastError}); retry later`, this.unavailableUntil - Date.now());
  }

  /**
   * The raw topic's partition count, to group an export's traces by the partition they go to.
   * Fetched once, then again in the background every PARTITIONS_MAX_AGE_MS, so partitions added to
   * the topic are followed as the producers themselves follow them (they refresh metadata too).
   */
  async partitions(): Promise<number> {
    this.refuseIfAway();
    const known = this.partitionCount;
    if (known && Date.now() - known.at < PARTITIONS_MAX_AGE_MS) return known.count;
    if (known) {
      known.refreshing ??= this.fetchPartitions().catch(() => {
        known.at = Date.now();
        known.refreshing = undefined;
        return known.count;
      });
      return known.count;
    }
    this.firstFetch ??= this.fetchPartitions().finally(() => (this.firstFetch = undefined));
    try {
      return await this.withDeadline(this.firstFetch);
    } catch (err) {
      this.fail(err);
      throw new KafkaUnavailableError(`Kafka did not answer the metadata request: ${this.lastError}`, this.opts.cooldownMs, err);
    }
  }

  private async fetchPartitions(): Promise<number> {
    try {
      if (!this.admin) {
        const admin = this.opts.kafka.admin();
        this.admin = admin;
        await admin.connect();
      }
      const meta = await this.admin.fetchTopicMetadata({ topics: [this.opts.topic] });
      const count = meta.topics[0]?.partitions.length ?? 0;
      if (count < 1) throw new Error(`topic ${this.opts.topic} has no partitions`);
      this.partitionCount = { count, at: Date.now() };
      return count;
    } catch (err) {
      const admin = this.admin;
      this.admin = undefined;
      await admin?.disconnect().catch(() => undefined);
      throw classifyKafkaError(err, 'fetch metadata');
    }
  }

  private async withDeadline<T>(work: Promise<T>): Promise<T> {
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(new Error(`not acknowledged within ${this.opts.timeoutMs} ms (MPLP_RECEIVER_KAFKA_TIMEOUT)`)),
        this.opts.timeoutMs,
      );
    });
    try {
      return await Promise.race([work, deadline]);
    } finally {
      clearTimeout(timer);
    }
  }

  async publish(records: TraceRecord[]): Promise<void> {
    if (records.length === 0) return;
    this.refuseIfAway();
    const sent = this.send(records);
    try {
      await this.withDeadline(sent.done);
    } catch (err) {
      sent.cancel();
      this.fail(err);
      throw new KafkaUnavailableError(`Kafka did not take the export: ${this.lastError}`, this.opts.cooldownMs, err);
    }
  }

  /** Queues the records for the next produce; resolves when Kafka acknowledged them. */
  private send(records: TraceRecord[]): { done: Promise<void>; cancel: () => void } {
    const entry = { records, bytes: records.reduce((n, r) => n + r.value.length, 0), cancelled: false } as Pending;
    const done = new Promise<void>((resolve, reject) => {
      entry.resolve = resolve;
      entry.reject = reject;
    });
    this.queue.push(entry);
    if (!this.flushing) void this.flush();
    return {
      done,
      cancel: () => {
        entry.cancelled = true;
      },
    };
  }

  /**
   * kafkajs serializes idempotent produce requests per broker, so concurrent exports each sending
   * their own request would queue one behind the other. Instead, while one produce is in flight
   * the next exports wait here and go out together in the following request (up to
   * MAX_PRODUCE_BYTES), and each is answered when that request is acknowledged. An export whose
   * deadline passed while it waited is left out, so the client's retry does not duplicate it.
   * librdkafka batches by itself (linger.ms) with several requests in flight: its exports are
   * handed over at once.
   */
  private async flush(): Promise<void> {
    this.flushing = true;
    try {
      while (this.queue.length > 0) {
        const batch: Pending[] = [];
        let bytes = 0;
        while (this.queue.length > 0 && (batch.length === 0 || bytes + this.queue[0].bytes <= MAX_PRODUCE_BYTES)) {
          const e = this.queue.shift()!;
          if (e.cancelled) continue;
          batch.push(e);
          bytes += e.bytes;
        }
        if (batch.length === 0) continue;
        try {
          const producer = await this.connected();
          const messages = batch.flatMap((e) =>
            e.records.map((r) => ({ key: r.key, value: r.value, headers: { 'content-type': r.contentType } })),
          );
          const sent = producer.send([{ topic: this.opts.topic, messages }]).then(
            () => batch.forEach((e) => e.resolve()),
            (err) => batch.forEach((e) => e.reject(err)),
          );
          if (producer.kind === 'kafkajs') await sent;
        } catch (err) {
          for (const e of batch) e.reject(err);
        }
      }
    } finally {
      this.flushing = false;
    }
  }

  private connected(): Promise<OutputProducer> {
    if (!this.producer) {
      const producer = this.opts.createProducer();
      this.client = producer;
      const connecting = producer.connect().then(
        () => producer,
        (err) => {
          // A session that never connected is of no further use, whatever its kind.
          if (this.producer === connecting) this.producer = undefined;
          if (this.client === producer) this.client = undefined;
          throw classifyKafkaError(err, 'connect producer');
        },
      );
      this.producer = connecting;
      connecting.catch(() => undefined);
    }
    return this.producer;
  }

  private fail(err: unknown): void {
    this.lastError = (err as Error).message ?? String(err);
    this.unavailableUntil = Date.now() + this.opts.cooldownMs;
    if (this.client?.kind === 'kafkajs') void this.discard();
  }

  /** Disconnects the current session, also one still connecting (its retries stop with it). */
  private discard(): Promise<void> {
    const old = this.client;
    this.client = undefined;
    this.producer = undefined;
    return old ? old.disconnect().catch(() => undefined) : Promise.resolve();
  }

  async stop(): Promise<void> {
    this.closed = true;
    const admin = this.admin;
    this.admin = undefined;
    await Promise.all([this.discard(), admin?.disconnect().catch(() => undefined)]);
  }
}
