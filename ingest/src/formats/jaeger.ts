import type { AnyValue, KeyValue } from '../attributes';
import type { OtlpRequest, OtlpSpan } from '../otlp-decoder';

/**
 * A `jaeger.api_v2.Span` as protobufjs decodes it (ids Uint8Array, enums numbers, Long integers,
 * Timestamp/Duration objects) or as jsonpb writes it (ids base64, enums names, int64 strings,
 * RFC 3339 times, "1.5s" durations). The readers below take either.
 */
export interface JaegerKeyValue {
  key?: string | null;
  vType?: number | string | null;
  vStr?: string | null;
  vBool?: boolean | null;
  vInt64?: unknown;
  vFloat64?: number | string | null;
  vBinary?: Uint8Array | string | null;
}
export interface JaegerSpan {
  traceId?: unknown;
  spanId?: unknown;
  operationName?: string | null;
  references?: Array<{ traceId?: unknown; spanId?: unknown; refType?: number | string | null }> | null;
  startTime?: unknown;
  duration?: unknown;
  tags?: JaegerKeyValue[] | null;
  logs?: Array<{ timestamp?: unknown; fields?: JaegerKeyValue[] | null }> | null;
  process?: { serviceName?: string | null; tags?: JaegerKeyValue[] | null } | null;
}

/** Nanoseconds since the epoch (a decimal string) of a Timestamp, or undefined when it cannot be read. */
export type TimeReader = (t: unknown) => bigint | undefined;

const KINDS: Record<string, number> = { internal: 1, server: 2, client: 3, producer: 4, consumer: 5 };
const VALUE_TYPES = ['STRING', 'BOOL', 'INT64', 'FLOAT64', 'BINARY'];

/** A tag as an OTLP KeyValue, by its vType (a number in protobuf, a name in JSON; STRING when absent). */
function attribute(kv: JaegerKeyValue): KeyValue {
  const t = typeof kv.vType === 'number' ? VALUE_TYPES[kv.vType] : (kv.vType ?? 'STRING');
  let value: AnyValue;
  switch (t) {
    case 'BOOL':
      value = { boolValue: Boolean(kv.vBool) };
      break;
    case 'INT64':
      value = { intValue: kv.vInt64 ?? 0 };
      break;
    case 'FLOAT64':
      value = { doubleValue: kv.vFloat64 ?? 0 };
      break;
    case 'BINARY':
      value = { bytesValue: kv.vBinary ?? '' };
      break;
    default:
      value = { stringValue: kv.vStr ?? '' };
  }
  return { key: kv.key, value };
}

function tagText(kv: JaegerKeyValue): string {
  const v = attribute(kv).value!;
  return String(v.stringValue ?? v.boolValue ?? v.intValue ?? v.doubleValue ?? '');
}

/**
 * One Jaeger span as a one-span OTLP request, the way Jaeger's own OTLP translator maps it:
 * process.serviceName → service.name and process.tags → resource attributes; span.kind,
 * otel.status_code / otel.status_description / error, otel.scope.name / version (and the older
 * otel.library.*) and w3c.tracestate tags → those fields (and out of the attributes); the first
 * CHILD_OF reference in the same trace → parent, every other reference → a link; logs → events
 * named by their `event` field.
 */
export function jaegerToOtlp(
  span: JaegerSpan,
  id: (v: unknown) => Uint8Array | string | undefined,
  time: TimeReader,
  duration: TimeReader,
): { req: OtlpRequest; span: OtlpSpan } {
  const attributes: KeyValue[] = [];
  let kind = 0;
  let statusCode: string | undefined;
  let statusMessage: string | undefined;
  let errorTag = false;
  let traceState: string | undefined;
  const scope: { name?: string; version?: string } = {};
  for (const kv of Array.isArray(span.tags) ? span.tags : []) {
    const key = kv?.key;
    if (key === 'span.kind') kind = KINDS[tagText(kv).toLowerCase()] ?? 0;
    else if (key === 'otel.status_code') statusCode = tagText(kv).toUpperCase();
    else if (key === 'otel.status_description') statusMessage = tagText(kv);
    else if (key === 'error') errorTag = tagText(kv) === 'true';
    else if (key === 'otel.scope.name' || key === 'otel.library.name') scope.name = tagText(kv);
    else if (key === 'otel.scope.version' || key === 'otel.library.version') scope.version = tagText(kv);
    else if (key === 'w3c.tracestate') traceState = tagText(kv);
    else attributes.push(attribute(kv));
  }
  const code = statusCode === 'ERROR' || (statusCode === undefined && errorTag) ? 2 : statusCode === 'OK' ? 1 : 0;
  const traceId = id(span.traceId);
  let parentSpanId: Uint8Array | string | undefined;
  const links: NonNullable<OtlpSpan['links']> = [];
  for (const ref of Array.isArray(span.references) ? span.references : []) {
    const refTrace = id(ref?.traceId);
    const childOf = ref?.refType === undefined || ref?.refType === null || ref.refType === 0 || ref.refType === 'CHILD_OF';
    if (parentSpanId === undefined && childOf && sameId(refTrace, traceId)) parentSpanId = id(ref.spanId);
    else links.push({ traceId: refTrace, spanId: id(ref?.spanId) });
  }
  const start = time(span.startTime);
  const d = duration(span.duration);
  const events = (Array.isArray(span.logs) ? span.logs : []).map((log) => {
    let name = '';
    const eventAttributes: KeyValue[] = [];
    for (const f of Array.isArray(log?.fields) ? log.fields : []) {
      if (f?.key === 'event') name = tagText(f);
      else eventAttributes.push(attribute(f));
    }
    const t = time(log?.timestamp);
    return { timeUnixNano: t === undefined ? undefined : String(t), name, attributes: eventAttributes };
  });
  const out: OtlpSpan = {
    traceId,
    spanId: id(span.spanId),
    parentSpanId,
    traceState,
    name: span.operationName,
    kind,
    startTimeUnixNano: start === undefined ? undefined : String(start),
    endTimeUnixNano: start === undefined || d === undefined ? undefined : String(start + d),
    attributes,
    events,
    links,
    status: { code, message: statusMessage },
  };
  const resourceAttributes: KeyValue[] = [{ key: 'service.name', value: { stringValue: span.process?.serviceName ?? '' } }];
  for (const kv of Array.isArray(span.process?.tags) ? span.process.tags : []) resourceAttributes.push(attribute(kv));
  return { span: out, req: { resourceSpans: [{ resource: { attributes: resourceAttributes }, scopeSpans: [{ scope, spans: [out] }] }] } };
}

function sameId(a: Uint8Array | string | undefined, b: Uint8Array | string | undefined): boolean {
  if (a === undefined || b === undefined) return false;
  const h = (v: Uint8Array | string) => (typeof v === 'string' ? v.toLowerCase() : Buffer.from(v).toString('hex'));
  return h(a) === h(b);
}
