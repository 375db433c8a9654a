import * as grpc from '@grpc/grpc-js';
import { ExportTraceServiceResponseType, InvalidInputError, MplpError } from '../../shared/src';
import { ExportAnswer } from './export-handler';
import { TooLargeError } from './otlp-payload';
import { encodeRpcStatus } from './rpc-status';
import type { OtlpHttpOptions } from './otlp-http';

export interface OtlpGrpcOptions extends OtlpHttpOptions {
  /** How long a graceful shutdown may take before open connections are cut. */
  graceMs: number;
}

/**
 * `opentelemetry.proto.collector.trace.v1.TraceService`, built from the generated protobufjs
 * types. The request stays bytes here and is decoded by the handler with the generated decoder:
 * a decode failure inside grpc-js' deserializer would surface as INTERNAL, and the spec wants
 * INVALID_ARGUMENT (and the bytes of a one-trace export are forwarded as they came).
 */
export const TRACE_SERVICE: grpc.ServiceDefinition = {
  Export: {
    path: '/opentelemetry.proto.collector.trace.v1.TraceService/Export',
    requestStream: false,
    responseStream: false,
    requestSerialize: (b: Buffer) => b,
    requestDeserialize: (b: Buffer) => b,
    responseSerialize: (m: unknown) => Buffer.from(ExportTraceServiceResponseType.encode(m).finish()),
    responseDeserialize: (b: Buffer) => ExportTraceServiceResponseType.decode(b),
  },
};

/**
 * OTLP/gRPC on its own port. grpc-js inflates gzip messages itself and refuses one that inflates
 * past `grpc.max_receive_message_length` (the cap) with RESOURCE_EXHAUSTED before it reaches us.
 * Refusals: INVALID_ARGUMENT bad payload, UNAUTHENTICATED wrong token, UNAVAILABLE with a
 * google.rpc.RetryInfo detail when Kafka is away or too much is in flight.
 */
export class OtlpGrpcServer {
  private server?: grpc.Server;
  constructor(private readonly opts: OtlpGrpcOptions) {}

  async start(): Promise<number> {
    const server = new grpc.Server({ 'grpc.max_receive_message_length': this.opts.maxRequestBytes, 'grpc.max_concurrent_streams': 100 });
    server.addService(TRACE_SERVICE, {
      Export: (call: grpc.ServerUnaryCall<Buffer, unknown>, cb: grpc.sendUnaryData<unknown>) => {
        void this.export(call, cb);
      },
    });
    const creds = this.opts.tls
      ? grpc.ServerCredentials.createSsl(null, [{ cert_chain: this.opts.tls.cert, private_key: this.opts.tls.key }], false)
      : grpc.ServerCredentials.createInsecure();
    const host = this.opts.host.includes(':') ? `[${this.opts.host}]` : this.opts.host;
    const port = await new Promise<number>((resolve, reject) =>
      server.bindAsync(`${host}:${this.opts.port}`, creds, (err, p) => (err ? reject(err) : resolve(p))),
    );
    this.server = server;
    return port;
  }

  async stop(): Promise<void> {
    const s = this.server;
    this.server = undefined;
    if (!s) return;
    // In-flight exports are answered first (tryShutdown refuses new calls); a client that keeps
    // its connection open past `graceMs` is cut, so shutdown stays within its deadline.
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      new Promise<void>((resolve) => s.tryShutdown(() => resolve())),
      new Promise<void>((resolve) => {
        timer = setTimeout(() => {
          s.forceShutdown();
          resolve();
        }, this.opts.graceMs);
      }),
    ]);
    clearTimeout(timer);
  }

  private async export(call: grpc.ServerUnaryCall<Buffer, unknown>, cb: grpc.sendUnaryData<unknown>): Promise<void> {
    const started = process.hrtime.bigint();
    const body = call.request;
    let held = 0;
    try {
      const auth = call.metadata.get('authorization')[0];
      if (!this.opts.authorized(typeof auth === 'string' ? auth : undefined)) {
        return this.refuse(cb, grpc.status.UNAUTHENTICATED, 'missing or wrong bearer token', 'unauthenticated');
      }
      this.opts.inFlight.take(body.length);
      held = body.length;
      const answer: ExportAnswer = await this.opts.handler.export(body, 'protobuf');
      const partialSuccess =
        answer.rejectedSpans > 0 ? { rejectedSpans: answer.rejectedSpans, errorMessage: answer.errorMessage ?? '' } : undefined;
      cb(null, partialSuccess ? { partialSuccess } : {});
      this.opts.metrics.exports.inc({ transport: 'grpc', outcome: partialSuccess ? 'partial' : 'ok' });
    } catch (err) {
      this.refuseError(cb, err);
    } finally {
      if (held > 0) this.opts.inFlight.give(held);
      this.opts.metrics.exportSeconds.observe({ transport: 'grpc' }, Number(process.hrtime.bigint() - started) / 1e9);
    }
  }

  private refuseError(cb: grpc.sendUnaryData<unknown>, err: unknown): void {
    if (err instanceof TooLargeError) return this.refuse(cb, grpc.status.RESOURCE_EXHAUSTED, err.message, 'too_large');
    if (err instanceof InvalidInputError) return this.refuse(cb, grpc.status.INVALID_ARGUMENT, err.message, 'invalid');
    if (err instanceof MplpError && err.retryable) {
      return this.refuse(
        cb,
        grpc.status.UNAVAILABLE,
        err.message,
        err.disposition === 'throttled' ? 'throttled' : 'unavailable',
        err.retryAfterMs,
      );
    }
    this.opts.logger.error({ err: (err as Error).message }, 'export failed');
    this.refuse(cb, grpc.status.INTERNAL, `internal error: ${(err as Error).message}`, 'internal');
  }

  private refuse(cb: grpc.sendUnaryData<unknown>, code: grpc.status, message: string, outcome: string, retryAfterMs?: number): void {
    this.opts.metrics.exports.inc({ transport: 'grpc', outcome });
    const metadata = new grpc.Metadata();
    // The status with its RetryInfo detail, as gRPC's rich error model carries it.
    if (retryAfterMs !== undefined) metadata.set('grpc-status-details-bin', encodeRpcStatus(code, message, retryAfterMs));
    cb({ code, details: message, metadata });
  }
}
