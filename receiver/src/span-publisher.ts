import { Kafka, Partitioners, Producer } from 'kafkajs';
import { classifyKafkaError, Logger, MplpError } from '../../shared/src';
import type { TraceRecord } from './otlp-payload';

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

  constructor(private readonly opts: SpanPublisherOptions) {}

  /** Connected and not cooling down after a failure. */
  get ready(): boolean { return !this.closed && this.producer !== undefined && Date.now() >= this.unavailableUntil; }

  /** Connects now so the first export does not pay for it; a broker that is away is not fatal (exports get 503 until it is back). */
  async start(): Promise<void> {
    try { await this.connected(); } catch (err) { this.fail(err); this.opts.logger.warn({ err: (err as Error).message }, 'Kafka not reachable at start; exports are refused with 503 until it is'); }
  }

  async publish(records: TraceRecord[]): Promise<void> {
    if (records.length === 0) return;
    const { cooldownMs } = this.opts;
    if (this.closed) throw new KafkaUnavailableError('receiver shutting down', cooldownMs);
    if (Date.now() < this.unavailableUntil) throw new KafkaUnavailableError(`Kafka unavailable (${this.lastError}); retry later`, this.unavailableUntil - Date.now());
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`not acknowledged within ${this.opts.timeoutMs} ms (MPLP_RECEIVER_KAFKA_TIMEOUT)`)), this.opts.timeoutMs);
    });
    try {
      await Promise.race([this.send(records), deadline]);
    } catch (err) {
      this.fail(err);
      throw new KafkaUnavailableError(`Kafka did not take the export: ${this.lastError}`, cooldownMs, err);
    } finally {
      clearTimeout(timer);
    }
  }

  private async send(records: TraceRecord[]): Promise<void> {
    const producer = await this.connected();
    await producer.send({ topic: this.opts.topic, acks: -1, messages: records.map((r) => ({ key: r.key, value: r.value, headers: { 'content-type': r.contentType } })) });
  }

  private connected(): Promise<Producer> {
    if (!this.producer) {
      const producer = this.opts.kafka.producer({
        idempotent: true, maxInFlightRequests: 1, allowAutoTopicCreation: false, createPartitioner: Partitioners.DefaultPartitioner,
        // Bounded, unlike kafkajs' idempotent default (retry forever): the export's deadline decides, and a failed session is replaced.
        retry: { retries: 5, initialRetryTime: 100, maxRetryTime: 1000 },
      });
      this.client = producer;
      this.producer = producer.connect().then(() => producer, (err) => { throw classifyKafkaError(err, 'connect producer'); });
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
