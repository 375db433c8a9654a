/**
 * One error hierarchy for the whole pipeline. Every failure that crosses a boundary (Kafka,
 * Elasticsearch, S3, bad input, bad configuration) is turned into an MplpError at that boundary,
 * with a stable `code` that dashboards and DLQ headers can rely on and a `disposition` that the
 * retry helper acts on — the same split as the OpenTelemetry Collector's exporters:
 *   permanent  — retrying cannot help (bad input, mapping error, auth failure);
 *   throttled  — the other side asked us to slow down (429, Kafka throttling);
 *   retryable  — a transient failure (5xx, timeouts, connection refused, leader moved).
 */
export type Disposition = 'permanent' | 'throttled' | 'retryable';

export interface MplpErrorOptions {
  disposition?: Disposition;
  cause?: unknown;
  /** For throttled errors: how long the other side asked us to wait. */
  retryAfterMs?: number;
  details?: Record<string, unknown>;
}

export class MplpError extends Error {
  readonly code: string;
  readonly disposition: Disposition;
  readonly retryAfterMs?: number;
  readonly details?: Record<string, unknown>;

  constructor(code: string, message: string, opts: MplpErrorOptions = {}) {
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.name = new.target.name;
    this.code = code;
    this.disposition = opts.disposition ?? 'permanent';
    this.retryAfterMs = opts.retryAfterMs;
    this.details = opts.details;
  }

  get retryable(): boolean {
    return this.disposition !== 'permanent';
  }
}

/** A setting is missing, malformed or out of range. Always permanent: the process must not start. */
export class ConfigError extends MplpError {
  readonly setting: string;
  constructor(setting: string, message: string) {
    super('config', `${setting}: ${message}`);
    this.setting = setting;
  }
}

/** Input that can never be processed (undecodable message, invalid span, poison document). */
export class InvalidInputError extends MplpError {
  constructor(code: string, message: string, details?: Record<string, unknown>) {
    super(code, message, { disposition: 'permanent', details });
  }
}

/** The operation was cancelled because the process is shutting down. */
export class CancelledError extends MplpError {
  constructor(message = 'cancelled by shutdown') {
    super('cancelled', message, { disposition: 'permanent' });
  }
}

const RETRYABLE_NODE_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'EPIPE',
  'EAI_AGAIN',
  'ENOTFOUND',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'UND_ERR_SOCKET',
  'UND_ERR_CONNECT_TIMEOUT',
  'UND_ERR_HEADERS_TIMEOUT',
  'UND_ERR_BODY_TIMEOUT',
  'UND_ERR_CLOSED',
]);

function errCode(err: unknown): string | undefined {
  const e = err as { code?: unknown; cause?: { code?: unknown } } | null;
  if (e && typeof e.code === 'string') return e.code;
  if (e?.cause && typeof e.cause.code === 'string') return e.cause.code;
  return undefined;
}

/** Classifies an HTTP status the way every HTTP sink here must. */
export function dispositionForStatus(status: number): Disposition {
  if (status === 429) return 'throttled';
  if (status === 408 || status >= 500) return 'retryable';
  return 'permanent';
}

/** Classifies a failure of the Elasticsearch client (transport or HTTP). */
export function classifyElasticsearchError(err: unknown, what = 'elasticsearch request'): MplpError {
  if (err instanceof MplpError) return err;
  const e = err as { name?: string; message?: string; meta?: { statusCode?: number; body?: unknown } };
  const status = e?.meta?.statusCode;
  const message = `${what} failed: ${e?.message ?? String(err)}`;
  if (typeof status === 'number' && status > 0) {
    const disposition = dispositionForStatus(status);
    const code = status === 401 || status === 403 ? 'es_auth' : `es_${status}`;
    return new MplpError(code, message, { disposition, cause: err, details: { status } });
  }
  // Connection errors, timeouts, no living connections: the server may come back.
  if (
    e?.name === 'ConnectionError' ||
    e?.name === 'TimeoutError' ||
    e?.name === 'NoLivingConnectionsError' ||
    RETRYABLE_NODE_CODES.has(errCode(err) ?? '')
  ) {
    return new MplpError('es_unavailable', message, { disposition: 'retryable', cause: err });
  }
  if (e?.name === 'ProductNotSupportedError') {
    return new MplpError('es_not_elasticsearch', message, { disposition: 'permanent', cause: err });
  }
  return new MplpError('es_error', message, { disposition: 'retryable', cause: err });
}

/** Classifies a kafkajs failure. kafkajs marks its own transient errors with `retriable`. */
export function classifyKafkaError(err: unknown, what = 'kafka request'): MplpError {
  if (err instanceof MplpError) return err;
  const e = err as { name?: string; message?: string; retriable?: boolean; type?: string };
  const message = `${what} failed: ${e?.message ?? String(err)}`;
  if (
    e?.type === 'SASL_AUTHENTICATION_FAILED' ||
    e?.name === 'KafkaJSSASLAuthenticationError' ||
    e?.type === 'TOPIC_AUTHORIZATION_FAILED' ||
    e?.type === 'GROUP_AUTHORIZATION_FAILED'
  ) {
    return new MplpError('kafka_auth', message, { disposition: 'permanent', cause: err });
  }
  if (e?.type === 'MESSAGE_TOO_LARGE' || e?.type === 'INVALID_RECORD' || e?.type === 'CORRUPT_MESSAGE') {
    return new MplpError('kafka_record_rejected', message, { disposition: 'permanent', cause: err });
  }
  if (e?.type === 'THROTTLING_QUOTA_EXCEEDED' || e?.type === 'POLICY_VIOLATION') {
    return new MplpError('kafka_throttled', message, { disposition: 'throttled', cause: err });
  }
  if (e?.retriable === false && e?.name !== 'KafkaJSNumberOfRetriesExceeded') {
    return new MplpError('kafka_error', message, { disposition: 'permanent', cause: err });
  }
  return new MplpError('kafka_unavailable', message, { disposition: 'retryable', cause: err });
}

/** Classifies an @aws-sdk/client-s3 failure. */
export function classifyS3Error(err: unknown, what = 's3 request'): MplpError {
  if (err instanceof MplpError) return err;
  const e = err as {
    name?: string;
    message?: string;
    Code?: string;
    $metadata?: { httpStatusCode?: number };
    $retryable?: { throttling?: boolean };
  };
  const name = e?.name ?? e?.Code ?? 'Error';
  const status = e?.$metadata?.httpStatusCode;
  const message = `${what} failed: ${name}${e?.message && e.message !== name ? `: ${e.message}` : ''}`;
  if (['InvalidAccessKeyId', 'SignatureDoesNotMatch', 'AccessDenied', 'ExpiredToken', 'InvalidToken'].includes(name)) {
    return new MplpError('s3_auth', message, { disposition: 'permanent', cause: err });
  }
  if (name === 'NoSuchBucket') return new MplpError('s3_no_bucket', message, { disposition: 'permanent', cause: err });
  if (name === 'NoSuchKey' || name === 'NotFound' || status === 404) {
    return new MplpError('s3_not_found', message, { disposition: 'permanent', cause: err });
  }
  if (name === 'PreconditionFailed' || status === 412) {
    return new MplpError('s3_precondition_failed', message, { disposition: 'permanent', cause: err });
  }
  if (e?.$retryable?.throttling || name === 'SlowDown' || name === 'Throttling' || status === 503 || status === 429) {
    return new MplpError('s3_throttled', message, { disposition: 'throttled', cause: err });
  }
  if (typeof status === 'number' && status > 0) {
    return new MplpError(`s3_${status}`, message, { disposition: dispositionForStatus(status), cause: err });
  }
  return new MplpError('s3_unavailable', message, { disposition: 'retryable', cause: err });
}

/** An HTTP receiver answered with a status other than 2xx (thrown by callers of fetch). */
export class HttpStatusError extends Error {
  constructor(
    readonly status: number,
    readonly body: string,
    readonly retryAfter?: string | null,
  ) {
    super(`HTTP ${status}${body ? `: ${body.slice(0, 200)}` : ''}`);
  }
}

/** Classifies a failure of an HTTP request made with fetch (a receiver's status, or the transport). */
export function classifyHttpError(err: unknown, what = 'http request'): MplpError {
  if (err instanceof MplpError) return err;
  if (err instanceof HttpStatusError) {
    const secs = Number(err.retryAfter);
    const retryAfterMs = err.retryAfter && Number.isFinite(secs) ? secs * 1000 : undefined;
    return new MplpError(`http_${err.status}`, `${what} failed: ${err.message}`, {
      disposition: dispositionForStatus(err.status),
      cause: err,
      retryAfterMs,
      details: { status: err.status },
    });
  }
  const e = err as { name?: string; message?: string } | null;
  // fetch: connection refused/reset, DNS, timeouts (AbortSignal.timeout): the receiver may come back.
  return new MplpError(
    'http_unavailable',
    `${what} failed: ${e?.name === 'TimeoutError' ? 'timed out' : (errCode(err) ?? e?.message ?? String(err))}`,
    { disposition: 'retryable', cause: err },
  );
}

/** Turns anything thrown into a loggable object without leaking request bodies or credentials. */
export function errorSummary(err: unknown): { code: string; message: string; retryable: boolean } {
  if (err instanceof MplpError) return { code: err.code, message: err.message, retryable: err.retryable };
  const e = err as { message?: string } | null;
  return { code: 'unknown', message: e?.message ?? String(err), retryable: false };
}
