import { setting } from '../../shared/src';

/** Settings of the OTLP receiver (MPLP_RECEIVER_*). Defaults work on the local cluster. */
export const receiverSchema = {
  host: setting.host(
    'MPLP_RECEIVER_HOST',
    '127.0.0.1',
    'address the OTLP HTTP and gRPC servers bind (0.0.0.0: every interface; then set a token and TLS)',
  ),
  httpPort: setting.int('MPLP_RECEIVER_HTTP_PORT', 4318, 'OTLP/HTTP port (POST /v1/traces; 0 = any free port)', { min: 0, max: 65535 }),
  grpcPort: setting.int('MPLP_RECEIVER_GRPC_PORT', 4317, 'OTLP/gRPC port (TraceService/Export; 0 = any free port)', { min: 0, max: 65535 }),
  opsPort: setting.int('MPLP_RECEIVER_OPS_PORT', 9405, '/healthz /readyz /metrics port (0 = any free port)', { min: 0, max: 65535 }),
  token: setting.string('MPLP_RECEIVER_TOKEN', '', 'bearer token every export must carry (Authorization: Bearer …; empty = no auth)', {
    secret: true,
  }),
  tlsCertFile: setting.string(
    'MPLP_RECEIVER_TLS_CERT_FILE',
    '',
    'PEM certificate (chain) file: both servers speak TLS (with MPLP_RECEIVER_TLS_KEY_FILE)',
  ),
  tlsKeyFile: setting.string('MPLP_RECEIVER_TLS_KEY_FILE', '', 'PEM private key file of the receiver certificate'),
  producer: setting.oneOf(
    'MPLP_RECEIVER_PRODUCER',
    'auto',
    ['auto', 'librdkafka', 'kafkajs'] as const,
    'client that produces to the raw topic: librdkafka (@confluentinc/kafka-javascript, native; auto = it when its addon is installed, else kafkajs) or kafkajs',
  ),
  records: setting.oneOf(
    'MPLP_RECEIVER_RECORDS',
    'partition',
    ['partition', 'trace'] as const,
    "Kafka records an export becomes: one per destination partition, holding the traces whose id hashes there, or one per trace; either way every trace lands whole in its id's partition",
  ),
  maxRequestBytes: setting.int(
    'MPLP_RECEIVER_MAX_REQUEST_BYTES',
    4 * 1024 * 1024,
    'largest export accepted, after decompression (gzip is inflated only up to this); larger ones get 413 / RESOURCE_EXHAUSTED',
    { min: 1024, max: 64 * 1024 * 1024 },
  ),
  maxInFlightBytes: setting.int(
    'MPLP_RECEIVER_MAX_IN_FLIGHT_BYTES',
    64 * 1024 * 1024,
    'request bytes (received, inflated, being produced) held at once; past it, exports get 429 / UNAVAILABLE with Retry-After',
    { min: 65536 },
  ),
  kafkaTimeoutMs: setting.duration(
    'MPLP_RECEIVER_KAFKA_TIMEOUT',
    10_000,
    'an export waits this long for Kafka to acknowledge it, then gets 503 / UNAVAILABLE',
    { min: 100 },
  ),
  retryAfterMs: setting.duration(
    'MPLP_RECEIVER_RETRY_AFTER',
    5_000,
    'Retry-After (and gRPC RetryInfo) given with 429/503; after a failed produce, exports are refused at once for this long',
    { min: 1000, max: 300_000 },
  ),
  summaryIntervalMs: setting.duration('MPLP_RECEIVER_SUMMARY_INTERVAL', 30_000, 'period of the summary log line', { min: 1000 }),
  shutdownTimeoutMs: setting.duration(
    'MPLP_RECEIVER_SHUTDOWN_TIMEOUT',
    30_000,
    'deadline for a clean shutdown (in-flight exports are answered first)',
    { min: 1000 },
  ),
};

export type ReceiverSettings = { readonly [K in keyof typeof receiverSchema]: (typeof receiverSchema)[K]['default'] };
