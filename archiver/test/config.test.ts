import { loadConfig } from '../../shared/src';
import { archiverSchema, checkArchiverSettings } from '../src/config';

describe('archiver settings checked together', () => {
  const settings = (env: Record<string, string>) => loadConfig(archiverSchema, env);

  it('refuses a retention that does not exceed the ingest max past plus the lag margin, naming both', () => {
    expect(() => checkArchiverSettings(settings({}), {})).not.toThrow();
    expect(() => checkArchiverSettings(settings({ MPLP_ARCHIVER_RETENTION_DAYS: '7' }), {})).toThrow(
      /MPLP_ARCHIVER_RETENTION_DAYS: 7 days must exceed MPLP_INGEST_MAX_PAST \(7d\) \+ MPLP_ARCHIVER_LAG_MARGIN \(6h\)/,
    );
    expect(() => checkArchiverSettings(settings({}), { MPLP_INGEST_MAX_PAST: '3d' })).not.toThrow();
    expect(() => checkArchiverSettings(settings({}), { MPLP_INGEST_MAX_PAST: '8d' })).toThrow(/MPLP_INGEST_MAX_PAST \(8d\)/);
    expect(() => checkArchiverSettings(settings({ MPLP_ARCHIVER_LAG_MARGIN: '1d' }), {})).toThrow(/MPLP_ARCHIVER_LAG_MARGIN \(1d\)/);
    expect(() => checkArchiverSettings(settings({ MPLP_ARCHIVER_RETENTION_DAYS: '8', MPLP_ARCHIVER_LAG_MARGIN: '23h' }), {})).not.toThrow();
  });

  it('refuses an S3 request timeout that outlives the lease', () => {
    expect(() => checkArchiverSettings(settings({ MPLP_ARCHIVER_LEASE_TTL: '2m', MPLP_ARCHIVER_S3_REQUEST_TIMEOUT: '2m' }), {})).toThrow(
      /MPLP_ARCHIVER_S3_REQUEST_TIMEOUT: 2m.*must be below MPLP_ARCHIVER_LEASE_TTL/,
    );
  });
});
