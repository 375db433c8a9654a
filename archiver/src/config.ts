import { hostname } from 'node:os';
import { ConfigError, ConfigOf, Env, ingestMaxPastSetting, loadConfig, setting } from '../../shared/src';

/** Settings of the archiver (MPLP_ARCHIVER_*). */
export const archiverSchema = {
  httpPort: setting.int('MPLP_ARCHIVER_HTTP_PORT', 9404, '/healthz /readyz /metrics port (0 = any free port)', { min: 0, max: 65535 }),
  retentionDays: setting.int(
    'MPLP_ARCHIVER_RETENTION_DAYS',
    8,
    'indices whose date is older than this many days are archived; must exceed MPLP_INGEST_MAX_PAST + MPLP_ARCHIVER_LAG_MARGIN',
    { min: 0 },
  ),
  lagMarginMs: setting.duration(
    'MPLP_ARCHIVER_LAG_MARGIN',
    6 * 3600e3,
    'how long after ingest accepts a span the indexer may still write it (Kafka backlog); part of the retention check',
    { min: 0 },
  ),
  intervalMs: setting.duration('MPLP_ARCHIVER_INTERVAL', 3600e3, 'how often the worker looks for aged indices (0 = only on demand)', {
    min: 0,
  }),
  partMaxBytes: setting.int('MPLP_ARCHIVER_PART_MAX_BYTES', 32 * 1024 * 1024, 'uncompressed NDJSON bytes per archive part', { min: 1024 }),
  pageSize: setting.int('MPLP_ARCHIVER_PAGE_SIZE', 2000, 'documents per point-in-time search page', { min: 1, max: 10000 }),
  leaseTtlMs: setting.duration(
    'MPLP_ARCHIVER_LEASE_TTL',
    15 * 60e3,
    'an archiver that dies leaves its lease; another takes it over after this long',
    { min: 1000 },
  ),
  owner: setting.string('MPLP_ARCHIVER_OWNER', `${hostname()}-${process.pid}`, 'name written into leases', { nonEmpty: true }),
  restoredHoldMs: setting.duration(
    'MPLP_ARCHIVER_RESTORED_HOLD',
    7 * 86400e3,
    'a restored index is not archived again before this long after its restore (or `cli.js unmark`)',
    { min: 0 },
  ),
  s3ConnectTimeoutMs: setting.duration('MPLP_ARCHIVER_S3_CONNECT_TIMEOUT', 5000, 'S3: time to establish a connection', { min: 100 }),
  s3RequestTimeoutMs: setting.duration(
    'MPLP_ARCHIVER_S3_REQUEST_TIMEOUT',
    120_000,
    'S3: longest one request may take, body included (an 8 MiB upload piece, a part download); must be below MPLP_ARCHIVER_LEASE_TTL',
    { min: 100 },
  ),
  s3SocketTimeoutMs: setting.duration(
    'MPLP_ARCHIVER_S3_SOCKET_TIMEOUT',
    30_000,
    'S3: longest silence on a connection with a request in flight',
    { min: 100 },
  ),
  s3Attempts: setting.int(
    'MPLP_ARCHIVER_S3_ATTEMPTS',
    3,
    'S3: attempts per request (shared retry helper, backoff with jitter); conditional lease writes are sent once',
    { min: 1, max: 20 },
  ),
  shutdownTimeoutMs: setting.duration('MPLP_ARCHIVER_SHUTDOWN_TIMEOUT', 30_000, 'deadline for a clean shutdown', { min: 1000 }),
};

export type ArchiverSettings = ConfigOf<typeof archiverSchema>;

const human = (ms: number) => {
  const unit = (
    [
      [86400e3, 'd'],
      [3600e3, 'h'],
      [60e3, 'm'],
      [1e3, 's'],
    ] as const
  ).find(([n]) => ms > 0 && ms % n === 0);
  return unit ? `${ms / unit[0]}${unit[1]}` : `${ms}ms`;
};

/**
 * Settings that are only wrong together. The retention must outlast every late write: ingest
 * accepts a span up to MPLP_INGEST_MAX_PAST old (read from the same environment, ingest's
 * default when unset) and the indexer may write it a lag later. An index archived sooner would
 * be recreated by those writes (they then go to a new generation, but are split from their day).
 */
export function checkArchiverSettings(s: ArchiverSettings, env: Env): void {
  const { maxPastMs } = loadConfig({ maxPastMs: ingestMaxPastSetting }, env);
  const retentionMs = s.retentionDays * 86400e3;
  if (retentionMs <= maxPastMs + s.lagMarginMs) {
    throw new ConfigError(
      'MPLP_ARCHIVER_RETENTION_DAYS',
      `${s.retentionDays} days must exceed MPLP_INGEST_MAX_PAST (${human(maxPastMs)}) + MPLP_ARCHIVER_LAG_MARGIN (${human(s.lagMarginMs)}), or late spans recreate archived indices`,
    );
  }
  if (s.s3RequestTimeoutMs >= s.leaseTtlMs) {
    throw new ConfigError(
      'MPLP_ARCHIVER_S3_REQUEST_TIMEOUT',
      `${human(s.s3RequestTimeoutMs)} must be below MPLP_ARCHIVER_LEASE_TTL (${human(s.leaseTtlMs)}): one hung request must not outlive the lease`,
    );
  }
}
