import { Partitioners } from 'kafkajs';
import type { Kafka, Message, Producer } from 'kafkajs';
import { classifyKafkaError, ConfigError, MplpError } from './errors';
import type { Logger } from './logger';
import type { SharedConfig } from './settings';

export interface TopicMessages {
  topic: string;
  messages: Message[];
}

/**
 * Where a worker's output goes (ingest: validated batches and dead letters; the receiver: raw
 * spans), acknowledged by every in-sync replica (acks=all) before send() resolves. Two
 * implementations behind one interface: kafkajs, and librdkafka through
 * @confluentinc/kafka-javascript (MPLP_INGEST_PRODUCER, MPLP_RECEIVER_PRODUCER).
 */
export interface OutputProducer {
  /** Which client: shown in the startup log and by bench:ingest. */
  readonly kind: 'kafkajs' | 'librdkafka';
  connect(): Promise<void>;
  /**
   * Resolves once every message is acknowledged; rejects if any is not (the caller retries the lot).
   * The rejection's details.delivered (see deliveredOf), when known, says which messages, in the
   * order given, were acknowledged all the same.
   */
  send(batch: TopicMessages[]): Promise<void>;
  disconnect(): Promise<void>;
}

/** What differs between the workers that produce through an OutputProducer. */
export interface OutputProducerOptions {
  /** The setting that chose the client, named when that choice cannot be served. */
  setting?: string;
  /** Suffix of the client id (`<MPLP_KAFKA_CLIENT_ID>-<role>`). */
  role?: string;
  /**
   * kafkajs: an idempotent producer (one request in flight, retries bounded: the caller's
   * deadline decides) instead of five requests in flight without idempotence.
   */
  idempotent?: boolean;
  /** librdkafka properties that replace the defaults of librdkafkaConfig. */
  librdkafka?: Record<string, unknown>;
  /** librdkafka: connect() fails after this long without the cluster's metadata (librdkafka's default: 30 s). */
  connectTimeoutMs?: number;
}

export class KafkajsOutputProducer implements OutputProducer {
  readonly kind = 'kafkajs';
  private readonly producer: Producer;
  /** maxRequestBytes: what one sendBatch may carry (the topics' max.message.bytes); see send. */
  constructor(
    kafka: Kafka,
    private readonly maxRequestBytes = 8 * 1024 * 1024,
    idempotent = false,
  ) {
    // The default (Java-compatible murmur2) partitioner: the same trace id lands in the same partition whoever produces it.
    this.producer = kafka.producer({
      allowAutoTopicCreation: false,
      createPartitioner: Partitioners.DefaultPartitioner,
      ...(idempotent
        ? { idempotent: true, maxInFlightRequests: 1, retry: { retries: 5, initialRetryTime: 100, maxRetryTime: 1000 } }
        : { maxInFlightRequests: 5 }),
    });
  }
  connect(): Promise<void> {
    return this.producer.connect();
  }
  /**
   * kafkajs writes all the messages of one sendBatch for a partition as one record batch, which
   * the broker refuses whole past the topic's max.message.bytes: the messages go in sendBatch calls
   * of at most maxRequestBytes each (together, whatever partition they land in).
   */
  async send(batch: TopicMessages[]): Promise<void> {
    const groups = splitByBytes(batch, this.maxRequestBytes);
    const results = await Promise.allSettled(groups.map((topicMessages) => this.producer.sendBatch({ topicMessages, acks: -1 })));
    const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (!failed) return;
    // Groups keep the order of the messages, so the flags line up with the messages as given.
    const delivered = results.flatMap((r, g) => groups[g].flatMap((t) => t.messages.map(() => r.status === 'fulfilled')));
    throw withDelivered(classifyKafkaError(failed.reason, 'produce'), delivered);
  }
  disconnect(): Promise<void> {
    return this.producer.disconnect();
  }
}

/** Which messages of a failed send were acknowledged all the same (undefined: not known). */
export function deliveredOf(err: unknown): boolean[] | undefined {
  const d = err instanceof MplpError ? err.details?.delivered : undefined;
  return Array.isArray(d) ? (d as boolean[]) : undefined;
}

function withDelivered(err: MplpError, delivered: boolean[]): MplpError {
  return new MplpError(err.code, err.message, {
    disposition: err.disposition,
    cause: err.cause ?? err,
    retryAfterMs: err.retryAfterMs,
    details: { ...err.details, delivered },
  });
}

/** Splits topic messages into groups of at most maxBytes of keys and values (a larger message goes alone). */
export function splitByBytes(batch: TopicMessages[], maxBytes: number): TopicMessages[][] {
  const groups: TopicMessages[][] = [];
  let cur: TopicMessages[] = [];
  let size = 0;
  for (const t of batch) {
    let msgs: TopicMessages['messages'] = [];
    for (const m of t.messages) {
      const len = lengthOf(m.value) + lengthOf(m.key) + 64;
      if (size > 0 && size + len > maxBytes) {
        if (msgs.length) cur.push({ topic: t.topic, messages: msgs });
        groups.push(cur);
        cur = [];
        msgs = [];
        size = 0;
      }
      msgs.push(m);
      size += len;
    }
    if (msgs.length) cur.push({ topic: t.topic, messages: msgs });
  }
  if (cur.length) groups.push(cur);
  return groups;
}

function lengthOf(v: Message['value'] | Message['key']): number {
  if (v === null || v === undefined) return 0;
  return typeof v === 'string' ? Buffer.byteLength(v) : v.length;
}

/** The part of @confluentinc/kafka-javascript's node-rdkafka-style API used here (it is an optional dependency). */
interface RdError extends Error {
  code: number;
  isFatal?: boolean;
  isRetriable?: boolean;
}
interface RdProducer {
  connect(opts: unknown, cb: (err: RdError | null) => void): void;
  disconnect(timeout: number, cb: (err: RdError | null) => void): void;
  flush(timeout: number, cb: (err: RdError | null) => void): void;
  produce(
    topic: string,
    partition: number | null,
    value: Buffer | null,
    key: Buffer | string | null | undefined,
    timestamp: number | undefined,
    opaque: unknown,
    headers?: Record<string, Buffer | string>[],
  ): boolean;
  setPollInterval(ms: number): void;
  on(event: 'delivery-report', cb: (err: RdError | null, report: { opaque: unknown }) => void): void;
  on(event: 'event.error', cb: (err: RdError) => void): void;
}
interface RdModule {
  Producer: new (conf: Record<string, unknown>, topicConf?: Record<string, unknown>) => RdProducer;
  librdkafkaVersion: string;
  features: string[];
}

/** The native client, or why it is not available (not installed, or its addon failed to build). */
export function loadLibrdkafka(): { module?: RdModule; error?: string } {
  try {
    return { module: require('@confluentinc/kafka-javascript') as RdModule };
  } catch (err) {
    return { error: (err as Error).message.split('\n')[0] };
  }
}

/** librdkafka's settings for the shared MPLP_KAFKA_* ones. */
export function librdkafkaConfig(shared: SharedConfig, features: string[], opts: OutputProducerOptions = {}): Record<string, unknown> {
  const setting = opts.setting ?? 'MPLP_INGEST_PRODUCER';
  const conf: Record<string, unknown> = {
    'bootstrap.servers': shared.kafkaBrokers.join(','),
    'client.id': `${shared.kafkaClientId}-${opts.role ?? 'ingest'}`,
    'socket.connection.setup.timeout.ms': Math.max(1000, shared.kafkaConnectionTimeoutMs),
    acks: 'all',
    // No duplicates or reordering from librdkafka's own retries.
    'enable.idempotence': true,
    // Java's murmur2 for keyed records, as kafkajs' DefaultPartitioner: a trace id goes to the same
    // partition whichever client produced it (checked by an integration test).
    partitioner: 'murmur2_random',
    // A few ms of batching: with one record per trace, fewer and larger produce requests cost the
    // broker less CPU (measured: broker CPU 15-20% of a core at linger 0-2 ms, 12-13% at 5 ms).
    'linger.ms': 5,
    'batch.size': 1_000_000,
    'message.max.bytes': 9 * 1024 * 1024,
    'queue.buffering.max.kbytes': 65_536, // far above what MPLP_INGEST_MAX_IN_FLIGHT_BYTES lets through
    dr_cb: true,
    ...opts.librdkafka,
  };
  const sasl = shared.kafkaSaslMechanism !== 'none';
  if (shared.kafkaSsl || sasl) conf['security.protocol'] = `${sasl ? 'sasl_' : ''}${shared.kafkaSsl ? 'ssl' : 'plaintext'}`;
  if (shared.kafkaSsl) {
    if (!features.includes('ssl')) throw new ConfigError(setting, 'this librdkafka build has no TLS support; use kafkajs');
    if (shared.kafkaSslCaFile) conf['ssl.ca.location'] = shared.kafkaSslCaFile;
    if (!shared.kafkaSslRejectUnauthorized) conf['enable.ssl.certificate.verification'] = false;
  }
  if (sasl) {
    if (!features.includes('sasl')) throw new ConfigError(setting, 'this librdkafka build has no SASL support; use kafkajs');
    conf['sasl.mechanisms'] = { plain: 'PLAIN', 'scram-sha-256': 'SCRAM-SHA-256', 'scram-sha-512': 'SCRAM-SHA-512' }[
      shared.kafkaSaslMechanism
    ];
    conf['sasl.username'] = shared.kafkaSaslUsername;
    conf['sasl.password'] = shared.kafkaSaslPassword;
  }
  return conf;
}

interface Pending {
  left: number;
  delivered: boolean[];
  failure?: RdError;
  resolve: () => void;
  reject: (err: Error) => void;
}

/**
 * librdkafka's producer. Measured on this project's 2-core box: kafkajs spends ~33 µs of CPU per
 * produced record (record encoding, CRC-32C and murmur2 in JavaScript, many small buffers), about
 * 40% of ingest's CPU at one record per trace; librdkafka does that work in C on its own threads
 * (~15 µs per record in all, measured the same way). Records of one send() share an id; it
 * resolves when all are delivered, and rejects once all have reported if any failed, saying which
 * were delivered (the caller sends again what was not: at-least-once, like the kafkajs path).
 */
export class LibrdkafkaOutputProducer implements OutputProducer {
  readonly kind = 'librdkafka';
  private producer?: RdProducer;
  /** A session still connecting (a broker that is away can keep it so for a long time): disconnect() ends it too. */
  private connecting?: RdProducer;
  private readonly pending = new Map<number, Pending>();
  private nextId = 0;
  private errorLoggedAt = 0;

  constructor(
    private readonly rd: RdModule,
    private readonly conf: Record<string, unknown>,
    private readonly logger: Logger,
    private readonly connectTimeoutMs?: number,
  ) {}

  async connect(): Promise<void> {
    const producer = new this.rd.Producer(this.conf);
    this.connecting = producer;
    producer.on('delivery-report', (err, report) => this.delivered(err, report.opaque as { id: number; i: number }));
    producer.on('event.error', (err) => {
      // librdkafka reports transient trouble (a broker down, a reconnect) here too, and keeps
      // retrying by itself: one line per 10 s of it, every fatal one.
      const now = Date.now();
      if (err.isFatal || now - this.errorLoggedAt > 10_000) {
        this.errorLoggedAt = now;
        this.logger[err.isFatal ? 'error' : 'warn'](
          { err: { message: err.message, code: err.code, fatal: err.isFatal } },
          'librdkafka producer error',
        );
      }
      // A fatal error (for example a broken idempotence sequence) ends this producer instance:
      // fail what is pending so it is sent again through a fresh one.
      if (err.isFatal) void this.replace(err);
    });
    await new Promise<void>((resolve, reject) =>
      producer.connect(this.connectTimeoutMs ? { timeout: this.connectTimeoutMs } : {}, (err) =>
        err
          ? reject(
              new MplpError('kafka_unavailable', `librdkafka producer could not connect: ${err.message}`, {
                disposition: 'retryable',
                cause: err,
              }),
            )
          : resolve(),
      ),
    );
    if (this.connecting !== producer) {
      // disconnect() was called while this session was connecting.
      producer.disconnect(1000, () => undefined);
      throw new MplpError('kafka_unavailable', 'producer closed while connecting', { disposition: 'retryable' });
    }
    this.connecting = undefined;
    // Delivery reports are handed to JavaScript when polled; 5 ms bounds the wait for an ack.
    producer.setPollInterval(5);
    this.producer = producer;
  }

  /** Every record's report is awaited, so a failed send can say which of its records were delivered. */
  private delivered(err: RdError | null, { id, i }: { id: number; i: number }): void {
    const p = this.pending.get(id);
    if (!p) return;
    if (err) p.failure ??= err;
    else p.delivered[i] = true;
    if (--p.left > 0) return;
    this.pending.delete(id);
    if (p.failure) p.reject(withDelivered(rdError(p.failure, 'produce'), p.delivered));
    else p.resolve();
  }

  private async replace(err: RdError): Promise<void> {
    const old = this.producer;
    this.producer = undefined;
    for (const [id, p] of this.pending) {
      this.pending.delete(id);
      p.reject(rdError(err, 'produce'));
    }
    if (old) old.disconnect(1000, () => undefined);
    try {
      await this.connect();
    } catch (e) {
      this.logger.error({ err: e }, 'librdkafka producer could not be recreated; sends fail until it can');
    }
  }

  send(batch: TopicMessages[]): Promise<void> {
    const producer = this.producer;
    if (!producer)
      return Promise.reject(new MplpError('kafka_unavailable', 'librdkafka producer not connected', { disposition: 'retryable' }));
    let total = 0;
    for (const t of batch) total += t.messages.length;
    if (total === 0) return Promise.resolve();
    const id = ++this.nextId;
    return new Promise<void>((resolve, reject) => {
      this.pending.set(id, { left: total, delivered: new Array<boolean>(total).fill(false), resolve, reject });
      let i = 0;
      try {
        for (const t of batch) {
          for (const m of t.messages) {
            const headers = m.headers ? Object.entries(m.headers).map(([k, v]) => ({ [k]: v as Buffer | string })) : undefined;
            producer.produce(
              t.topic,
              null,
              (m.value as Buffer | null) ?? null,
              m.key as Buffer | string | null | undefined,
              undefined,
              { id, i: i++ },
              headers,
            );
          }
        }
      } catch (err) {
        // Queue full or a local refusal: records already queued still report, but this send has failed.
        this.pending.delete(id);
        reject(rdError(err as RdError, 'produce'));
      }
    });
  }

  async disconnect(): Promise<void> {
    const connecting = this.connecting;
    this.connecting = undefined;
    // Not awaited: librdkafka ends a connecting session only once its connect attempt is over.
    if (connecting) connecting.disconnect(1000, () => undefined);
    const producer = this.producer;
    if (!producer) return;
    this.producer = undefined;
    await new Promise<void>((resolve) => producer.flush(10_000, () => resolve()));
    await new Promise<void>((resolve) => producer.disconnect(5_000, () => resolve()));
    for (const [id, p] of this.pending) {
      this.pending.delete(id);
      p.reject(new MplpError('kafka_unavailable', 'producer closed before delivery', { disposition: 'retryable' }));
    }
  }
}

/** librdkafka error codes that no retry will fix: corrupt, too large, invalid record, authorization, authentication. */
const PERMANENT = new Set([2, 10, 18, 29, 31, 58, 87, -169]);

function rdError(err: RdError, what: string): MplpError {
  if (err instanceof MplpError) return err;
  const message = `${what} failed: ${err.message} (librdkafka code ${err.code})`;
  if (PERMANENT.has(err.code)) return new MplpError('kafka_record_rejected', message, { disposition: 'permanent', cause: err });
  // -184 queue full, -185 timed out and the rest are transient on a healthy cluster.
  return new MplpError('kafka_unavailable', message, { disposition: 'retryable', cause: err });
}

/**
 * The producer MPLP_INGEST_PRODUCER (or opts.setting) asks for. `auto` takes librdkafka when its
 * addon loads and kafkajs otherwise (logged, so a benchmark says which one it measured).
 */
export function createOutputProducer(
  choice: 'auto' | 'librdkafka' | 'kafkajs',
  kafka: Kafka,
  shared: SharedConfig,
  logger: Logger,
  maxRecordBytes?: number,
  opts: OutputProducerOptions = {},
): OutputProducer {
  const kafkajs = () => new KafkajsOutputProducer(kafka, maxRecordBytes, opts.idempotent);
  if (choice === 'kafkajs') return kafkajs();
  const rd = loadLibrdkafka();
  if (!rd.module) {
    if (choice === 'librdkafka')
      throw new ConfigError(
        opts.setting ?? 'MPLP_INGEST_PRODUCER',
        `librdkafka is not available (${rd.error}); install @confluentinc/kafka-javascript or use kafkajs`,
      );
    logger.warn({ reason: rd.error }, 'librdkafka not available; producing with kafkajs');
    return kafkajs();
  }
  try {
    return new LibrdkafkaOutputProducer(rd.module, librdkafkaConfig(shared, rd.module.features, opts), logger, opts.connectTimeoutMs);
  } catch (err) {
    if (choice === 'librdkafka') throw err;
    logger.warn({ reason: (err as Error).message }, 'librdkafka cannot serve these settings; producing with kafkajs');
    return kafkajs();
  }
}
