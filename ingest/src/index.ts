import path from 'node:path';
import Piscina from 'piscina';
import type { ISocketFactory } from 'kafkajs';
import type { Env } from '../../shared/src';
import {
  checkTopicLimits,
  createKafka,
  createLogger,
  createRegistry,
  loadProcessConfig,
  OpsServer,
  redactConfig,
  Service,
  sharedSchema,
} from '../../shared/src';
import { checkIngestSettings, ingestSchema, IngestSettings } from './config';
import { IngestWorker } from './ingest-worker';
import { IngestMetrics } from './metrics';

export { ingestSchema } from './config';
export { MessageProcessor } from './message-processor';
export { IngestWorker } from './ingest-worker';

export interface Ingest extends Service {
  readonly worker: IngestWorker;
  readonly port: () => number | undefined;
}

/** Builds the ingest worker from the environment: config, logger, Kafka, metrics server. */
export function createIngest(
  env: Env,
  overrides: Partial<IngestSettings> = {},
  {
    kafkaSocketFactory,
    ...hooks
  }: Pick<ConstructorParameters<typeof IngestWorker>[0], 'onBatchCommitted'> & { kafkaSocketFactory?: ISocketFactory } = {},
) {
  const cfg = loadProcessConfig(env, 'MPLP_INGEST_', ingestSchema);
  const settings: IngestSettings = { ...cfg.own, ...overrides };
  checkIngestSettings(settings);
  const logger = createLogger({ name: 'ingest', level: cfg.shared.logLevel });
  const registry = createRegistry();
  const metrics = new IngestMetrics(registry);
  const kafka = createKafka(cfg.shared, 'ingest', logger.child({ component: 'kafka' }), kafkaSocketFactory);
  const pool =
    settings.workerThreads > 0
      ? new Piscina({
          filename: path.join(__dirname, 'decode-worker.js'),
          minThreads: settings.workerThreads,
          maxThreads: settings.workerThreads,
          resourceLimits: { maxYoungGenerationSizeMb: settings.workerYoungGenerationMb },
        })
      : undefined;
  const worker = new IngestWorker({ kafka, shared: cfg.shared, settings, logger, metrics, registry, pool, ...hooks });
  const ops = new OpsServer({ port: settings.httpPort, host: cfg.shared.httpHost, registry, ready: () => worker.ready });
  let port: number | undefined;
  const service: Ingest = {
    worker,
    port: () => port,
    failure: worker.failure,
    async start() {
      logger.info({ shared: redactConfig(sharedSchema, cfg.shared), settings }, 'starting ingest');
      // Larger records would be refused by the broker and end in the DLQ as references.
      const outputs = [cfg.shared.topicValidated, cfg.shared.topicDlq];
      await checkTopicLimits(kafka, outputs, { name: 'MPLP_INGEST_MAX_RECORD_BYTES', value: settings.maxRecordBytes }, logger);
      port = await ops.start();
      await worker.start();
    },
    async stop() {
      await worker.stop();
      await pool?.destroy();
      await ops.stop();
    },
  };
  return { service, logger, shutdownDeadlineMs: settings.shutdownTimeoutMs };
}
