import http from 'node:http';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import { InvalidInputError, Logger, MplpError } from '../../shared/src';
import { encodeAnswer, ExportHandler, InFlightBytes } from './export-handler';
import type { ReceiverMetrics } from './metrics';
import { gunzipBounded, PayloadEncoding, TooLargeError } from './otlp-payload';
import { encodeRpcStatus, GrpcCode } from './rpc-status';

export interface OtlpHttpOptions {
  host: string;
  port: number;
  tls?: { cert: Buffer; key: Buffer };
  authorized: (header: string | undefined) => boolean;
  maxRequestBytes: number;
  inFlight: InFlightBytes;
  handler: ExportHandler;
  metrics: ReceiverMetrics;
  logger: Logger;
}

/** An answer that is not 200: HTTP status, gRPC-equivalent code for the Status body, Retry-After. */
class HttpRefusal extends Error {
  constructor(
    readonly status: number,
    readonly code: number,
    message: string,
    readonly outcome: string,
    readonly retryAfterMs?: number,
  ) {
    super(message);
  }
}

const MEDIA_TYPES: Record<string, PayloadEncoding> = { 'application/x-protobuf': 'protobuf', 'application/json': 'json' };

/**
 * OTLP/HTTP: `POST /v1/traces`, binary protobuf or JSON, optionally gzip. The body is read
 * chunk by chunk against the size cap and the in-flight bound (never buffered past either), the
 * answer is sent after Kafka acknowledged, and refusals follow the OTLP spec: 400 bad payload,
 * 413 over the cap, 415 other media types, 429 too much in flight, 503 Kafka unavailable (both
 * with Retry-After), each with a google.rpc.Status body.
 */
export class OtlpHttpServer {
  private server?: http.Server;
  private closing = false;
  constructor(private readonly opts: OtlpHttpOptions) {}

  async start(): Promise<number> {
    const handler = (req: http.IncomingMessage, res: http.ServerResponse) => {
      void this.handle(req, res);
    };
    const server = this.opts.tls
      ? https.createServer({ cert: this.opts.tls.cert, key: this.opts.tls.key }, handler)
      : http.createServer(handler);
    server.keepAliveTimeout = 30_000;
    server.requestTimeout = 60_000;
    this.server = server;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.opts.port, this.opts.host, () => resolve());
    });
    return (server.address() as AddressInfo).port;
  }

  async stop(): Promise<void> {
    const s = this.server;
    this.server = undefined;
    if (!s) return;
    // In-flight exports finish and are answered with `connection: close`; idle keep-alive connections close now.
    this.closing = true;
    await new Promise<void>((resolve) => {
      s.close(() => resolve());
      s.closeIdleConnections();
    });
  }

  private async handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const started = process.hrtime.bigint();
    let held = 0;
    let encoding: PayloadEncoding = 'protobuf';
    try {
      encoding = this.checkHeaders(req);
      const wire = await this.readBody(req, (n) => {
        this.opts.inFlight.take(n);
        held += n;
      });
      let body = wire;
      if (isGzip(req)) {
        body = await gunzipBounded(wire, this.opts.maxRequestBytes);
        this.opts.inFlight.take(body.length);
        held += body.length;
      }
      const answer = await this.opts.handler.export(body, encoding);
      const { body: out, contentType } = encodeAnswer(answer, encoding);
      // Stopping: the answer closes the connection, or an idle keep-alive socket would hold the shutdown.
      res.writeHead(200, { 'content-type': contentType, 'content-length': out.length, ...(this.closing ? { connection: 'close' } : {}) });
      res.end(out);
      this.opts.metrics.exports.inc({ transport: 'http', outcome: answer.rejectedSpans > 0 ? 'partial' : 'ok' });
    } catch (err) {
      this.refuse(req, res, toRefusal(err));
    } finally {
      if (held > 0) this.opts.inFlight.give(held);
      this.opts.metrics.exportSeconds.observe({ transport: 'http' }, Number(process.hrtime.bigint() - started) / 1e9);
    }
  }

  /** Path, method, auth, media type and encoding, before a byte of the body is read. */
  private checkHeaders(req: http.IncomingMessage): PayloadEncoding {
    const path = (req.url ?? '/').split('?')[0];
    if (path !== '/v1/traces')
      throw new HttpRefusal(404, GrpcCode.UNIMPLEMENTED, `no such endpoint ${path}; OTLP traces go to POST /v1/traces`, 'not_found');
    if (req.method !== 'POST') throw new HttpRefusal(405, GrpcCode.UNIMPLEMENTED, 'only POST', 'not_found');
    if (!this.opts.authorized(req.headers.authorization))
      throw new HttpRefusal(401, GrpcCode.UNAUTHENTICATED, 'missing or wrong bearer token', 'unauthenticated');
    const media = (req.headers['content-type'] ?? '').split(';')[0].trim().toLowerCase();
    const encoding = MEDIA_TYPES[media];
    if (!encoding)
      throw new HttpRefusal(
        415,
        GrpcCode.INVALID_ARGUMENT,
        `unsupported content type "${media}"; use application/x-protobuf or application/json`,
        'unsupported',
      );
    const ce = (req.headers['content-encoding'] ?? '').trim().toLowerCase();
    if (ce !== '' && ce !== 'identity' && ce !== 'gzip')
      throw new HttpRefusal(415, GrpcCode.INVALID_ARGUMENT, `unsupported content encoding "${ce}"; use gzip or none`, 'unsupported');
    const declared = Number(req.headers['content-length']);
    if (Number.isFinite(declared) && declared > this.opts.maxRequestBytes) throw tooLarge(this.opts.maxRequestBytes);
    return encoding;
  }

  /** Reads the body, taking each chunk from the in-flight bound first; stops at the cap. */
  private readBody(req: http.IncomingMessage, take: (n: number) => void): Promise<Buffer> {
    return new Promise((resolve, reject) => {
      const chunks: Buffer[] = [];
      let total = 0;
      const fail = (err: unknown) => {
        req.removeAllListeners('data');
        req.pause();
        reject(err);
      };
      req.on('data', (chunk: Buffer) => {
        total += chunk.length;
        if (total > this.opts.maxRequestBytes) return fail(tooLarge(this.opts.maxRequestBytes));
        try {
          take(chunk.length);
        } catch (err) {
          return fail(err);
        }
        chunks.push(chunk);
      });
      req.on('end', () => resolve(chunks.length === 1 ? chunks[0] : Buffer.concat(chunks, total)));
      req.on('error', reject);
    });
  }

  private refuse(req: http.IncomingMessage, res: http.ServerResponse, r: HttpRefusal): void {
    this.opts.metrics.exports.inc({ transport: 'http', outcome: r.outcome });
    if (r.status >= 500 && r.outcome !== 'unavailable') this.opts.logger.error({ err: r.message }, 'export failed');
    if (res.headersSent || res.destroyed) return;
    const body = encodeRpcStatus(r.code, r.message, r.retryAfterMs);
    const headers: http.OutgoingHttpHeaders = { 'content-type': 'application/x-protobuf', 'content-length': body.length };
    if (r.retryAfterMs !== undefined) headers['retry-after'] = String(Math.max(1, Math.ceil(r.retryAfterMs / 1000)));
    if (r.status === 401) headers['www-authenticate'] = 'Bearer realm="mplp-receiver"';
    // A body left unread (refused before or while reading) is not drained: the connection closes after the answer.
    if (!req.complete || this.closing) headers.connection = 'close';
    res.writeHead(r.status, headers);
    res.end(body);
  }
}

const isGzip = (req: http.IncomingMessage) => (req.headers['content-encoding'] ?? '').trim().toLowerCase() === 'gzip';
const tooLarge = (max: number) =>
  new HttpRefusal(413, GrpcCode.RESOURCE_EXHAUSTED, `request larger than ${max} bytes (MPLP_RECEIVER_MAX_REQUEST_BYTES)`, 'too_large');

/** Maps what went wrong to the OTLP/HTTP answer. */
function toRefusal(err: unknown): HttpRefusal {
  if (err instanceof HttpRefusal) return err;
  if (err instanceof TooLargeError) return new HttpRefusal(413, GrpcCode.RESOURCE_EXHAUSTED, err.message, 'too_large');
  if (err instanceof InvalidInputError) return new HttpRefusal(400, GrpcCode.INVALID_ARGUMENT, err.message, 'invalid');
  if (err instanceof MplpError && err.disposition === 'throttled')
    return new HttpRefusal(429, GrpcCode.UNAVAILABLE, err.message, 'throttled', err.retryAfterMs);
  if (err instanceof MplpError && err.retryable)
    return new HttpRefusal(503, GrpcCode.UNAVAILABLE, err.message, 'unavailable', err.retryAfterMs);
  return new HttpRefusal(500, 13, `internal error: ${(err as Error).message}`, 'internal');
}
