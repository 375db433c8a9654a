import { setting, Schema, ConfigOf, loadConfig, checkUnknownSettings, settingNames, Env } from './config';
import { ConfigError } from './errors';

/**
 * Settings every process shares: how to reach Kafka, Elasticsearch and S3, topic names, logging.
 * Defaults match the local cluster started by scripts/cluster/start.sh; those marked local-only
 * (S3 endpoint and keys, index replicas) are wrong anywhere else and must be set there.
 */
export const sharedSchema = {
  logLevel: setting.oneOf(
    'MPLP_LOG_LEVEL',
    'info',
    ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'] as const,
    'pino log level',
  ),
  httpHost: setting.host(
    'MPLP_HTTP_HOST',
    '127.0.0.1',
    "address every worker's /healthz /readyz /metrics server binds (0.0.0.0: every interface, for scrapers on other hosts)",
  ),

  kafkaBrokers: setting.list('MPLP_KAFKA_BROKERS', ['127.0.0.1:9092'], 'Kafka bootstrap brokers, comma separated'),
  kafkaClientId: setting.string('MPLP_KAFKA_CLIENT_ID', 'mplp', 'Kafka client id prefix', { nonEmpty: true }),
  kafkaSsl: setting.bool('MPLP_KAFKA_SSL', false, 'connect to Kafka over TLS'),
  kafkaSslCaFile: setting.string('MPLP_KAFKA_SSL_CA_FILE', '', 'PEM file of CAs to trust for Kafka TLS (empty: system CAs)'),
  kafkaSslRejectUnauthorized: setting.bool('MPLP_KAFKA_SSL_REJECT_UNAUTHORIZED', true, 'verify the Kafka broker certificate'),
  kafkaSaslMechanism: setting.oneOf(
    'MPLP_KAFKA_SASL_MECHANISM',
    'none',
    ['none', 'plain', 'scram-sha-256', 'scram-sha-512'] as const,
    'Kafka SASL mechanism',
  ),
  kafkaSaslUsername: setting.string('MPLP_KAFKA_SASL_USERNAME', '', 'Kafka SASL username'),
  kafkaSaslPassword: setting.string('MPLP_KAFKA_SASL_PASSWORD', '', 'Kafka SASL password', { secret: true }),
  kafkaConnectionTimeoutMs: setting.duration('MPLP_KAFKA_CONNECTION_TIMEOUT', 5000, 'Kafka connection timeout', { min: 100 }),
  kafkaMaxUnsettledAgeMs: setting.duration(
    'MPLP_KAFKA_MAX_UNSETTLED_AGE',
    300_000,
    'a partition whose oldest input fetched and not yet committed is older than this makes /readyz fail (a stalled partition)',
    { min: 1000 },
  ),
  kafkaMaxDecompressedBatchBytes: setting.int(
    'MPLP_KAFKA_MAX_DECOMPRESSED_BATCH_BYTES',
    64 * 1024 * 1024,
    'largest size a Kafka-compressed record batch (gzip, snappy, lz4, zstd) may expand to when read; a larger one is refused before it is inflated',
    { min: 65536 },
  ),
  kafkaMaxStandInRecords: setting.int(
    'MPLP_KAFKA_MAX_STAND_IN_RECORDS',
    10_000,
    'a refused Kafka batch (too large or corrupt) of up to this many records becomes one dead letter per record; a batch of more becomes one dead letter naming its offsets',
    { min: 1, max: 1_000_000 },
  ),

  topicRaw: setting.string('MPLP_TOPIC_RAW', 'mplp.spans.raw', 'input topic of OTLP spans', { nonEmpty: true }),
  topicValidated: setting.string('MPLP_TOPIC_VALIDATED', 'mplp.spans.validated', 'lz4 batches of normalized spans', { nonEmpty: true }),
  topicDlq: setting.string('MPLP_TOPIC_DLQ', 'mplp.spans.dlq', 'dead-letter topic', { nonEmpty: true }),
  topicMetrics: setting.string('MPLP_TOPIC_METRICS', 'mplp.metrics', 'window metrics topic', { nonEmpty: true }),
  topicAlerts: setting.string('MPLP_TOPIC_ALERTS', 'mplp.alerts', 'alert state changes topic', { nonEmpty: true }),
  topicSpanPartitions: setting.int('MPLP_TOPIC_SPAN_PARTITIONS', 6, 'partitions of the span topics when the project creates them', {
    min: 1,
    max: 1000,
  }),
  topicOtherPartitions: setting.int('MPLP_TOPIC_OTHER_PARTITIONS', 3, 'partitions of the DLQ, metrics and alerts topics', {
    min: 1,
    max: 1000,
  }),
  topicReplication: setting.int('MPLP_TOPIC_REPLICATION', 1, 'replication factor of created topics', { min: 1, max: 10 }),

  esNode: setting.url('MPLP_ES_URL', 'http://127.0.0.1:9200', 'Elasticsearch URL'),
  esApiKey: setting.string('MPLP_ES_API_KEY', '', 'Elasticsearch API key (base64 id:key); wins over basic auth', { secret: true }),
  esUsername: setting.string('MPLP_ES_USERNAME', '', 'Elasticsearch basic-auth user'),
  esPassword: setting.string('MPLP_ES_PASSWORD', '', 'Elasticsearch basic-auth password', { secret: true }),
  esCaFile: setting.string('MPLP_ES_CA_FILE', '', 'PEM file of CAs to trust for Elasticsearch TLS'),
  esRejectUnauthorized: setting.bool('MPLP_ES_TLS_REJECT_UNAUTHORIZED', true, 'verify the Elasticsearch certificate'),
  esRequestTimeoutMs: setting.duration('MPLP_ES_REQUEST_TIMEOUT', 30000, 'Elasticsearch request timeout', { min: 100 }),
  indexPrefix: setting.string('MPLP_INDEX_PREFIX', 'mplp', 'prefix of index names and templates (mplp-traces-YYYY.MM.DD)', {
    nonEmpty: true,
  }),
  indexShards: setting.int('MPLP_INDEX_SHARDS', 1, 'primary shards of each daily index (index templates)', { min: 1, max: 1024 }),
  indexReplicas: setting.int(
    'MPLP_INDEX_REPLICAS',
    0,
    'replicas of each daily index (index templates); 0 is local-only: on a cluster of several nodes set 1 or more, or losing a node loses data',
    { min: 0, max: 16 },
  ),

  s3Endpoint: setting.url(
    'MPLP_S3_ENDPOINT',
    'http://127.0.0.1:9000',
    'S3 endpoint; the default is local-only (the local MinIO); set it empty (MPLP_S3_ENDPOINT=) for AWS S3',
    { allowEmpty: true },
  ),
  s3Region: setting.string('MPLP_S3_REGION', 'us-east-1', 'S3 region', { nonEmpty: true }),
  s3AccessKeyId: setting.string(
    'MPLP_S3_ACCESS_KEY_ID',
    'mplp',
    'S3 access key id; the default is local-only; set it empty (MPLP_S3_ACCESS_KEY_ID=) to use the AWS default credential chain (environment, profile, IAM role)',
  ),
  s3SecretAccessKey: setting.string(
    'MPLP_S3_SECRET_ACCESS_KEY',
    'mplp-local-secret',
    'S3 secret access key (the default is local-only; ignored when the access key id is empty)',
    { secret: true },
  ),
  s3Bucket: setting.string('MPLP_S3_BUCKET', 'mplp-archive', 'bucket for archived indices', { nonEmpty: true }),
  s3Prefix: setting.string('MPLP_S3_PREFIX', 'archive', 'key prefix for archived indices'),
  s3ForcePathStyle: setting.bool('MPLP_S3_FORCE_PATH_STYLE', true, 'path-style bucket addressing (needed by most S3-compatible servers)'),
  s3Checksums: setting.oneOf(
    'MPLP_S3_CHECKSUMS',
    'when_required',
    ['when_supported', 'when_required'] as const,
    "SDK request/response checksums: 'when_supported' (AWS default) or 'when_required' (safe for S3-compatible servers)",
  ),
} satisfies Schema;

export type SharedConfig = ConfigOf<typeof sharedSchema>;

/** Settings read only by scripts/cluster/*.sh; listed so the unknown-setting check accepts them. */
export const clusterScriptSettings = [
  'MPLP_CLUSTER_DIR',
  'MPLP_CACHE_DIR',
  'MPLP_JAVA_HOME',
  'MPLP_KAFKA_VERSION',
  'MPLP_KAFKA_PORT',
  'MPLP_KAFKA_CONTROLLER_PORT',
  'MPLP_KAFKA_HEAP',
  'MPLP_ES_PORT',
  'MPLP_ES_HEAP',
  'MPLP_ES_TRANSPORT_PORT',
  'MPLP_S3_PORT',
  'MPLP_S3_CONSOLE_PORT',
  'MPLP_ALERTMANAGER_PORT',
  'MPLP_KEEP_CLUSTER',
];

/**
 * Ingest's oldest accepted span age, declared here because the archiver needs it too: its
 * retention must outlast every late write (checked at its start).
 */
export const ingestMaxPastSetting = setting.duration(
  'MPLP_INGEST_MAX_PAST',
  7 * 86400e3,
  'spans that started longer ago than this are rejected (timestamps)',
  { min: 1000 },
);

/** Prefixes that belong to one worker each; a worker ignores the others' (one env file can serve all). */
export const workerPrefixes = [
  'MPLP_INGEST_',
  'MPLP_INDEXER_',
  'MPLP_AGGREGATOR_',
  'MPLP_ARCHIVER_',
  'MPLP_NOTIFIER_',
  'MPLP_RECEIVER_',
  'MPLP_LOADGEN_',
  'MPLP_BENCH_',
  'MPLP_DEMO_',
];

/**
 * Loads the shared settings and a worker's own schema, rejecting unknown MPLP_* names in the
 * shared namespace and in the worker's own prefix.
 */
export function loadProcessConfig<S extends Schema>(env: Env, ownPrefix: string, own: S): { shared: SharedConfig; own: ConfigOf<S> } {
  const others = workerPrefixes.filter((p) => p !== ownPrefix);
  const relevant: Record<string, string | undefined> = {};
  for (const [k, v] of Object.entries(env)) if (!others.some((p) => k.startsWith(p))) relevant[k] = v;
  checkUnknownSettings(relevant, [...settingNames(sharedSchema), ...settingNames(own), ...clusterScriptSettings]);
  const shared = loadConfig(sharedSchema, env);
  checkSharedSettings(shared);
  return { shared, own: loadConfig(own, env) };
}

/** Checks between shared settings that no single parser can make. */
export function checkSharedSettings(cfg: SharedConfig): void {
  if (cfg.s3AccessKeyId !== '' && cfg.s3SecretAccessKey === '') {
    throw new ConfigError(
      'MPLP_S3_SECRET_ACCESS_KEY',
      'is empty while MPLP_S3_ACCESS_KEY_ID is set; set both, or set MPLP_S3_ACCESS_KEY_ID= (empty) for the AWS default credential chain',
    );
  }
}
