import { ConfigOf, setting } from '../../shared/src';

/** Settings of the aggregator (MPLP_AGGREGATOR_*). Defaults work on the local cluster. */
export const aggregatorSchema = {
  groupId: setting.string(
    'MPLP_AGGREGATOR_GROUP_ID',
    'mplp-aggregator',
    'Kafka consumer group of the aggregators (the merge stage uses <group>-merge)',
    { nonEmpty: true },
  ),
  httpPort: setting.int('MPLP_AGGREGATOR_HTTP_PORT', 9403, '/healthz /readyz /metrics port (0 = any free port)', { min: 0, max: 65535 }),
  partialsTopic: setting.string(
    'MPLP_AGGREGATOR_PARTIALS_TOPIC',
    'mplp.aggregator.partials',
    "internal topic of per-source-partition pane partials and watermarks (keyed by series) and the merge stage's alert-state snapshots",
    { nonEmpty: true },
  ),
  partialsPartitions: setting.int(
    'MPLP_AGGREGATOR_PARTIALS_PARTITIONS',
    6,
    'partitions of the partials topic when the aggregator creates it',
    { min: 1, max: 1000 },
  ),
  allowedLatenessMs: setting.duration(
    'MPLP_AGGREGATOR_ALLOWED_LATENESS',
    10_000,
    'how far behind the newest event time of a partition a span may be and still count in its window',
    { min: 0 },
  ),
  maxClockSkewMs: setting.duration(
    'MPLP_AGGREGATOR_MAX_CLOCK_SKEW',
    1000,
    "how far ahead of the clock (a record's Kafka timestamp, never past this process's clock) a span's start time may move the watermark; later spans wait in their pane and never push it (at most the allowed lateness)",
    { min: 0 },
  ),
  idleTimeoutMs: setting.duration(
    'MPLP_AGGREGATOR_IDLE_TIMEOUT',
    30_000,
    'a caught-up partition with no new spans for this long, while the upstream group has nothing pending, advances its watermark to the wall clock',
    { min: 100 },
  ),
  upstreamGroupId: setting.string(
    'MPLP_AGGREGATOR_UPSTREAM_GROUP',
    'mplp-ingest',
    "consumer group that fills the validated topic from MPLP_TOPIC_RAW (ingest's); while it has lag, no partition advances by idleness. Empty: producers write the validated topic directly, idleness needs no upstream check",
  ),
  heartbeatIntervalMs: setting.duration(
    'MPLP_AGGREGATOR_HEARTBEAT_INTERVAL',
    1000,
    'period of watermark heartbeats, idle checks and commits',
    { min: 50 },
  ),
  workerThreads: setting.int('MPLP_AGGREGATOR_WORKER_THREADS', 2, 'Piscina threads doing lz4 decode, JSON parse and histogram work', {
    min: 1,
    max: 64,
  }),
  mergeThreads: setting.int(
    'MPLP_AGGREGATOR_MERGE_THREADS',
    1,
    'threads of the second, small Piscina pool that computes windows (kept apart so window work never queues behind span batches)',
    { min: 1, max: 16 },
  ),
  partitionsConcurrently: setting.int(
    'MPLP_AGGREGATOR_PARTITIONS_CONCURRENTLY',
    4,
    'source partitions processed at once (feeds the pool)',
    { min: 1, max: 64 },
  ),
  hdrDigits: setting.int('MPLP_AGGREGATOR_HDR_DIGITS', 3, 'HDR histogram significant value digits (relative precision 10^-digits)', {
    min: 1,
    max: 5,
  }),
  exemplars: setting.int('MPLP_AGGREGATOR_EXEMPLARS', 5, 'trace ids of the slowest spans kept per window', { min: 0, max: 100 }),
  maxSeries: setting.int(
    'MPLP_AGGREGATOR_MAX_SERIES',
    10_000,
    'live series per process; past it new series fold into <service>/__overflow__',
    { min: 1 },
  ),
  maxOverflowSeries: setting.int(
    'MPLP_AGGREGATOR_MAX_OVERFLOW_SERIES',
    1000,
    'live <service>/__overflow__ series per process; past it new services fold into the one global __overflow__/__overflow__ series',
    { min: 0 },
  ),
  seriesExpiryMs: setting.duration(
    'MPLP_AGGREGATOR_SERIES_EXPIRY',
    10 * 60_000,
    'a series with no spans for this long (wall clock) stops counting against the cap',
    { min: 1000 },
  ),
  dimensions: setting.string('MPLP_AGGREGATOR_DIMENSIONS', '', 'extra span attribute keys that split series, comma separated'),
  rulesFile: setting.string('MPLP_AGGREGATOR_RULES_FILE', '', 'alert rules JSON file (empty: no alerts); reloaded when it changes'),
  spanMetrics: setting.bool(
    'MPLP_AGGREGATOR_SPAN_METRICS',
    true,
    "expose the window measures of the series this process's merge stage owns on /metrics with the OpenTelemetry spanmetrics connector's names (traces_span_metrics_*)",
  ),
  rulesPollMs: setting.duration('MPLP_AGGREGATOR_RULES_POLL', 1000, 'how often the rules file is checked for changes', { min: 50 }),
  maxDecompressedBytes: setting.int('MPLP_AGGREGATOR_MAX_BATCH_BYTES', 64 * 1024 * 1024, 'largest decompressed span batch accepted', {
    min: 65536,
  }),
  fetchMaxBytesPerPartition: setting.int(
    'MPLP_AGGREGATOR_FETCH_MAX_BYTES_PER_PARTITION',
    2 * 1024 * 1024,
    'Kafka fetch size per partition (bounds memory)',
    { min: 65536 },
  ),
  fetchMaxWaitMs: setting.duration(
    'MPLP_AGGREGATOR_FETCH_MAX_WAIT',
    500,
    'how long a Kafka fetch of spans or partials waits when there is none (new data ends the wait at once; shorter only costs CPU while idle)',
    { min: 10, max: 10_000 },
  ),
  summaryIntervalMs: setting.duration('MPLP_AGGREGATOR_SUMMARY_INTERVAL', 30_000, 'period of the summary log line', { min: 1000 }),
  sessionTimeoutMs: setting.duration(
    'MPLP_AGGREGATOR_SESSION_TIMEOUT',
    30_000,
    'Kafka consumer session timeout of both stages: a member silent this long is dropped and its partitions move to the others',
    { min: 6000, max: 300_000 },
  ),
  shutdownTimeoutMs: setting.duration('MPLP_AGGREGATOR_SHUTDOWN_TIMEOUT', 30_000, 'deadline for a clean shutdown', { min: 1000 }),
};

export type AggregatorSettings = ConfigOf<typeof aggregatorSchema>;

/** Window geometry of DESIGN.md: 60 s windows ending every 5 s, built from 5 s panes. */
export const PANE_MS = 5_000;
export const WINDOW_MS = 60_000;
