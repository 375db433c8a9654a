import path from 'node:path';
import Piscina from 'piscina';
import { Partitioners } from 'kafkajs';
import type { Admin, Kafka } from 'kafkajs';
import type { Registry } from 'prom-client';
import type { Env, Logger, SharedConfig } from '../../shared/src';
import {
  ConfigError,
  createKafka,
  createLogger,
  createRegistry,
  ensureTopics,
  loadProcessConfig,
  OpsServer,
  redactConfig,
  retry,
  classifyKafkaError,
  Service,
  sharedSchema,
} from '../../shared/src';
import { AlertEvaluator } from './alert-evaluator';
import { RulesFile } from './alert-rules';
import { aggregatorSchema, AggregatorSettings } from './config';
import { WindowMerger } from './merge-stage';
import { AggregatorMetrics } from './metrics';
import { SourceStage } from './source-stage';
import { SpanMetrics } from './span-metrics';
import type { WarmupTask } from './pane-worker';

export { aggregatorSchema } from './config';

export interface Aggregator extends Service {
  readonly merger: WindowMerger;
  readonly rules: RulesFile;
  readonly opsPort: () => number | undefined;
}

/** The aggregator's settings from the environment, checked together; a bad one is a ConfigError. */
function loadSettings(env: Env, overrides: Partial<AggregatorSettings>) {
  const cfg = loadProcessConfig(env, 'MPLP_AGGREGATOR_', aggregatorSchema);
  const settings: AggregatorSettings = { ...cfg.own, ...overrides };
  // Past it, one future-stamped span could put the watermark ahead of the clock and make on-time spans late.
  if (settings.maxClockSkewMs > settings.allowedLatenessMs) {
    throw new ConfigError(
      'MPLP_AGGREGATOR_MAX_CLOCK_SKEW',
      `${settings.maxClockSkewMs} ms must not exceed MPLP_AGGREGATOR_ALLOWED_LATENESS (${settings.allowedLatenessMs} ms)`,
    );
  }
  return { shared: cfg.shared, settings };
}

/** The alert rules file, loaded now (a bad file at start is a bad setting: one line naming it). */
function loadRules(settings: AggregatorSettings, metrics: AggregatorMetrics, logger: Logger): RulesFile {
  const rules = new RulesFile(settings.rulesFile, (ok, d) => {
    metrics.rulesReloads.inc({ result: ok ? 'ok' : 'refused' });
    if (ok) logger.info({ file: settings.rulesFile, rules: d.rules }, 'alert rules loaded');
    else logger.error({ err: d.err, file: settings.rulesFile }, 'alert rules file refused; the previous rules stay in force');
  });
  rules.loadInitial();
  return rules;
}

/** The two stages with their producers and thread pools. */
function createStages(
  shared: SharedConfig,
  settings: AggregatorSettings,
  kafka: Kafka,
  admin: Admin,
  deps: { metrics: AggregatorMetrics; registry: Registry; rules: RulesFile; logger: Logger },
) {
  const { metrics, registry, rules, logger } = deps;
  // One producer per stage: an idempotent kafkajs producer has one request in flight per broker,
  // so with one shared producer a window's records queued behind the partials of every source
  // partition closing at the same moment (and the other way round).
  const producerOptions = {
    allowAutoTopicCreation: false,
    idempotent: true,
    maxInFlightRequests: 1,
    createPartitioner: Partitioners.DefaultPartitioner,
  };
  const producers = { partials: kafka.producer(producerOptions), windows: kafka.producer(producerOptions) };
  // The worker file is the compiled JavaScript next to this file in dist/.
  const pool = new Piscina({
    filename: path.join(__dirname, 'pane-worker.js'),
    minThreads: settings.workerThreads,
    maxThreads: settings.workerThreads,
    maxQueue: settings.workerThreads * 16,
  });
  // Window work is on the close→publish path: its own pool, so it never waits behind the span
  // batches queued in the big one (measured: that queue is up to threads × 16 batches deep).
  const mergePool = new Piscina({
    filename: path.join(__dirname, 'pane-worker.js'),
    minThreads: settings.mergeThreads,
    maxThreads: settings.mergeThreads,
  });
  const dimensions = settings.dimensions
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  const source = new SourceStage({
    kafka,
    admin,
    producer: producers.partials,
    pool,
    settings,
    topic: shared.topicValidated,
    rawTopic: shared.topicRaw,
    metrics,
    logger: logger.child({ component: 'source' }),
    dimensions,
    maxUnsettledAgeMs: shared.kafkaMaxUnsettledAgeMs,
    registry,
  });
  const merger = new WindowMerger({
    kafka,
    admin,
    producer: producers.windows,
    pool,
    mergePool,
    settings,
    sourceTopic: shared.topicValidated,
    metricsTopic: shared.topicMetrics,
    alertsTopic: shared.topicAlerts,
    metrics,
    logger: logger.child({ component: 'merge' }),
    rules,
    evaluator: new AlertEvaluator(),
    maxUnsettledAgeMs: shared.kafkaMaxUnsettledAgeMs,
    registry,
    spanMetrics: settings.spanMetrics ? new SpanMetrics(registry) : undefined,
  });
  return { producers, pool, mergePool, source, merger };
}

/** Builds the aggregator from the environment: source stage, merge stage, Piscina pools, alert rules, ops server. */
export function createAggregator(env: Env, overrides: Partial<AggregatorSettings> = {}) {
  const { shared, settings } = loadSettings(env, overrides);
  const cfg = { shared };
  const logger = createLogger({ name: 'aggregator', level: shared.logLevel });
  const registry = createRegistry();
  const metrics = new AggregatorMetrics(registry);
  const rules = loadRules(settings, metrics, logger);
  const kafka = createKafka(shared, 'aggregator', logger.child({ component: 'kafka' }));
  const admin = kafka.admin();
  const { producers, pool, mergePool, source, merger } = createStages(shared, settings, kafka, admin, { metrics, registry, rules, logger });
  const partialsProducer = producers.partials;
  const windowsProducer = producers.windows;
  const ops = new OpsServer({ port: settings.httpPort, host: cfg.shared.httpHost, registry, ready: () => source.ready && merger.ready });
  let opsPort: number | undefined;
  let summary: NodeJS.Timeout | undefined;
  const service: Aggregator = {
    merger,
    rules,
    opsPort: () => opsPort,
    failure: Promise.race([source.failure, merger.failure]),
    async start() {
      logger.info({ shared: redactConfig(sharedSchema, cfg.shared), settings }, 'starting aggregator');
      opsPort = await ops.start();
      await retry(
        async () => {
          await admin.connect();
          await ensureTopics(admin, [
            { topic: settings.partialsTopic, numPartitions: settings.partialsPartitions, replicationFactor: cfg.shared.topicReplication },
          ]);
        },
        {
          attempts: 30,
          baseDelayMs: 500,
          maxDelayMs: 5000,
          classify: (e) => classifyKafkaError(e, 'create the partials topic'),
          onRetry: (err, attempt) => logger.warn({ err, attempt }, 'kafka not ready, retrying'),
        },
      );
      await Promise.all([partialsProducer.connect(), windowsProducer.connect()]);
      rules.watch(settings.rulesPollMs);
      // Measured: the first window after a start took ~100 ms in a cold thread (JIT), 5× a warm one.
      const warm = { kind: 'warmup', digits: settings.hdrDigits, rounds: 60 } satisfies WarmupTask;
      await Promise.all(Array.from({ length: settings.mergeThreads }, () => mergePool.run(warm)));
      await merger.start();
      await source.start();
      summary = setInterval(() => {
        void metrics.spans.get().then((m) => logger.info({ spans: m.values[0]?.value ?? 0 }, 'summary'));
      }, settings.summaryIntervalMs);
      summary.unref();
      logger.info({ opsPort, threads: settings.workerThreads }, 'aggregator ready');
    },
    async stop() {
      clearInterval(summary);
      rules.stop();
      await source.stop();
      await merger.stop();
      await Promise.all([partialsProducer.disconnect(), windowsProducer.disconnect()]);
      await admin.disconnect();
      await pool.destroy();
      await mergePool.destroy();
      await ops.stop();
    },
  };
  return { service, logger, shutdownDeadlineMs: settings.shutdownTimeoutMs };
}
