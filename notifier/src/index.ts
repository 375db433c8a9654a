import { Partitioners } from 'kafkajs';
import type { Env } from '../../shared/src';
import {
  classifyKafkaError,
  createKafka,
  createLogger,
  createRegistry,
  ensureTopics,
  loadProcessConfig,
  OpsServer,
  redactConfig,
  retry,
  Service,
  sharedSchema,
} from '../../shared/src';
import { AlertNotifier } from './alert-notifier';
import { checkNotifierSettings, notifierSchema, NotifierSettings, webhookUrls } from './config';
import { NotifierMetrics } from './metrics';
import { AlertmanagerReceiver, WebhookReceiver } from './receivers';
import { AlertStateStore } from './state-store';

export { notifierSchema } from './config';

export interface Notifier extends Service {
  readonly notifier: AlertNotifier;
  readonly opsPort: () => number | undefined;
}

/** Builds the notifier from the environment: the alerts consumer, its receivers, the state topic, the ops server. */
export function createNotifier(env: Env, overrides: Partial<NotifierSettings> = {}) {
  const cfg = loadProcessConfig(env, 'MPLP_NOTIFIER_', notifierSchema);
  const settings: NotifierSettings = { ...cfg.own, ...overrides };
  checkNotifierSettings(settings);
  const logger = createLogger({ name: 'notifier', level: cfg.shared.logLevel });
  const registry = createRegistry();
  const metrics = new NotifierMetrics(registry);
  const kafka = createKafka(cfg.shared, 'notifier', logger.child({ component: 'kafka' }));
  const admin = kafka.admin();
  const producer = kafka.producer({
    allowAutoTopicCreation: false,
    idempotent: true,
    maxInFlightRequests: 1,
    createPartitioner: Partitioners.DefaultPartitioner,
  });
  const store = new AlertStateStore({
    kafka,
    admin,
    producer,
    topic: settings.stateTopic,
    groupId: settings.groupId,
    logger: logger.child({ component: 'state' }),
  });
  const timeoutMs = settings.requestTimeoutMs;
  const alertmanager = settings.alertmanagerUrl
    ? new AlertmanagerReceiver(settings.alertmanagerUrl, settings.resendIntervalMs, timeoutMs)
    : undefined;
  const webhooks = webhookUrls(settings).map(
    (u, index) => new WebhookReceiver(u, { secret: settings.webhookSecret, token: settings.webhookToken, timeoutMs, index }),
  );
  const notifier = new AlertNotifier({
    kafka,
    admin,
    producer,
    store,
    settings,
    alertsTopic: cfg.shared.topicAlerts,
    alertmanager,
    webhooks,
    metrics,
    logger: logger.child({ component: 'deliver' }),
    maxUnsettledAgeMs: cfg.shared.kafkaMaxUnsettledAgeMs,
    registry,
  });
  const ops = new OpsServer({ port: settings.httpPort, host: cfg.shared.httpHost, registry, ready: () => notifier.ready });
  let opsPort: number | undefined;
  let summary: NodeJS.Timeout | undefined;
  const service: Notifier = {
    notifier,
    opsPort: () => opsPort,
    failure: notifier.failure,
    async start() {
      logger.info(
        {
          shared: redactConfig(sharedSchema, cfg.shared),
          settings: redactConfig(notifierSchema, settings),
          receivers: [alertmanager?.name, ...webhooks.map((w) => w.name)].filter(Boolean),
        },
        'starting notifier',
      );
      opsPort = await ops.start();
      await retry(
        async () => {
          await admin.connect();
          await ensureTopics(admin, [
            { topic: settings.dlqTopic, numPartitions: cfg.shared.topicOtherPartitions, replicationFactor: cfg.shared.topicReplication },
          ]);
          await store.ensure(cfg.shared.topicAlerts, cfg.shared.topicReplication);
        },
        {
          attempts: 30,
          baseDelayMs: 500,
          maxDelayMs: 5000,
          classify: (e) => classifyKafkaError(e, 'create the state and DLQ topics'),
          onRetry: (err, attempt) => logger.warn({ err, attempt }, 'kafka not ready, retrying'),
        },
      );
      await producer.connect();
      await notifier.start();
      summary = setInterval(() => {
        void Promise.all([metrics.records.get(), metrics.delivered.get(), metrics.deadLettered.get(), metrics.firing.get()]).then(
          ([records, delivered, dlq, firing]) =>
            logger.info(
              {
                records: records.values[0]?.value ?? 0,
                delivered: Object.fromEntries(delivered.values.map((v) => [v.labels.receiver, v.value])),
                deadLettered: dlq.values.reduce((n, v) => n + v.value, 0),
                firing: firing.values[0]?.value ?? 0,
              },
              'summary',
            ),
        );
      }, settings.summaryIntervalMs);
      summary.unref();
      logger.info({ opsPort }, 'notifier ready');
    },
    async stop(signal?: AbortSignal) {
      clearInterval(summary);
      await notifier.stop(signal);
      await producer.disconnect();
      await admin.disconnect();
      await ops.stop();
    },
  };
  return { service, logger, shutdownDeadlineMs: settings.shutdownTimeoutMs };
}
