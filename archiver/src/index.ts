import pino from 'pino';
import type { Env } from '../../shared/src';
import { Counter, Registry } from 'prom-client';
import {
  createElasticsearch, createLogger, createRegistry, createS3, loadProcessConfig, Logger, OpsServer, redactConfig, Service, SharedConfig, sharedSchema, classifyElasticsearchError,
} from '../../shared/src';
import { ArchiveStore } from './archive-store';
import { archiverSchema, ArchiverSettings } from './config';
import { ArchiveHooks, ArchiveOutcome, IndexArchiver } from './index-archiver';
import { IndexRestorer } from './index-restorer';
import { agedIndices } from './layout';

export { archiverSchema } from './config';

/** Everything the CLI and the worker share: clients, archiver, restorer. */
export function createArchiverParts(env: Env, hooks: ArchiveHooks = {}, opts: { logToStderr?: boolean } = {}) {
  const cfg = loadProcessConfig(env, 'MPLP_ARCHIVER_', archiverSchema);
  const settings: ArchiverSettings = cfg.own;
  // The CLI prints its result on stdout, so its log lines go to stderr.
  const logger = createLogger({ name: 'archiver', level: cfg.shared.logLevel, destination: opts.logToStderr ? pino.destination(2) : undefined });
  const es = createElasticsearch(cfg.shared);
  const s3 = createS3(cfg.shared, { maxAttempts: 3 });
  const store = new ArchiveStore(s3, cfg.shared.s3Bucket, cfg.shared.s3Prefix);
  const archiver = new IndexArchiver(es, store, settings, logger, hooks);
  const restorer = new IndexRestorer(es, store, logger);
  const close = async () => { await es.close(); s3.destroy(); };
  return { cfg, settings, logger, es, store, archiver, restorer, close };
}

/** Finds the aged indices and archives each; one failure does not stop the others. */
export async function archiveAged(parts: ReturnType<typeof createArchiverParts>, only?: string, signal?: AbortSignal): Promise<ArchiveOutcome[]> {
  const { es, cfg, settings, archiver } = parts;
  let names: string[];
  try {
    const rows = await es.cat.indices({ index: `${cfg.shared.indexPrefix}-*`, h: 'index', format: 'json', expand_wildcards: 'open' } as never) as unknown as { index: string }[];
    names = rows.map((r) => r.index);
  } catch (err) { throw classifyElasticsearchError(err, 'list indices'); }
  const targets = only ? names.filter((n) => n === only) : agedIndices(names, cfg.shared.indexPrefix, settings.retentionDays, Date.now());
  const out: ArchiveOutcome[] = [];
  for (const index of targets) {
    if (signal?.aborted) break;
    try {
      out.push(await archiver.archive(index, signal));
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
  const outcomes = new Counter({ name: 'mplp_archiver_indices_total', help: 'indices processed, by result', labelNames: ['result'], registers: [registry] });
  const docs = new Counter({ name: 'mplp_archiver_documents_total', help: 'documents archived', registers: [registry] });
  const ops = new OpsServer({ port: settings.httpPort, registry, ready: () => true });
  const ctrl = new AbortController();
  let timer: NodeJS.Timeout | undefined;
  let running: Promise<void> | undefined;
  const runOnce = async () => {
    const res = await archiveAged(parts, undefined, ctrl.signal).catch((err) => { logger.error({ err }, 'archive run failed'); return []; });
    for (const r of res) { outcomes.inc({ result: r.result }); if (r.docs) docs.inc(r.docs); }
    if (res.length) logger.info({ archived: res.filter((r) => r.result === 'archived').length, failed: res.filter((r) => r.result === 'failed').length }, 'archive run done');
  };
  const service: Service = {
    async start() {
      logger.info({ shared: redactConfig(sharedSchema, parts.cfg.shared), settings }, 'starting archiver');
      await ops.start();
      if (settings.intervalMs > 0) {
        const tick = () => { running = runOnce().finally(() => { running = undefined; if (!ctrl.signal.aborted) timer = setTimeout(tick, settings.intervalMs); }); };
        timer = setTimeout(tick, 5_000);
      }
    },
    async stop() {
      ctrl.abort();
      clearTimeout(timer);
      await running;
      await ops.stop();
      await parts.close();
    },
  };
  return { service, logger: logger as Logger, shutdownDeadlineMs: settings.shutdownTimeoutMs };
}

export type { SharedConfig };
