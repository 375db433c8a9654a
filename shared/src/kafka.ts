import { readFileSync } from 'node:fs';
import { Kafka, KafkaConfig, logLevel as KafkaLogLevel, SASLOptions, Admin, ITopicConfig, ISocketFactory } from 'kafkajs';
import type { Logger } from './logger';
import type { SharedConfig } from './settings';
import { ConfigError, MplpError, classifyKafkaError } from './errors';
import { registerKafkaCodecs } from './kafka-codecs';
import { retry } from './retry';

type KafkaSettings = Pick<
  SharedConfig,
  | 'kafkaBrokers'
  | 'kafkaClientId'
  | 'kafkaSsl'
  | 'kafkaSslCaFile'
  | 'kafkaSslRejectUnauthorized'
  | 'kafkaSaslMechanism'
  | 'kafkaSaslUsername'
  | 'kafkaSaslPassword'
  | 'kafkaConnectionTimeoutMs'
> &
  Partial<Pick<SharedConfig, 'kafkaMaxDecompressedBatchBytes' | 'kafkaMaxStandInRecords'>>;

/** Routes kafkajs' own logging into pino (warn and above: kafkajs is chatty at info). */
function kafkaLogCreator(logger: Logger) {
  return () =>
    ({ level, log }: { level: number; log: { message: string; [k: string]: unknown } }) => {
      const { message, timestamp: _t, logger: _l, ...rest } = log;
      if (level <= KafkaLogLevel.ERROR) logger.error({ kafka: rest }, message);
      else if (level <= KafkaLogLevel.WARN) logger.warn({ kafka: rest }, message);
      else logger.debug({ kafka: rest }, message);
    };
}

export function kafkaClientConfig(cfg: KafkaSettings, clientSuffix: string, logger?: Logger): KafkaConfig {
  let sasl: SASLOptions | undefined;
  if (cfg.kafkaSaslMechanism !== 'none') {
    if (!cfg.kafkaSaslUsername)
      throw new ConfigError('MPLP_KAFKA_SASL_USERNAME', `required when MPLP_KAFKA_SASL_MECHANISM=${cfg.kafkaSaslMechanism}`);
    sasl = { mechanism: cfg.kafkaSaslMechanism, username: cfg.kafkaSaslUsername, password: cfg.kafkaSaslPassword } as SASLOptions;
  }
  let ssl: KafkaConfig['ssl'] = cfg.kafkaSsl;
  if (cfg.kafkaSsl && (cfg.kafkaSslCaFile || !cfg.kafkaSslRejectUnauthorized)) {
    ssl = { rejectUnauthorized: cfg.kafkaSslRejectUnauthorized };
    if (cfg.kafkaSslCaFile) {
      try {
        ssl.ca = [readFileSync(cfg.kafkaSslCaFile, 'utf8')];
      } catch (err) {
        throw new ConfigError('MPLP_KAFKA_SSL_CA_FILE', `cannot read ${cfg.kafkaSslCaFile}: ${(err as Error).message}`);
      }
    }
  }
  return {
    clientId: `${cfg.kafkaClientId}-${clientSuffix}`,
    brokers: cfg.kafkaBrokers,
    ssl,
    sasl,
    connectionTimeout: cfg.kafkaConnectionTimeoutMs,
    logLevel: logger ? KafkaLogLevel.WARN : KafkaLogLevel.NOTHING,
    logCreator: logger ? kafkaLogCreator(logger) : undefined,
    retry: { initialRetryTime: 200, retries: 8, maxRetryTime: 10_000 },
  };
}

/** What is unsafe in the Kafka settings: SASL PLAIN sends the password as it is, so without TLS anyone on the path reads it. */
export function kafkaSecurityWarnings(cfg: Pick<KafkaSettings, 'kafkaSaslMechanism' | 'kafkaSsl'>): string[] {
  if (cfg.kafkaSaslMechanism === 'plain' && !cfg.kafkaSsl) {
    return [
      'MPLP_KAFKA_SASL_MECHANISM=plain without MPLP_KAFKA_SSL=true sends the Kafka password in clear text; enable TLS or use scram-sha-512',
    ];
  }
  return [];
}

/**
 * `npm install` replaces two files of kafkajs 2.2.4 (scripts/kafkajs), and no client is made
 * without them: its read_committed filter hands consumers records of aborted transactions when a
 * fetch starts inside two or more of them (ingest's transactions: several producers per validated
 * partition), so exactly once would not be; and its request queue runs a 1 ms timer loop on every
 * connection for as long as it lives (~0.04 CPU-s per second of an idle consumer).
 */
export function assertKafkajsFixes(): void {
  const filter = require('kafkajs/src/consumer/filterAbortedMessages') as { mplpSortedAbortedTransactions?: boolean };
  const queue = require('kafkajs/src/network/requestQueue') as { mplpNoIdleTimerLoop?: boolean };
  const missing = [
    ...(filter.mplpSortedAbortedTransactions ? [] : ['read_committed']),
    ...(queue.mplpNoIdleTimerLoop ? [] : ['request queue']),
  ];
  if (missing.length)
    throw new MplpError(
      'kafkajs_unpatched',
      `kafkajs is missing its ${missing.join(' and ')} fix: run \`npm install\` (postinstall: scripts/kafkajs/patch.js)`,
      {
        disposition: 'permanent',
      },
    );
}

/**
 * The one way every process and test makes a Kafka client; unsafe settings are logged as warnings when a logger is given.
 * `socketFactory` is for tests that route a worker's connections through a proxy they can cut.
 */
export function createKafka(cfg: KafkaSettings, clientSuffix: string, logger?: Logger, socketFactory?: ISocketFactory): Kafka {
  assertKafkajsFixes();
  for (const warning of kafkaSecurityWarnings(cfg)) logger?.warn({ client: clientSuffix }, warning);
  // Process-wide in kafkajs: every client made here reads gzip, snappy, lz4 and zstd batches, bounded.
  registerKafkaCodecs(cfg.kafkaMaxDecompressedBatchBytes ?? 64 * 1024 * 1024, cfg.kafkaMaxStandInRecords);
  return new Kafka({ ...kafkaClientConfig(cfg, clientSuffix, logger), ...(socketFactory ? { socketFactory } : {}) });
}

export interface TopicSpec {
  topic: string;
  numPartitions: number;
  replicationFactor: number;
  configEntries?: ITopicConfig['configEntries'];
}

/**
 * Creates the topics that do not exist yet; existing ones are left as they are (idempotent).
 * Resolves only once the broker this admin asks lists every partition of every topic with a
 * leader, so the caller's next metadata read cannot fail: a caller that loses a create race to
 * another process gets TOPIC_ALREADY_EXISTS, which kafkajs returns without waiting for leaders,
 * and its broker may not know the topic for a few ms more (kafkajs retries only
 * LEADER_NOT_AVAILABLE, not UNKNOWN_TOPIC_OR_PARTITION).
 */
export async function ensureTopics(admin: Admin, specs: TopicSpec[], opts: TopicWaitOptions = {}): Promise<string[]> {
  let created: string[];
  try {
    const existing = new Set(await admin.listTopics());
    const missing = specs.filter((s) => !existing.has(s.topic));
    if (missing.length > 0) {
      await admin.createTopics({ topics: missing, waitForLeaders: true });
    }
    created = missing.map((s) => s.topic);
  } catch (err) {
    const e = err as { type?: string };
    if (e.type !== 'TOPIC_ALREADY_EXISTS') throw classifyKafkaError(err, 'create topics');
    created = [];
  }
  await awaitTopicLeaders(
    admin,
    specs.map((s) => s.topic),
    opts,
  );
  return created;
}

export interface TopicWaitOptions {
  /** Metadata reads before giving up (default 20: ~15 s of backoff capped at 2 s). */
  attempts?: number;
  signal?: AbortSignal;
}

/** Resolves once every partition of every topic has a leader in the metadata this admin reads. */
export async function awaitTopicLeaders(admin: Admin, topics: string[], opts: TopicWaitOptions = {}): Promise<void> {
  if (topics.length === 0) return;
  await retry(
    async () => {
      const meta = await admin.fetchTopicMetadata({ topics });
      const unled = meta.topics.filter((t) => t.partitions.length === 0 || t.partitions.some((p) => p.leader < 0));
      if (unled.length > 0) {
        throw new MplpError('kafka_topic_not_ready', `topics without a leader yet: ${unled.map((t) => t.name).join(', ')}`, {
          disposition: 'retryable',
        });
      }
    },
    {
      attempts: opts.attempts ?? 20,
      baseDelayMs: 100,
      maxDelayMs: 2_000,
      signal: opts.signal,
      classify: (err) => classifyKafkaError(err, 'read topic metadata'),
    },
  );
}

/** Topic specs of DESIGN.md. */
export function pipelineTopics(
  cfg: Pick<
    SharedConfig,
    | 'topicRaw'
    | 'topicValidated'
    | 'topicDlq'
    | 'topicMetrics'
    | 'topicAlerts'
    | 'topicSpanPartitions'
    | 'topicOtherPartitions'
    | 'topicReplication'
  >,
): TopicSpec[] {
  const span = { numPartitions: cfg.topicSpanPartitions, replicationFactor: cfg.topicReplication };
  const other = { numPartitions: cfg.topicOtherPartitions, replicationFactor: cfg.topicReplication };
  return [
    { topic: cfg.topicRaw, ...span, configEntries: [{ name: 'max.message.bytes', value: String(8 * 1024 * 1024) }] },
    { topic: cfg.topicValidated, ...span, configEntries: [{ name: 'max.message.bytes', value: String(8 * 1024 * 1024) }] },
    { topic: cfg.topicDlq, ...other, configEntries: [{ name: 'max.message.bytes', value: String(8 * 1024 * 1024) }] },
    { topic: cfg.topicMetrics, ...other },
    { topic: cfg.topicAlerts, ...other },
  ];
}

/** A consumer's session timeout and the heartbeat interval that goes with it (a third of it, at most 3 s). */
export function groupTimeouts(sessionTimeoutMs: number): { sessionTimeout: number; heartbeatInterval: number } {
  return { sessionTimeout: sessionTimeoutMs, heartbeatInterval: Math.min(3_000, Math.floor(sessionTimeoutMs / 3)) };
}
