import { hostname } from 'node:os';
import { setting } from '../../shared/src';

/** Settings of the archiver (MPLP_ARCHIVER_*). */
export const archiverSchema = {
  httpPort: setting.int('MPLP_ARCHIVER_HTTP_PORT', 9404, '/healthz /readyz /metrics port (0 = any free port)', { min: 0, max: 65535 }),
  retentionDays: setting.int('MPLP_ARCHIVER_RETENTION_DAYS', 7, 'indices whose date is older than this many days are archived', { min: 0 }),
  intervalMs: setting.duration('MPLP_ARCHIVER_INTERVAL', 3600e3, 'how often the worker looks for aged indices (0 = only on demand)', { min: 0 }),
  partMaxBytes: setting.int('MPLP_ARCHIVER_PART_MAX_BYTES', 32 * 1024 * 1024, 'uncompressed NDJSON bytes per archive part', { min: 1024 }),
  pageSize: setting.int('MPLP_ARCHIVER_PAGE_SIZE', 2000, 'documents per point-in-time search page', { min: 1, max: 10000 }),
  leaseTtlMs: setting.duration('MPLP_ARCHIVER_LEASE_TTL', 15 * 60e3, 'an archiver that dies leaves its lease; another takes it over after this long', { min: 1000 }),
  owner: setting.string('MPLP_ARCHIVER_OWNER', `${hostname()}-${process.pid}`, 'name written into leases', { nonEmpty: true }),
  shutdownTimeoutMs: setting.duration('MPLP_ARCHIVER_SHUTDOWN_TIMEOUT', 30_000, 'deadline for a clean shutdown', { min: 1000 }),
};

export type ArchiverSettings = { readonly [K in keyof typeof archiverSchema]: (typeof archiverSchema)[K]['default'] };
