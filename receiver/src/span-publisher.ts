import { Kafka, Partitioners, Producer } from 'kafkajs';
import { classifyKafkaError, Logger, MplpError } from '../../shared/src';
import type { TraceRecord } from './otlp-payload';

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
 * outlives its deadline throws KafkaUnavailableError, and the producer session is discarded: the
 * next export starts a new idempotent session, so the broker can never take it for a retry of a
 * batch whose acknowledgement was lost and drop it as a duplicate. Until the cooldown passes,
 * exports are refused at once instead of queueing behind a broker that is away.
 */
export class SpanPublisher {
  private producer?: Promise<Producer>;
  /** The kafkajs producer behind `producer`, so it can be disconnected while it is still connecting. */
  private client?: Producer;
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
      await this.connected();
    } catch (err) {
      this.fail(err);
      this.opts.logger.warn({ err: (err as Error).message }, 'Kafka not reachable at start; exports are refused with 503 until it is');
    }
  }

  async publish(records: TraceRecord[]): Promise<void> {
    if (records.length === 0) return;
    const { cooldownMs } = this.opts;
    if (this.closed) throw new KafkaUnavailableError('receiver shutting down', cooldownMs);
    if (Date.now() < this.unavailableUntil)
      throw new KafkaUnavailableError(`Kafka unavailable (${this.lastError}); retry later`, this.unavailableUntil - Date.now());
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(new Error(`not acknowledged within ${this.opts.timeoutMs} ms (MPLP_RECEIVER_KAFKA_TIMEOUT)`)),
        this.opts.timeoutMs,
      );
    });
    const sent = this.send(records);
    try {
      await Promise.race([sent.done, deadline]);
    } catch (err) {
      sent.cancel();
      this.fail(err);
      throw new KafkaUnavailableError(`Kafka did not take the export: ${this.lastError}`, cooldownMs, err);
    } finally {
      clearTimeout(timer);
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
          await producer.send({ topic: this.opts.topic, acks: -1, messages });
          for (const e of batch) e.resolve();
        } catch (err) {
          for (const e of batch) e.reject(err);
        }
      }
    } finally {
      this.flushing = false;
    }
  }

  private connected(): Promise<Producer> {
    if (!this.producer) {
      const producer = this.opts.kafka.producer({
        idempotent: true,
        maxInFlightRequests: 1,
        allowAutoTopicCreation: false,
        createPartitioner: Partitioners.DefaultPartitioner,
        // Bounded, unlike kafkajs' idempotent default (retry forever): the export's deadline decides, and a failed session is replaced.
        retry: { retries: 5, initialRetryTime: 100, maxRetryTime: 1000 },
      });
      this.client = producer;
      this.producer = producer.connect().then(
        () => producer,
        (err) => {
          throw classifyKafkaError(err, 'connect producer');
        },
      );
      this.producer.catch(() => undefined);
    }
    return this.producer;
  }

  private fail(err: unknown): void {
    this.lastError = (err as Error).message ?? String(err);
    this.unavailableUntil = Date.now() + this.opts.cooldownMs;
    void this.discard();
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
    await this.discard();
  }
}
