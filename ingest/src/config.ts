import { ConfigError, ConfigOf, ingestMaxPastSetting, setting } from '../../shared/src';
import { RECORD_OVERHEAD_BYTES } from './batch-encoder';
import { FORMAT_NAMES } from './formats/types';

/** Settings of the ingest worker (MPLP_INGEST_*). Defaults work on the local cluster. */
export const ingestSchema = {
  groupId: setting.string('MPLP_INGEST_GROUP_ID', 'mplp-ingest', 'Kafka consumer group of the ingest workers', { nonEmpty: true }),
  httpPort: setting.int('MPLP_INGEST_HTTP_PORT', 9401, '/healthz /readyz /metrics port (0 = any free port)', { min: 0, max: 65535 }),
  partitionsConcurrently: setting.int('MPLP_INGEST_PARTITIONS_CONCURRENTLY', 3, 'input partitions processed at once by one process', {
    min: 1,
    max: 64,
  }),
  fetchMaxBytesPerPartition: setting.int(
    'MPLP_INGEST_FETCH_MAX_BYTES_PER_PARTITION',
    4 * 1024 * 1024,
    'Kafka fetch size per partition: bounds the memory of one in-flight batch',
    { min: 65536 },
  ),
  producer: setting.oneOf(
    'MPLP_INGEST_PRODUCER',
    'auto',
    ['auto', 'librdkafka', 'kafkajs'] as const,
    'client that produces the output without transactions: librdkafka (@confluentinc/kafka-javascript, native; auto = it when its addon is installed, else kafkajs) or kafkajs (with MPLP_INGEST_TRANSACTIONS, kafkajs transactional producers)',
  ),
  encoding: setting.oneOf(
    'MPLP_INGEST_ENCODING',
    'auto',
    ['auto', ...FORMAT_NAMES] as const,
    'input format of the raw topic: auto (by content-type header, else content: a JSON list is Zipkin v2, an object with resourceSpans OTLP/JSON, one with traceID/spanID a Jaeger span, anything else OTLP/protobuf) or one forced: otlp_proto, otlp_json, jaeger_proto, jaeger_json, zipkin_json',
  ),
  workerThreads: setting.int(
    'MPLP_INGEST_WORKER_THREADS',
    2,
    'Piscina threads doing decode, normalize and lz4 (0 = in the consumer thread)',
    { min: 0, max: 64 },
  ),
  workerYoungGenerationMb: setting.int(
    'MPLP_INGEST_WORKER_YOUNG_GENERATION_MB',
    192,
    'young-generation heap of each pool thread: decoding allocates many short-lived objects, and a larger nursery means fewer scavenges',
    { min: 8, max: 4096 },
  ),
  maxInFlightBytes: setting.int(
    'MPLP_INGEST_MAX_IN_FLIGHT_BYTES',
    8 * 1024 * 1024,
    'input bytes fetched plus output bytes produced, not yet acknowledged downstream; past it, fetching waits (a chunk whose output passes it is produced in parts)',
    { min: 65536 },
  ),
  taskBytes: setting.int(
    'MPLP_INGEST_TASK_BYTES',
    1024 * 1024,
    'input bytes per decode task: a fetch is split into tasks of about this size to spread it over the threads',
    { min: 1024 },
  ),
  maxMessageBytes: setting.int(
    'MPLP_INGEST_MAX_MESSAGE_BYTES',
    8 * 1024 * 1024,
    'largest input message accepted, after Kafka decompression; larger ones go to the DLQ as too_large',
    { min: 1024 },
  ),
  maxDlqValueBytes: setting.int(
    'MPLP_INGEST_MAX_DLQ_VALUE_BYTES',
    1024 * 1024,
    'a rejected message larger than this is kept in the DLQ truncated (header mplp-truncated)',
    { min: 1024 },
  ),
  maxAttributes: setting.int('MPLP_INGEST_MAX_ATTRIBUTES', 128, 'attributes kept per span, resource, event and link (OTel SDK default)', {
    min: 0,
  }),
  maxEvents: setting.int('MPLP_INGEST_MAX_EVENTS', 128, 'events kept per span', { min: 0 }),
  maxLinks: setting.int('MPLP_INGEST_MAX_LINKS', 128, 'links kept per span', { min: 0 }),
  maxAttributeValueLength: setting.int('MPLP_INGEST_MAX_ATTRIBUTE_VALUE_LENGTH', 8192, 'longer string values are truncated', { min: 1 }),
  maxAttributeKeyBytes: setting.int(
    'MPLP_INGEST_MAX_ATTRIBUTE_KEY_BYTES',
    1024,
    "UTF-8 bytes of a flattened attribute key (the whole dotted path); longer keys are cut (counted in dropped.truncatedValues). At most 8192, so key + an indexed value stay under Lucene's 32766-byte term limit",
    { min: 16, max: 8192 },
  ),
  maxAttributeDepth: setting.int(
    'MPLP_INGEST_MAX_ATTRIBUTE_DEPTH',
    16,
    'kvlist nesting flattened to dotted keys; a deeper value is kept as JSON text, truncated to MPLP_INGEST_MAX_ATTRIBUTE_VALUE_LENGTH (counted in dropped.truncatedValues)',
    { min: 1, max: 1000 },
  ),
  maxPastMs: ingestMaxPastSetting,
  maxFutureMs: setting.duration(
    'MPLP_INGEST_MAX_FUTURE',
    3600e3,
    'spans that start further in the future than this are rejected (timestamps)',
    { min: 0 },
  ),
  maxDurationMs: setting.duration(
    'MPLP_INGEST_MAX_DURATION',
    86400e3,
    'spans whose end is longer than this after their start are rejected (timestamps)',
    { min: 1000, max: 100 * 86400e3 },
  ),
  maxRecordBytes: setting.int(
    'MPLP_INGEST_MAX_RECORD_BYTES',
    8 * 1024 * 1024,
    'largest record produced, as max.message.bytes of the validated and DLQ topics: output is split to fit, a span that cannot fit goes to the DLQ as a too_large reference',
    { min: 65536 },
  ),
  maxOutputBytesPerMessage: setting.int(
    'MPLP_INGEST_MAX_OUTPUT_BYTES_PER_MESSAGE',
    32 * 1024 * 1024,
    'NDJSON and dead-letter bytes one input message may become; past it the message goes whole to the DLQ (too_large)',
    { min: 65536 },
  ),
  maxBatchBytes: setting.int(
    'MPLP_INGEST_MAX_BATCH_BYTES',
    1024 * 1024,
    'uncompressed NDJSON bytes per output message (a trace larger than this is split)',
    { min: 4096 },
  ),
  spanSummary: setting.bool(
    'MPLP_INGEST_SPAN_SUMMARY',
    false,
    "write each validated record's span summary header (mplp-span-summary: the fields the aggregator's windows read, 25 bytes a span plus the record's distinct strings), which the aggregator counts from instead of decompressing and scanning the NDJSON; off by default: measured, building it costs ingest about as much CPU per span as it saves the aggregator",
  ),
  transactions: setting.bool(
    'MPLP_INGEST_TRANSACTIONS',
    true,
    'exactly once: the output, dead letters and input offsets of an input partition go in one Kafka transaction (a transactional producer per input partition, fenced by its transactional.id); false: at-least-once, offsets committed by the consumer after the output is acknowledged',
  ),
  transactionMaxBytes: setting.int(
    'MPLP_INGEST_TRANSACTION_MAX_BYTES',
    1024 * 1024,
    'output bytes (validated records and dead letters) one transaction of an input partition gathers before it commits; its chunks are committed together',
    { min: 1024 },
  ),
  transactionMaxAgeMs: setting.duration(
    'MPLP_INGEST_TRANSACTION_MAX_AGE',
    100,
    'longest the oldest encoded chunk of an input partition waits for its transaction to fill before that transaction commits (adds up to this much latency)',
    { min: 0, max: 30_000 },
  ),
  transactionalIdPrefix: setting.string(
    'MPLP_INGEST_TRANSACTIONAL_ID_PREFIX',
    'mplp-ingest',
    'transactional.id of the producer of input partition p of topic t is <prefix>-<t>-<p>: a new owner of the partition fences the previous one; distinct per ingest deployment on one cluster',
    { nonEmpty: true },
  ),
  transactionRetryBackoffMs: setting.duration(
    'MPLP_INGEST_TRANSACTION_RETRY_BACKOFF',
    20,
    "kafkajs' first retry delay of the transactional producers; it also paces the retry of CONCURRENT_TRANSACTIONS the broker answers right after each commit (kafkajs default 300 ms, which dominated a transaction's cost)",
    { min: 1, max: 10_000 },
  ),
  summaryIntervalMs: setting.duration('MPLP_INGEST_SUMMARY_INTERVAL', 30_000, 'period of the summary log line', { min: 1000 }),
  sessionTimeoutMs: setting.duration(
    'MPLP_INGEST_SESSION_TIMEOUT',
    30_000,
    'Kafka consumer session timeout: a member silent this long is dropped from the group (it heartbeats while output is stalled)',
    { min: 6000, max: 300_000 },
  ),
  shutdownTimeoutMs: setting.duration('MPLP_INGEST_SHUTDOWN_TIMEOUT', 30_000, 'deadline for a clean shutdown', { min: 1000 }),
};

/** Checks between settings; throws ConfigError naming the setting to change. */
export function checkIngestSettings(s: IngestSettings): void {
  const room = s.maxRecordBytes - RECORD_OVERHEAD_BYTES;
  if (s.maxBatchBytes > room)
    throw new ConfigError(
      'MPLP_INGEST_MAX_BATCH_BYTES',
      `must be at most MPLP_INGEST_MAX_RECORD_BYTES - ${RECORD_OVERHEAD_BYTES} (${room}), got ${s.maxBatchBytes}`,
    );
  if (s.maxDlqValueBytes > room)
    throw new ConfigError(
      'MPLP_INGEST_MAX_DLQ_VALUE_BYTES',
      `must be at most MPLP_INGEST_MAX_RECORD_BYTES - ${RECORD_OVERHEAD_BYTES} (${room}), got ${s.maxDlqValueBytes}`,
    );
}

export type IngestSettings = ConfigOf<typeof ingestSchema>;
