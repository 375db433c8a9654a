import { ConfigOf, setting } from '../../shared/src';

/** Settings of the indexer (MPLP_INDEXER_*). Defaults work on the local cluster. */
export const indexerSchema = {
  groupId: setting.string('MPLP_INDEXER_GROUP_ID', 'mplp-indexer', 'Kafka consumer group of the indexers', { nonEmpty: true }),
  httpPort: setting.int('MPLP_INDEXER_HTTP_PORT', 9402, '/healthz /readyz /metrics port (0 = any free port)', { min: 0, max: 65535 }),
  queryPort: setting.int('MPLP_INDEXER_QUERY_PORT', 16686, 'query API port (Jaeger query API shape; 0 = any free port, -1 = off)', {
    min: -1,
    max: 65535,
  }),
  queryHost: setting.host(
    'MPLP_INDEXER_QUERY_HOST',
    '127.0.0.1',
    'address the query API binds (0.0.0.0: every interface; then set a token and TLS)',
  ),
  queryToken: setting.string(
    'MPLP_INDEXER_QUERY_TOKEN',
    '',
    'bearer token every query API request must carry (Authorization: Bearer …); empty: no authentication. The CLI sends it too',
    { secret: true },
  ),
  queryTlsCertFile: setting.string(
    'MPLP_INDEXER_QUERY_TLS_CERT_FILE',
    '',
    'PEM certificate (chain) file: the query API serves HTTPS (with MPLP_INDEXER_QUERY_TLS_KEY_FILE)',
  ),
  queryTlsKeyFile: setting.string('MPLP_INDEXER_QUERY_TLS_KEY_FILE', '', 'PEM private key file of the query API certificate'),
  queryMaxSpans: setting.int(
    'MPLP_INDEXER_QUERY_MAX_SPANS',
    20_000,
    'most spans one query API response holds (a trace, or all traces of a search together); past it traces are truncated and say so in warnings, and no more is read',
    { min: 1, max: 1_000_000 },
  ),
  queryMaxSearchTraces: setting.int(
    'MPLP_INDEXER_QUERY_MAX_SEARCH_TRACES',
    100,
    'largest limit a trace search accepts (a larger one is answered 400)',
    { min: 1, max: 10_000 },
  ),
  queryMaxConcurrent: setting.int(
    'MPLP_INDEXER_QUERY_MAX_CONCURRENT',
    4,
    'query API requests served at once; more are answered 429 with Retry-After',
    { min: 1, max: 1024 },
  ),
  queryCorsOrigins: setting.list(
    'MPLP_INDEXER_QUERY_CORS_ORIGINS',
    [],
    'origins (scheme://host:port, comma separated, or *) whose web pages may call the query API from a browser (CORS); empty: none',
  ),
  uiDir: setting.string(
    'MPLP_INDEXER_UI_DIR',
    '',
    'folder of the web UI bundle served on the query port (empty: dist/ui, written by npm run build)',
  ),
  uiLive: setting.bool(
    'MPLP_INDEXER_UI_LIVE',
    true,
    'push window records and alert changes to open UI pages (server-sent events; a Kafka consumer of its own that never commits)',
  ),
  uiMaxLiveClients: setting.int('MPLP_INDEXER_UI_MAX_LIVE_CLIENTS', 64, 'UI pages receiving live updates at once; more are answered 503', {
    min: 1,
    max: 10_000,
  }),
  uiMaxSeries: setting.int(
    'MPLP_INDEXER_UI_MAX_SERIES',
    500,
    'most series (service, operation, kind) the overview reads from mplp-metrics-*',
    { min: 1, max: 10_000 },
  ),
  dependenciesMaxTraces: setting.int(
    'MPLP_INDEXER_DEPENDENCIES_MAX_TRACES',
    500,
    'the service map and /api/dependencies sample this many most recent traces of the range',
    { min: 1, max: 10_000 },
  ),
  dependenciesMaxSpans: setting.int('MPLP_INDEXER_DEPENDENCIES_MAX_SPANS', 10_000, 'most spans of those traces read for the service map', {
    min: 1,
    max: 10_000,
  }),
  queryUrl: setting.url('MPLP_INDEXER_QUERY_URL', 'http://127.0.0.1:16686', 'where the CLI (src/cli.ts) finds the query API'),
  topics: setting.list('MPLP_INDEXER_TOPICS', ['spans', 'metrics', 'alerts'], 'which of spans, metrics, alerts to index'),
  partitionsConcurrently: setting.int(
    'MPLP_INDEXER_PARTITIONS_CONCURRENTLY',
    1,
    'fetched partition batches decoded at once (decoding only hands documents to the bulk pipeline, so 1 suffices)',
    { min: 1, max: 64 },
  ),
  bulkConcurrency: setting.int('MPLP_INDEXER_BULK_CONCURRENCY', 2, 'bulk requests in flight at once across all partitions', {
    min: 1,
    max: 64,
  }),
  flushIntervalMs: setting.duration(
    'MPLP_INDEXER_FLUSH_INTERVAL',
    200,
    'a partial bulk is sent when a slot is free and it is this old (at once when no bulk is in flight)',
    { min: 1 },
  ),
  maxPendingBytes: setting.int(
    'MPLP_INDEXER_MAX_PENDING_BYTES',
    32 * 1024 * 1024,
    'bulk bytes handed to the pipeline and not yet written above which fetching pauses (bounds memory)',
    { min: 65536 },
  ),
  fetchMaxBytesPerPartition: setting.int(
    'MPLP_INDEXER_FETCH_MAX_BYTES_PER_PARTITION',
    2 * 1024 * 1024,
    'Kafka fetch size per partition (bounds memory)',
    { min: 65536 },
  ),
  fetchMaxWaitMs: setting.duration('MPLP_INDEXER_FETCH_MAX_WAIT', 250, 'how long a Kafka fetch waits when there is no new data', {
    min: 10,
  }),
  sessionTimeoutMs: setting.duration(
    'MPLP_INDEXER_SESSION_TIMEOUT',
    60_000,
    'Kafka consumer session timeout: a member silent this long (e.g. cut off from the brokers) is dropped from the group and rejoins when it can',
    { min: 6000, max: 300_000 },
  ),
  bulkMaxDocs: setting.int('MPLP_INDEXER_BULK_MAX_DOCS', 2000, 'most documents per bulk request', { min: 1 }),
  bulkMaxBytes: setting.int(
    'MPLP_INDEXER_BULK_MAX_BYTES',
    5 * 1024 * 1024,
    'most bytes per bulk request body, never exceeded (a larger single document goes to the DLQ); keep under http.max_content_length',
    { min: 4096 },
  ),
  maxDlqValueBytes: setting.int(
    'MPLP_INDEXER_MAX_DLQ_VALUE_BYTES',
    1024 * 1024,
    "a dead letter (refused document or unreadable record) larger than this is kept in the DLQ cut to this size (header mplp-truncated); keep below the DLQ topic's max.message.bytes minus a few KB of headers",
    { min: 1024 },
  ),
  maxDecompressedBytes: setting.int('MPLP_INDEXER_MAX_BATCH_BYTES', 64 * 1024 * 1024, 'largest decompressed span batch accepted', {
    min: 65536,
  }),
  retryBaseMs: setting.duration('MPLP_INDEXER_RETRY_BASE', 200, 'first retry backoff of a failed bulk or document', { min: 1 }),
  retryMaxMs: setting.duration('MPLP_INDEXER_RETRY_MAX', 30_000, 'backoff ceiling', { min: 1 }),
  traceCacheBytes: setting.int(
    'MPLP_INDEXER_TRACE_CACHE_BYTES',
    64 * 1024 * 1024,
    'bytes of serialized traces the query API caches (0 = no cache)',
    { min: 0 },
  ),
  traceCacheTtlMs: setting.duration('MPLP_INDEXER_TRACE_CACHE_TTL', 10_000, 'how long a cached trace is served before re-reading', {
    min: 0,
  }),
  summaryIntervalMs: setting.duration('MPLP_INDEXER_SUMMARY_INTERVAL', 30_000, 'period of the summary log line', { min: 1000 }),
  shutdownTimeoutMs: setting.duration('MPLP_INDEXER_SHUTDOWN_TIMEOUT', 30_000, 'deadline for a clean shutdown', { min: 1000 }),
};

export type IndexerSettings = ConfigOf<typeof indexerSchema>;
