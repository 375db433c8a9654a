import { InvalidInputError } from '../../../shared/src/threads';
import { jaegerToOtlp, JaegerSpan } from './jaeger';
import { protoNanos } from './jaeger-proto';
import { assertNotEmpty, contentTypeOf, DecodedMessage, InputFormat, jsonKind } from './types';

/** Content type of a Jaeger JSON span in the DLQ. */
export const JAEGER_JSON_CONTENT_TYPE = 'application/json; messageType=jaeger.api_v2.Span';

const HEX = /^[0-9a-fA-F]+$/;
const RFC3339 = /^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d{1,9}))?(Z|[+-]\d\d:\d\d)$/i;
const DURATION = /^(\d+)(?:\.(\d{1,9}))?s$/;

/** An id as jsonpb writes Jaeger's (base64 of the bytes), or hex (16 or 32 digits). */
export function jsonId(v: unknown): Uint8Array | string | undefined {
  if (typeof v !== 'string' || v === '') return undefined;
  if (HEX.test(v) && (v.length === 16 || v.length === 32)) return v.toLowerCase();
  return Buffer.from(v, 'base64');
}

const fraction = (digits: string | undefined) => BigInt((digits ?? '').padEnd(9, '0'));

/** A Timestamp as jsonpb writes it (RFC 3339, up to 9 fraction digits), in nanoseconds. */
export function rfc3339Nanos(t: unknown): bigint | undefined {
  if (typeof t !== 'string') return protoNanos(t);
  const m = RFC3339.exec(t);
  const ms = m ? Date.parse(`${m[1]}${m[3].toUpperCase()}`) : NaN;
  return Number.isFinite(ms) && ms > 0 ? BigInt(ms) * 1_000_000n + fraction(m![2]) : undefined;
}

/** A Duration as jsonpb writes it (`"0.001500s"`), in nanoseconds. */
export function durationNanos(d: unknown): bigint | undefined {
  if (typeof d !== 'string') return protoNanos(d);
  const m = DURATION.exec(d);
  return m ? BigInt(m[1]) * 1_000_000_000n + fraction(m[2]) : undefined;
}

/**
 * One `jaeger.api_v2.Span` per message as JSON (the Jaeger collector's Kafka writer with
 * `encoding: json`, jsonpb): an object with traceId / spanId (Jaeger's own JSON spells them
 * traceID / spanID; both are read), ids base64 or hex.
 */
export const jaegerJson: InputFormat = {
  name: 'jaeger_json',
  metricLabel: 'jaeger_json',
  matches(_value, contentType, view) {
    const ct = contentTypeOf(contentType);
    if (ct?.jaeger) return ct.json;
    if (ct && (ct.zipkin || !ct.json)) return false;
    return jsonKind(view) === 'jaeger';
  },
  decode(value, view): DecodedMessage {
    assertNotEmpty(value, 'Jaeger span');
    const parsed = view.json('Jaeger JSON');
    if (!parsed || typeof parsed !== 'object' || Array.isArray(parsed))
      throw new InvalidInputError('decode', 'Jaeger JSON must be one jaeger.api_v2.Span object');
    const o = parsed as Record<string, unknown>;
    const refs = Array.isArray(o.references)
      ? o.references.map((r: Record<string, unknown>) => ({ ...r, traceId: r?.traceId ?? r?.traceID, spanId: r?.spanId ?? r?.spanID }))
      : o.references;
    const span = { ...o, traceId: o.traceId ?? o.traceID, spanId: o.spanId ?? o.spanID, references: refs } as JaegerSpan;
    const res = jaegerToOtlp(span, jsonId, rfc3339Nanos, durationNanos);
    return { req: res.req, undecodable: [], originals: new Map([[res.span, value]]), originalContentType: JAEGER_JSON_CONTENT_TYPE };
  },
};
