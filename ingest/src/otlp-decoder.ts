import { ExportTraceServiceRequestType, InvalidInputError, ProtoMessageType } from '../../shared/src';
import type { KeyValue } from './attributes';

const ExportTraceServiceRequest = ExportTraceServiceRequestType as ProtoMessageType<OtlpRequest>;

/** OTLP trace data as decoded from protobuf (ids Uint8Array, times Long) or parsed from JSON (ids hex, times strings). */
export interface OtlpSpan {
  traceId?: Uint8Array | string | null;
  spanId?: Uint8Array | string | null;
  parentSpanId?: Uint8Array | string | null;
  traceState?: string | null;
  name?: string | null;
  kind?: number | string | null;
  startTimeUnixNano?: unknown;
  endTimeUnixNano?: unknown;
  attributes?: KeyValue[] | null;
  droppedAttributesCount?: number | null;
  events?: Array<{ timeUnixNano?: unknown; name?: string | null; attributes?: KeyValue[] | null; droppedAttributesCount?: number | null }> | null;
  droppedEventsCount?: number | null;
  links?: Array<{ traceId?: Uint8Array | string | null; spanId?: Uint8Array | string | null; attributes?: KeyValue[] | null; droppedAttributesCount?: number | null }> | null;
  droppedLinksCount?: number | null;
  status?: { code?: number | string | null; message?: string | null } | null;
}
export interface OtlpScopeSpans { scope?: { name?: string | null; version?: string | null } | null; spans?: OtlpSpan[] | null }
export interface OtlpResourceSpans { resource?: { attributes?: KeyValue[] | null } | null; scopeSpans?: OtlpScopeSpans[] | null }
export interface OtlpRequest { resourceSpans?: OtlpResourceSpans[] | null }

export type Encoding = 'protobuf' | 'json';

/** DESIGN.md: the content-type header decides; otherwise a first non-blank `{` means JSON. */
export function detectEncoding(value: Buffer, contentType?: string): Encoding {
  if (contentType) {
    const ct = contentType.toLowerCase();
    if (ct.includes('json')) return 'json';
    if (ct.includes('protobuf') || ct.includes('proto')) return 'protobuf';
  }
  for (let i = 0; i < value.length; i++) {
    const c = value[i];
    if (c === 0x20 || c === 0x09 || c === 0x0a || c === 0x0d) continue;
    return c === 0x7b ? 'json' : 'protobuf';
  }
  return 'protobuf';
}

export function decodeRequest(value: Buffer, encoding: Encoding): OtlpRequest {
  if (value.length === 0) throw new InvalidInputError('empty', 'empty message: no OTLP request');
  if (encoding === 'protobuf') {
    try {
      return ExportTraceServiceRequest.decode(value);
    } catch (err) {
      throw new InvalidInputError('decode', `not an OTLP/protobuf ExportTraceServiceRequest: ${(err as Error).message}`);
    }
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(value.toString('utf8'));
  } catch (err) {
    throw new InvalidInputError('decode', `not valid OTLP/JSON: ${(err as Error).message}`);
  }
  if (!parsed || typeof parsed !== 'object' || Array.isArray(parsed)) {
    throw new InvalidInputError('decode', 'OTLP/JSON must be an ExportTraceServiceRequest object');
  }
  const rs = (parsed as OtlpRequest).resourceSpans;
  if (rs !== undefined && rs !== null && !Array.isArray(rs)) throw new InvalidInputError('decode', 'OTLP/JSON resourceSpans must be an array');
  return parsed as OtlpRequest;
}

const hex = (v: Uint8Array | string | null | undefined): string | undefined => {
  if (v === null || v === undefined) return undefined;
  return typeof v === 'string' ? v : Buffer.from(v.buffer, v.byteOffset, v.byteLength).toString('hex');
};

/**
 * One span as a standalone OTLP/JSON ExportTraceServiceRequest (ids hex, 64-bit integers as
 * strings), for the DLQ: anyone can replay it after fixing the producer.
 */
export function spanAsOtlpJson(resource: OtlpResourceSpans['resource'], scope: OtlpScopeSpans['scope'], span: OtlpSpan): Buffer {
  const toJsonValue = (o: unknown): unknown => JSON.parse(JSON.stringify(o, (_k, v) => {
    if (v && typeof v === 'object' && typeof (v as { low?: unknown }).low === 'number' && typeof (v as { high?: unknown }).high === 'number') return String(v);
    if (v instanceof Uint8Array) return Buffer.from(v).toString('base64');
    if (v && typeof v === 'object' && (v as { type?: string }).type === 'Buffer' && Array.isArray((v as { data?: unknown }).data)) return Buffer.from((v as { data: number[] }).data).toString('base64');
    return v;
  }));
  const s = toJsonValue({ ...span, traceId: undefined, spanId: undefined, parentSpanId: undefined, links: undefined }) as Record<string, unknown>;
  s.traceId = hex(span.traceId);
  s.spanId = hex(span.spanId);
  if (span.parentSpanId && hex(span.parentSpanId)) s.parentSpanId = hex(span.parentSpanId);
  if (span.links) s.links = span.links.map((l) => ({ ...(toJsonValue(l) as object), traceId: hex(l.traceId), spanId: hex(l.spanId) }));
  const req = { resourceSpans: [{ resource: toJsonValue(resource ?? {}), scopeSpans: [{ scope: toJsonValue(scope ?? {}), spans: [s] }] }] };
  return Buffer.from(JSON.stringify(req));
}

/** Encodes an OTLP request object (plain JS, as fromObject takes it) to protobuf with the official definitions. */
export function encodeRequestProtobuf(obj: unknown): Buffer {
  const msg = ExportTraceServiceRequest.fromObject(obj);
  return Buffer.from(ExportTraceServiceRequest.encode(msg).finish());
}
