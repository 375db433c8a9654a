import type { AddressInfo } from 'node:net';
import type { ISocketFactory } from 'kafkajs';
import type { Env } from '../../shared/src';
import {
  createElasticsearch,
  createKafka,
  createLogger,
  createRegistry,
  ensureIndexTemplates,
  loadProcessConfig,
  OpsServer,
  redactConfig,
  retry,
  classifyElasticsearchError,
  Service,
  sharedSchema,
} from '../../shared/src';
import { BulkIndexer } from './bulk-indexer';
import { indexerSchema, IndexerSettings } from './config';
import { IndexerWorker } from './indexer-worker';
import { IndexerMetrics } from './metrics';
import { ServiceMetrics } from './jaeger-metrics';
import { QueryApi, queryApiOptions, TraceCache } from './query-api';
import { TraceQuery } from './trace-query';
import { LiveFeed } from './live-feed';
import { UiQueries } from './ui-queries';
import { DEFAULT_UI_DIR, UiServer } from './ui-server';

export { indexerSchema } from './config';

export interface Indexer extends Service {
  readonly worker: IndexerWorker;
  readonly queryPort: () => number | undefined;
  readonly opsPort: () => number | undefined;
  /** Where the query API and the ops server listen, once started. */
  readonly addresses: () => { query?: AddressInfo; ops?: AddressInfo };
}

/** Builds the indexer from the environment: Kafka consumer, bulk indexer, query API, metrics server. */
export function createIndexer(env: Env, overrides: Partial<IndexerSettings> = {}, hooks: { kafkaSocketFactory?: ISocketFactory } = {}) {
  const cfg = loadProcessConfig(env, 'MPLP_INDEXER_', indexerSchema);
  const settings: IndexerSettings = { ...cfg.own, ...overrides };
  const logger = createLogger({ name: 'indexer', level: cfg.shared.logLevel });
  const registry = createRegistry();
  const metrics = new IndexerMetrics(registry);
  const es = createElasticsearch(cfg.shared);
  const kafka = createKafka(cfg.shared, 'indexer', logger.child({ component: 'kafka' }), hooks.kafkaSocketFactory);
  const bulk = new BulkIndexer(es, settings, metrics, logger.child({ component: 'bulk' }));
  const worker = new IndexerWorker({ kafka, shared: cfg.shared, settings, logger, metrics, bulk, registry });
  const live =
    settings.uiLive && settings.queryPort >= 0
      ? new LiveFeed(
          createKafka(cfg.shared, 'indexer-ui', logger.child({ component: 'live-kafka' })),
          {
            metricsTopic: cfg.shared.topicMetrics,
            alertsTopic: cfg.shared.topicAlerts,
            maxClients: settings.uiMaxLiveClients,
            maxQueuedBytes: 4 * 1024 * 1024,
          },
          logger.child({ component: 'live' }),
          registry,
        )
      : undefined;
  const ui = new UiServer(
    new UiQueries(es, cfg.shared.indexPrefix, {
      maxSeries: settings.uiMaxSeries,
      dependencyTraces: settings.dependenciesMaxTraces,
      dependencySpans: settings.dependenciesMaxSpans,
    }),
    live,
    settings.uiDir || DEFAULT_UI_DIR,
  );
  const api = new QueryApi(
    new TraceQuery(es, cfg.shared.indexPrefix),
    new TraceCache(settings.traceCacheBytes, settings.traceCacheTtlMs),
    queryApiOptions(settings),
    registry,
    logger.child({ component: 'query' }),
    ui,
    new ServiceMetrics(es, cfg.shared.indexPrefix, settings.uiMaxSeries),
  );
  const ops = new OpsServer({ port: settings.httpPort, host: cfg.shared.httpHost, registry, ready: () => worker.ready });
  let queryPort: number | undefined;
  let opsPort: number | undefined;
  const service: Indexer = {
    worker,
    failure: worker.failure,
    queryPort: () => queryPort,
    opsPort: () => opsPort,
    addresses: () => ({ query: api.address(), ops: ops.address() }),
    async start() {
      logger.info({ shared: redactConfig(sharedSchema, cfg.shared), settings: redactConfig(indexerSchema, settings) }, 'starting indexer');
      opsPort = await ops.start();
      await retry(
        () => ensureIndexTemplates(es, cfg.shared.indexPrefix, { shards: cfg.shared.indexShards, replicas: cfg.shared.indexReplicas }),
        {
          attempts: 30,
          baseDelayMs: 500,
          maxDelayMs: 5000,
          classify: (e) => classifyElasticsearchError(e, 'install index templates'),
          onRetry: (err, attempt) => logger.warn({ err, attempt }, 'elasticsearch not ready, retrying'),
        },
      );
      if (settings.queryPort >= 0) {
        if (!ui.hasBundle)
          logger.warn({ uiDir: settings.uiDir || DEFAULT_UI_DIR }, 'no UI bundle found: / answers 404 (run npm run build)');
        // In the background: the live feed is an extra for open pages and must not delay or fail the indexer's start; pages show it as off until it joins.
        live?.start().catch((err) => logger.error({ err }, 'UI live feed failed to start: pages work without live updates'));
        queryPort = (await api.start()).port;
      }
      await worker.start();
      logger.info({ queryPort, opsPort }, 'indexer ready');
    },
    async stop(signal) {
      await worker.stop(signal);
      await api.stop();
      await live?.stop();
      await ops.stop();
      await es.close();
    },
  };
  return { service, logger, shutdownDeadlineMs: settings.shutdownTimeoutMs };
}
