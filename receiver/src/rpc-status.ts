import { Writer } from 'protobufjs';

/** gRPC status codes used by the receiver (the same numbers go into google.rpc.Status). */
export const GrpcCode = {
  OK: 0,
  INVALID_ARGUMENT: 3,
  RESOURCE_EXHAUSTED: 8,
  UNIMPLEMENTED: 12,
  UNAVAILABLE: 14,
  UNAUTHENTICATED: 16,
} as const;

/**
 * `google.rpc.Status` in protobuf: the body of every OTLP/HTTP error answer and the gRPC
 * `grpc-status-details-bin` trailer. With `retryAfterMs` it carries a `google.rpc.RetryInfo`
 * detail, which tells an OTLP client how long to wait (the spec's throttling signal).
 */
export function encodeRpcStatus(code: number, message: string, retryAfterMs?: number): Buffer {
  const w = Writer.create();
  if (code !== 0) w.uint32(8).int32(code);
  if (message) w.uint32(18).string(message);
  if (retryAfterMs !== undefined) {
    const duration = Writer.create();
    const seconds = Math.floor(retryAfterMs / 1000);
    const nanos = Math.round((retryAfterMs % 1000) * 1e6);
    if (seconds) duration.uint32(8).int64(seconds);
    if (nanos) duration.uint32(16).int32(nanos);
    const retryInfo = Writer.create().uint32(10).bytes(duration.finish()).finish();
    const any = Writer.create().uint32(10).string('type.googleapis.com/google.rpc.RetryInfo').uint32(18).bytes(retryInfo).finish();
    w.uint32(26).bytes(any);
  }
  return Buffer.from(w.finish());
}
