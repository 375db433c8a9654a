import pino from 'pino';
import type { Env } from '../../shared/src';
import { Counter, Registry } from 'prom-client';
import {
  createElasticsearch,
  createLogger,
  createRegistry,
  createS3,
  loadProcessConfig,
  Logger,
  OpsServer,
  redactConfig,
  Service,
  SharedConfig,
  sharedSchema,
  classifyElasticsearchError,
} from '../../shared/src';
import { ArchiveStore } from './archive-store';
import { archiverSchema, ArchiverSettings, checkArchiverSettings } from './config';
import { ArchiveHooks, ArchiveOutcome, IndexArchiver } from './index-archiver';
import { IndexRestorer } from './index-restorer';
import { agedIndices } from './layout';

export { archiverSchema } from './config';

/** Everything the CLI and the worker share: clients, archiver, restorer. */
export function createArchiverParts(env: Env, hooks: ArchiveHooks = {}, opts: { logToStderr?: boolean } = {}) {
  const cfg = loadProcessConfig(env, 'MPLP_ARCHIVER_', archiverSchema);
  const settings: ArchiverSettings = cfg.own;
  checkArchiverSettings(settings, env);
  // The CLI prints its result on stdout, so its log lines go to stderr.
  const logger = createLogger({
    name: 'archiver',
    level: cfg.shared.logLevel,
    destination: opts.logToStderr ? pino.destination(2) : undefined,
  });
  const es = createElasticsearch(cfg.shared);
  // Timeouts turn a hung endpoint into an error; ArchiveStore retries through shared/retry, so
  // the SDK's own retries are off (they would multiply the attempts and the time to fail).
  const s3 = createS3(cfg.shared, {
    maxAttempts: 1,
    requestHandler: {
      connectionTimeout: settings.s3ConnectTimeoutMs,
      requestTimeout: settings.s3RequestTimeoutMs,
      throwOnRequestTimeout: true,
      socketTimeout: settings.s3SocketTimeoutMs,
    },
  });
  const store = new ArchiveStore(s3, cfg.shared.s3Bucket, cfg.shared.s3Prefix, settings.s3Attempts);
  const archiver = new IndexArchiver(es, store, settings, logger, hooks);
  const restorer = new IndexRestorer(es, store, logger, settings.restoredHoldMs, cfg.shared.indexReplicas);
  const close = async () => {
    await es.close();
    s3.destroy();
  };
  return { cfg, settings, logger, es, store, archiver, restorer, close };
}

/** Finds the aged indices and archives each; one failure does not stop the others. */
export async function archiveAged(
  parts: ReturnType<typeof createArchiverParts>,
  only?: string,
  signal?: AbortSignal,
): Promise<ArchiveOutcome[]> {
  const { es, cfg, settings, archiver, store } = parts;
  // S3 first: with wrong credentials or no endpoint the run stops here with one error and no index is touched.
  await store.check();
  let names: string[];
  try {
    const rows = (await es.cat.indices({
      index: `${cfg.shared.indexPrefix}-*`,
      h: 'index',
      format: 'json',
      expand_wildcards: 'open',
    } as never)) as unknown as { index: string }[];
    names = rows.map((r) => r.index);
  } catch (err) {
    throw classifyElasticsearchError(err, 'list indices');
  }
  const targets = only ? names.filter((n) => n === only) : agedIndices(names, cfg.shared.indexPrefix, settings.retentionDays, Date.now());
  const out: ArchiveOutcome[] = [];
  for (const index of targets) {
    if (signal?.aborted) break;
    try {
      const res = await archiver.archive(index, signal);
      if (res.result === 'failed') parts.logger.error({ index, reason: res.reason }, 'archive failed, index kept');
      out.push(res);
    } catch (err) {
      parts.logger.error({ err, index }, 'archive failed, index kept');
      out.push({ index, result: 'failed', reason: (err as Error).message });
    }
  }
  return out;
}

/** The archiver worker: archives aged indices every MPLP_ARCHIVER_INTERVAL. */
export function createArchiver(env: Env) {
  const parts = createArchiverParts(env);
  const { settings, logger } = parts;
  const registry: Registry = createRegistry();
  const outcomes = new Counter({
    name: 'mplp_archiver_indices_total',
    help: 'indices processed, by result',
    labelNames: ['result'],
    registers: [registry],
  });
  const docs = new Counter({ name: 'mplp_archiver_documents_total', help: 'documents archived', registers: [registry] });
  const runs = new Counter({
    name: 'mplp_archiver_runs_total',
    help: 'scheduled runs, by result (error: S3 or Elasticsearch unusable)',
    labelNames: ['result'],
    registers: [registry],
  });
  // Not ready while the last run could not reach S3 or Elasticsearch.
  let dependenciesOk = true;
  const ops = new OpsServer({ port: settings.httpPort, host: parts.cfg.shared.httpHost, registry, ready: () => dependenciesOk });
  const ctrl = new AbortController();
  let timer: NodeJS.Timeout | undefined;
  let running: Promise<void> | undefined;
  const runOnce = async () => {
    let res: ArchiveOutcome[];
    try {
      res = await archiveAged(parts, undefined, ctrl.signal);
      dependenciesOk = true;
      runs.inc({ result: 'ok' });
    } catch (err) {
      dependenciesOk = false;
      runs.inc({ result: 'error' });
      logger.error({ err }, 'archive run failed, no index touched');
      return;
    }
    for (const r of res) {
      outcomes.inc({ result: r.result });
      if (r.docs) docs.inc(r.docs);
    }
    if (res.length)
      logger.info(
        {
          archived: res.filter((r) => r.result === 'archived').length,
          skipped: res.filter((r) => r.result === 'skipped').length,
          failed: res.filter((r) => r.result === 'failed').length,
        },
        'archive run done',
      );
  };
  const service: Service = {
    async start() {
      logger.info({ shared: redactConfig(sharedSchema, parts.cfg.shared), settings }, 'starting archiver');
      await ops.start();
      if (settings.intervalMs > 0) {
        const tick = () => {
          running = runOnce().finally(() => {
            running = undefined;
            if (!ctrl.signal.aborted) timer = setTimeout(tick, settings.intervalMs);
          });
        };
        // A short grace after start (not a full interval): a restarted archiver resumes promptly.
        timer = setTimeout(tick, Math.min(5_000, settings.intervalMs));
      }
    },
    async stop() {
      // The export in flight stops at its next page; its index is kept and its lease released.
      ctrl.abort();
      clearTimeout(timer);
      await running;
      await ops.stop();
      await parts.close();
    },
  };
  return { service, logger: logger as Logger, shutdownDeadlineMs: settings.shutdownTimeoutMs, registry };
}

export type { SharedConfig };
