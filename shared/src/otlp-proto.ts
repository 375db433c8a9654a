/**
 * The OTLP trace messages as protobufjs static code, generated at build time (`npm run gen:otlp`)
 * from the official opentelemetry-proto definitions vendored in shared/proto/ (version and
 * license there). The generated decoder bounds message nesting, so a deeply nested kvlist cannot
 * exhaust the stack. Everything that reads or writes OTLP protobuf (ingest, the receiver) uses it.
 */
export interface ProtoMessageType<T = unknown> {
  decode(b: Uint8Array): T;
  encode(m: unknown): { finish(): Uint8Array };
  fromObject(o: unknown): unknown;
  toObject(m: unknown, o: Record<string, unknown>): Record<string, unknown>;
  create(props?: unknown): unknown;
}

const root = require('./generated/otlp-proto.js');
const traceService = root.opentelemetry.proto.collector.trace.v1;

/** `opentelemetry.proto.collector.trace.v1.ExportTraceServiceRequest`. */
export const ExportTraceServiceRequestType: ProtoMessageType = traceService.ExportTraceServiceRequest;
/** `opentelemetry.proto.collector.trace.v1.ExportTraceServiceResponse`. */
export const ExportTraceServiceResponseType: ProtoMessageType = traceService.ExportTraceServiceResponse;
/** `opentelemetry.proto.trace.v1.Span`, for decoding one span of a request alone. */
export const OtlpSpanType: ProtoMessageType = root.opentelemetry.proto.trace.v1.Span;
/** `opentelemetry.proto.resource.v1.Resource`. */
export const OtlpResourceType: ProtoMessageType = root.opentelemetry.proto.resource.v1.Resource;
/** `opentelemetry.proto.common.v1.InstrumentationScope`. */
export const OtlpScopeType: ProtoMessageType = root.opentelemetry.proto.common.v1.InstrumentationScope;
