import {
  ExportTraceServiceRequestType,
  InvalidInputError,
  OtlpResourceType,
  OtlpScopeType,
  OtlpSpanType,
  ProtoMessageType,
} from '../../shared/src/threads';
import type { KeyValue } from './attributes';

const ExportTraceServiceRequest = ExportTraceServiceRequestType as ProtoMessageType<OtlpRequest>;
type Decoder<T> = { decode(b: Uint8Array): T };
const SpanMessage = OtlpSpanType as Decoder<OtlpSpan>;
const ResourceMessage = OtlpResourceType as Decoder<OtlpResourceSpans['resource']>;
const ScopeMessage = OtlpScopeType as Decoder<OtlpScopeSpans['scope']>;

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
  events?: Array<{
    timeUnixNano?: unknown;
    name?: string | null;
    attributes?: KeyValue[] | null;
    droppedAttributesCount?: number | null;
  }> | null;
  droppedEventsCount?: number | null;
  links?: Array<{
    traceId?: Uint8Array | string | null;
    spanId?: Uint8Array | string | null;
    attributes?: KeyValue[] | null;
    droppedAttributesCount?: number | null;
  }> | null;
  droppedLinksCount?: number | null;
  status?: { code?: number | string | null; message?: string | null } | null;
}
export interface OtlpScopeSpans {
  scope?: { name?: string | null; version?: string | null } | null;
  spans?: OtlpSpan[] | null;
}
export interface OtlpResourceSpans {
  resource?: { attributes?: KeyValue[] | null } | null;
  scopeSpans?: OtlpScopeSpans[] | null;
}
export interface OtlpRequest {
  resourceSpans?: OtlpResourceSpans[] | null;
}

/** An OTLP/protobuf ExportTraceServiceRequest, decoded whole (`src/formats/otlp-proto.ts` falls back to decodeProtobufBySpan). */
export function decodeRequest(value: Buffer): OtlpRequest {
  if (value.length === 0) throw new InvalidInputError('empty', 'empty message: no OTLP request');
  try {
    return ExportTraceServiceRequest.decode(value);
  } catch (err) {
    throw new InvalidInputError('decode', `not an OTLP/protobuf ExportTraceServiceRequest: ${(err as Error).message}`);
  }
}

export const hex = (v: Uint8Array | string | null | undefined): string | undefined => {
  if (v === null || v === undefined) return undefined;
  return typeof v === 'string' ? v : Buffer.from(v.buffer, v.byteOffset, v.byteLength).toString('hex');
};

/** JSON text of decoded OTLP (64-bit integers as decimal strings, bytes as base64), as OTLP/JSON spells them. */
function otlpJsonText(o: unknown): string {
  return (
    JSON.stringify(o, (_k, v) => {
      if (
        v &&
        typeof v === 'object' &&
        typeof (v as { low?: unknown }).low === 'number' &&
        typeof (v as { high?: unknown }).high === 'number'
      )
        return String(v);
      if (v instanceof Uint8Array) return Buffer.from(v).toString('base64');
      if (v && typeof v === 'object' && (v as { type?: string }).type === 'Buffer' && Array.isArray((v as { data?: unknown }).data))
        return Buffer.from((v as { data: number[] }).data).toString('base64');
      return v;
    }) ?? 'null'
  );
}

/** The resource or scope of an OTLP/JSON request, as JSON text. */
export function otlpPartJson(part: OtlpResourceSpans['resource'] | OtlpScopeSpans['scope']): string {
  return otlpJsonText(part ?? {});
}

/** One span as OTLP/JSON text (ids hex, 64-bit integers as strings). Throws on input JSON cannot write (too deep). */
export function otlpSpanJson(span: OtlpSpan): string {
  const s = JSON.parse(
    otlpJsonText({ ...span, traceId: undefined, spanId: undefined, parentSpanId: undefined, links: undefined }),
  ) as Record<string, unknown>;
  s.traceId = hex(span.traceId);
  s.spanId = hex(span.spanId);
  if (span.parentSpanId && hex(span.parentSpanId)) s.parentSpanId = hex(span.parentSpanId);
  if (Array.isArray(span.links))
    s.links = span.links.map((l) => ({ ...(JSON.parse(otlpJsonText(l)) as object), traceId: hex(l?.traceId), spanId: hex(l?.spanId) }));
  return JSON.stringify(s);
}

/**
 * One span as a standalone OTLP/JSON ExportTraceServiceRequest (ids hex, 64-bit integers as
 * strings), for the DLQ: anyone can replay it after fixing the producer.
 */
export function spanAsOtlpJson(resource: OtlpResourceSpans['resource'], scope: OtlpScopeSpans['scope'], span: OtlpSpan): Buffer {
  return Buffer.from(
    `{"resourceSpans":[{"resource":${otlpPartJson(resource)},"scopeSpans":[{"scope":${otlpPartJson(scope)},"spans":[${otlpSpanJson(span)}]}]}]}`,
  );
}

/** A part of a protobuf request that did not decode: a one-part OTLP/protobuf request of its raw bytes, and why. */
export interface UndecodablePart {
  request: Buffer;
  reason: string;
  spans: number;
}

/**
 * Protobuf decoding one span at a time, for a message whose whole decode failed: the request,
 * ResourceSpans and ScopeSpans envelopes are walked here, and the resource, scope and each span are
 * decoded on their own, so one span the official decoder cannot read (a kvlist nested past the
 * call stack, a truncated field) costs that span alone. A broken envelope still fails the whole.
 */
export function decodeProtobufBySpan(value: Buffer): { req: OtlpRequest; undecodable: UndecodablePart[] } {
  const undecodable: UndecodablePart[] = [];
  const resourceSpans: OtlpResourceSpans[] = [];
  const why = (err: unknown) => `not an OTLP/protobuf ${(err as Error).message ?? err}`;
  for (const rsBytes of fields(value, 1)) {
    const resourceBytes = fields(rsBytes, 1);
    let resource: OtlpResourceSpans['resource'];
    try {
      resource = resourceBytes.length ? ResourceMessage.decode(resourceBytes[resourceBytes.length - 1]) : undefined;
    } catch (err) {
      undecodable.push({ request: field(1, rsBytes), reason: `resource: ${why(err)}`, spans: 0 });
      continue;
    }
    const scopeSpans: OtlpScopeSpans[] = [];
    for (const ssBytes of fields(rsBytes, 2)) {
      const scopeBytes = fields(ssBytes, 1);
      const wrap = (inner: Buffer) => field(1, Buffer.concat([...resourceBytes.map((r) => field(1, r)), field(2, inner)]));
      let scope: OtlpScopeSpans['scope'];
      try {
        scope = scopeBytes.length ? ScopeMessage.decode(scopeBytes[scopeBytes.length - 1]) : undefined;
      } catch (err) {
        undecodable.push({ request: wrap(ssBytes), reason: `scope: ${why(err)}`, spans: 0 });
        continue;
      }
      const spans: OtlpSpan[] = [];
      for (const spanBytes of fields(ssBytes, 2)) {
        try {
          spans.push(SpanMessage.decode(spanBytes));
        } catch (err) {
          undecodable.push({
            request: wrap(Buffer.concat([...scopeBytes.map((b) => field(1, b)), field(2, spanBytes)])),
            reason: `span: ${why(err)}`,
            spans: 1,
          });
        }
      }
      scopeSpans.push({ scope, spans });
    }
    resourceSpans.push({ resource, scopeSpans });
  }
  return { req: { resourceSpans }, undecodable };
}

/** The length-delimited fields numbered `n` of a protobuf message; throws on a malformed envelope. */
function fields(buf: Buffer, n: number): Buffer[] {
  const out: Buffer[] = [];
  let pos = 0;
  const varint = (): number => {
    let result = 0;
    for (let shift = 0; shift < 64; shift += 7) {
      if (pos >= buf.length) throw new Error('truncated varint');
      const b = buf[pos++];
      if (shift < 49) result += (b & 0x7f) * 2 ** shift;
      if ((b & 0x80) === 0) return result;
    }
    throw new Error('varint too long');
  };
  while (pos < buf.length) {
    const tag = varint();
    const wire = tag % 8;
    if (wire === 0) varint();
    else if (wire === 1) pos += 8;
    else if (wire === 5) pos += 4;
    else if (wire === 2) {
      const len = varint();
      if (pos + len > buf.length) throw new Error('truncated field');
      if (Math.floor(tag / 8) === n) out.push(buf.subarray(pos, pos + len));
      pos += len;
    } else throw new Error(`unsupported wire type ${wire}`);
    if (pos > buf.length) throw new Error('truncated field');
  }
  return out;
}

/** A length-delimited protobuf field. */
function field(n: number, body: Buffer): Buffer {
  const head: number[] = [n * 8 + 2];
  let len = body.length;
  while (len > 127) {
    head.push((len & 127) | 128);
    len >>>= 7;
  }
  head.push(len);
  return Buffer.concat([Buffer.from(head), body]);
}

/** Encodes an OTLP request object (plain JS, as fromObject takes it) to protobuf with the official definitions. */
export function encodeRequestProtobuf(obj: unknown): Buffer {
  const msg = ExportTraceServiceRequest.fromObject(obj);
  return Buffer.from(ExportTraceServiceRequest.encode(msg).finish());
}
