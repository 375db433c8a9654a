import { readFileSync } from 'node:fs';
import { ISocketFactory, Kafka } from 'kafkajs';
import type { Env } from '../../shared/src';
import {
  ByteBudget,
  checkTopicLimits,
  ConfigError,
  createKafka,
  createLogger,
  kafkaClientConfig,
  createRegistry,
  loadProcessConfig,
  OpsServer,
  redactConfig,
  Service,
  sharedSchema,
} from '../../shared/src';
import { createOutputProducer } from '../../shared/src/output-producer';
import { receiverSchema, ReceiverSettings } from './config';
import { bearerAuthorizer, ExportHandler, InFlightBytes } from './export-handler';
import { ReceiverMetrics } from './metrics';
import { OtlpGrpcServer } from './otlp-grpc';
import { OtlpHttpServer } from './otlp-http';
import { SpanPublisher } from './span-publisher';

export { receiverSchema } from './config';
export { splitByTrace, splitExport, decodeExport, gunzipBounded } from './otlp-payload';
export { partitionOfKey } from './trace-partitioner';
export { encodeRpcStatus } from './rpc-status';
export { TRACE_SERVICE } from './otlp-grpc';

export interface Receiver extends Service {
  readonly publisher: SpanPublisher;
  readonly metrics: ReceiverMetrics;
  readonly inFlight: InFlightBytes;
  /** The ports bound once started (useful with port 0). */
  ports(): { http?: number; grpc?: number; ops?: number };
}

/** What one produce request may carry: the raw topic's max.message.bytes as setup creates it. */
const RAW_MAX_MESSAGE_BYTES = 8 * 1024 * 1024;

/** Test seam: how the Kafka client opens its sockets (a test routes them through a proxy it can cut). */
export interface ReceiverHooks {
  kafkaSocketFactory?: ISocketFactory;
}

/** The TLS files are read here, so a bad path stops the start naming its setting. */
function readTls(s: ReceiverSettings): { cert: Buffer; key: Buffer } | undefined {
  if (!!s.tlsCertFile !== !!s.tlsKeyFile) {
    throw new ConfigError(
      s.tlsCertFile ? 'MPLP_RECEIVER_TLS_KEY_FILE' : 'MPLP_RECEIVER_TLS_CERT_FILE',
      'set both MPLP_RECEIVER_TLS_CERT_FILE and MPLP_RECEIVER_TLS_KEY_FILE, or neither',
    );
  }
  if (!s.tlsCertFile) return undefined;
  const read = (setting: string, file: string) => {
    try {
      return readFileSync(file);
    } catch (err) {
      throw new ConfigError(setting, `cannot read ${file}: ${(err as Error).message}`);
    }
  };
  return { cert: read('MPLP_RECEIVER_TLS_CERT_FILE', s.tlsCertFile), key: read('MPLP_RECEIVER_TLS_KEY_FILE', s.tlsKeyFile) };
}

/** Builds the OTLP receiver from the environment: OTLP/HTTP and OTLP/gRPC servers in front of one Kafka producer. */
export function createReceiver(env: Env, overrides: Partial<ReceiverSettings> = {}, hooks: ReceiverHooks = {}) {
  const cfg = loadProcessConfig(env, 'MPLP_RECEIVER_', receiverSchema);
  const settings: ReceiverSettings = { ...cfg.own, ...overrides };
  const tls = readTls(settings);
  const logger = createLogger({ name: 'receiver', level: cfg.shared.logLevel });
  const registry = createRegistry();
  const metrics = new ReceiverMetrics(registry);
  const kafkaLogger = logger.child({ component: 'kafka' });
  const kafka = hooks.kafkaSocketFactory
    ? new Kafka({ ...kafkaClientConfig(cfg.shared, 'receiver', kafkaLogger), socketFactory: hooks.kafkaSocketFactory })
    : createKafka(cfg.shared, 'receiver', kafkaLogger);
  const publisher = new SpanPublisher({
    kafka,
    topic: cfg.shared.topicRaw,
    createProducer: () =>
      createOutputProducer(
        // librdkafka opens its own sockets: a test that routes Kafka through a proxy gets kafkajs.
        hooks.kafkaSocketFactory ? 'kafkajs' : settings.producer,
        kafka,
        cfg.shared,
        logger,
        RAW_MAX_MESSAGE_BYTES,
        {
          setting: 'MPLP_RECEIVER_PRODUCER',
          role: 'receiver',
          idempotent: true,
          connectTimeoutMs: settings.kafkaTimeoutMs,
          librdkafka: {
            // Records given up with the export's deadline, not librdkafka's 5 minutes after it was answered 503.
            'message.timeout.ms': settings.kafkaTimeoutMs,
            'queue.buffering.max.kbytes': Math.ceil((2 * settings.maxInFlightBytes) / 1024),
          },
        },
      ),
    partitioned: settings.records === 'partition',
    timeoutMs: settings.kafkaTimeoutMs,
    cooldownMs: settings.retryAfterMs,
    logger,
  });
  const inFlight = new InFlightBytes(new ByteBudget(settings.maxInFlightBytes, (n) => metrics.inFlightBytes.set(n)), settings.retryAfterMs);
  const handler = new ExportHandler(publisher, metrics, settings.records);
  const common = {
    host: settings.host,
    tls,
    authorized: bearerAuthorizer(settings.token),
    maxRequestBytes: settings.maxRequestBytes,
    inFlight,
    handler,
    metrics,
    logger,
  };
  const httpServer = new OtlpHttpServer({ ...common, port: settings.httpPort });
  const grpcServer = new OtlpGrpcServer({ ...common, port: settings.grpcPort, graceMs: settings.shutdownTimeoutMs / 2 });
  const ports: { http?: number; grpc?: number; ops?: number } = {};
  // Ready once Kafka is and both OTLP servers listen (gRPC starts last): a client told "ready" may export at once.
  const ready = () => publisher.ready && ports.grpc !== undefined;
  const ops = new OpsServer({ port: settings.opsPort, host: cfg.shared.httpHost, registry, ready });
  let summary: NodeJS.Timeout | undefined;
  const service: Receiver = {
    publisher,
    metrics,
    inFlight,
    ports: () => ({ ...ports }),
    async start() {
      logger.info(
        { shared: redactConfig(sharedSchema, cfg.shared), settings: redactConfig(receiverSchema, settings) },
        'starting receiver',
      );
      if (!settings.token && !['127.0.0.1', '::1', 'localhost'].includes(settings.host))
        logger.warn(
          { host: settings.host },
          'receiver listens beyond loopback without MPLP_RECEIVER_TOKEN: anyone who reaches it can write spans',
        );
      // A record is never larger than the export it came from: an export the topic cannot take would never be acknowledged.
      await checkTopicLimits(
        kafka,
        [cfg.shared.topicRaw],
        { name: 'MPLP_RECEIVER_MAX_REQUEST_BYTES', value: settings.maxRequestBytes },
        logger,
      );
      ports.ops = await ops.start();
      await publisher.start();
      ports.http = await httpServer.start();
      ports.grpc = await grpcServer.start();
      logger.info(
        { http: ports.http, grpc: ports.grpc, tls: !!tls, auth: !!settings.token, producer: publisher.kind, records: settings.records },
        'receiver listening',
      );
      summary = setInterval(() => void summarize(metrics).then((s) => logger.info(s, 'summary')), settings.summaryIntervalMs);
      summary.unref();
    },
    async stop() {
      clearInterval(summary);
      await Promise.all([httpServer.stop(), grpcServer.stop()]);
      await publisher.stop();
      await ops.stop();
    },
  };
  return { service, logger, shutdownDeadlineMs: settings.shutdownTimeoutMs };
}

async function summarize(metrics: ReceiverMetrics) {
  const exports = (await metrics.exports.get()).values.reduce<Record<string, number>>((o, v) => {
    const k = `${v.labels.transport}_${v.labels.outcome}`;
    o[k] = v.value;
    return o;
  }, {});
  return {
    exports,
    spansAccepted: (await metrics.spansAccepted.get()).values[0]?.value ?? 0,
    spansRejected: (await metrics.spansRejected.get()).values[0]?.value ?? 0,
  };
}
