import { createHash } from 'node:crypto';
import { InvalidInputError } from '../../../shared/src/threads';
import type { KeyValue } from '../attributes';
import type { OtlpResourceSpans, OtlpSpan } from '../otlp-decoder';
import { assertNotEmpty, contentTypeOf, DecodedMessage, InputFormat, jsonKind } from './types';

/** A zipkin2 v2 JSON span (zipkin-api's zipkin2-api.yaml). */
interface ZipkinEndpoint {
  serviceName?: string;
  ipv4?: string;
  ipv6?: string;
  port?: number;
}
interface ZipkinSpan {
  traceId?: string;
  id?: string;
  parentId?: string;
  name?: string;
  kind?: string;
  timestamp?: number;
  duration?: number;
  debug?: boolean;
  shared?: boolean;
  localEndpoint?: ZipkinEndpoint;
  remoteEndpoint?: ZipkinEndpoint;
  annotations?: Array<{ timestamp?: number; value?: string }>;
  tags?: Record<string, unknown>;
}

const KINDS: Record<string, number> = { SERVER: 2, CLIENT: 3, PRODUCER: 4, CONSUMER: 5 };

const str = (key: string, v: unknown): KeyValue => ({ key, value: { stringValue: String(v) } });

/** A zipkin time or duration (microseconds) in nanoseconds as a decimal string; undefined when not a number. */
function micros(v: unknown): bigint | undefined {
  return typeof v === 'number' && Number.isFinite(v) && v >= 0 ? BigInt(Math.trunc(v)) * 1000n : undefined;
}

const HEX = /^[0-9a-fA-F]{1,32}$/;

/**
 * A zipkin id as 16 (span) or 32 (trace) lowercase hex digits: zipkin2 and zipkin-go read ids
 * as hex numbers, so shorter ids are left-padded, and a 64-bit trace id is the low half of a
 * 128-bit one. Anything else is passed on for the normalizer to reject.
 */
function idOf(v: unknown, digits: 16 | 32): string | undefined {
  if (v === undefined || v === null || v === '') return undefined;
  if (typeof v !== 'string' || !HEX.test(v)) return String(v);
  return v.length > digits ? v : v.toLowerCase().padStart(digits, '0');
}

/**
 * The server half of a span shared with its client (`shared: true`, same id) gets its own id,
 * child of the client's, as Jaeger's zipkin span deduper does: two spans with one id would be one
 * document downstream. Derived from the ids, so a replay makes the same one.
 */
export function sharedServerSpanId(traceId: string, spanId: string): string {
  return createHash('sha256').update(`${traceId}/${spanId}/shared-server`).digest('hex').slice(0, 16);
}

function endpointAttributes(e: ZipkinEndpoint | undefined, prefix: 'net.host' | 'net.peer', out: KeyValue[]): void {
  if (!e || typeof e !== 'object') return;
  if (prefix === 'net.peer' && e.serviceName) out.push(str('peer.service', e.serviceName));
  if (e.ipv4 || e.ipv6) out.push(str(`${prefix}.ip`, e.ipv4 || e.ipv6));
  if (typeof e.port === 'number' && e.port > 0) out.push({ key: `${prefix}.port`, value: { intValue: e.port } });
}

/**
 * One zipkin2 span as an OTLP span, as the Collector's zipkin receiver maps it: kind, tags →
 * attributes (otel.status_code / otel.status_description / error → status, otel.scope.* or
 * otel.library.* → scope), annotations → events, timestamps and durations in µs, 64-bit trace
 * ids widened to 128, the remote endpoint → peer.service / net.peer.*, the local one's address →
 * net.host.*.
 */
function zipkinToOtlp(z: ZipkinSpan): { span: OtlpSpan; scope: { name?: string; version?: string } } {
  const attributes: KeyValue[] = [];
  const scope: { name?: string; version?: string } = {};
  let statusCode: string | undefined;
  let statusMessage: string | undefined;
  let error: string | undefined;
  for (const [key, v] of Object.entries(z.tags && typeof z.tags === 'object' ? z.tags : {})) {
    if (key === 'otel.status_code') statusCode = String(v).toUpperCase();
    else if (key === 'otel.status_description') statusMessage = String(v);
    else if (key === 'error') error = String(v);
    else if (key === 'otel.scope.name' || key === 'otel.library.name') scope.name = String(v);
    else if (key === 'otel.scope.version' || key === 'otel.library.version') scope.version = String(v);
    else attributes.push(str(key, v));
  }
  endpointAttributes(z.localEndpoint, 'net.host', attributes);
  endpointAttributes(z.remoteEndpoint, 'net.peer', attributes);
  const code = statusCode === 'ERROR' || (statusCode === undefined && error !== undefined) ? 2 : statusCode === 'OK' ? 1 : 0;
  if (code === 2 && statusMessage === undefined && error && error !== 'true') statusMessage = error;
  const traceId = idOf(z.traceId, 32);
  let spanId = idOf(z.id, 16);
  let parentSpanId = idOf(z.parentId, 16);
  if (z.shared === true && z.kind === 'SERVER' && typeof traceId === 'string' && typeof spanId === 'string') {
    parentSpanId = spanId;
    spanId = sharedServerSpanId(traceId, spanId);
  }
  const start = micros(z.timestamp);
  const duration = micros(z.duration) ?? 0n;
  const events = (Array.isArray(z.annotations) ? z.annotations : []).map((a) => {
    const t = micros(a?.timestamp);
    return { timeUnixNano: t === undefined ? undefined : String(t), name: String(a?.value ?? '') };
  });
  const span: OtlpSpan = {
    traceId,
    spanId,
    parentSpanId,
    name: z.name,
    kind: KINDS[String(z.kind)] ?? 1,
    startTimeUnixNano: start === undefined ? undefined : String(start),
    endTimeUnixNano: start === undefined ? undefined : String(start + duration),
    attributes,
    events,
    status: { code, message: statusMessage },
  };
  return { span, scope };
}

/**
 * Zipkin v2 JSON: a list of spans, as Zipkin's Kafka collector reads a message. Spans of one local
 * endpoint service share a resource; each span's dead letter is a one-span list of it as it came.
 */
export const zipkinJson: InputFormat = {
  name: 'zipkin_json',
  metricLabel: 'zipkin_json',
  matches(_value, contentType, view) {
    const ct = contentTypeOf(contentType);
    if (ct?.zipkin) return true;
    if (ct && (ct.jaeger || !ct.json)) return false;
    return jsonKind(view) === 'zipkin';
  },
  decode(value, view): DecodedMessage {
    assertNotEmpty(value, 'Zipkin spans');
    const parsed = view.json('Zipkin v2 JSON');
    if (!Array.isArray(parsed)) throw new InvalidInputError('decode', 'Zipkin v2 JSON must be a list of spans');
    const byService = new Map<string, OtlpResourceSpans>();
    const originals = new Map<OtlpSpan, Buffer>();
    for (const item of parsed as unknown[]) {
      const z: ZipkinSpan = item && typeof item === 'object' && !Array.isArray(item) ? (item as ZipkinSpan) : {};
      const service = typeof z.localEndpoint?.serviceName === 'string' ? z.localEndpoint.serviceName : '';
      const { span, scope } = zipkinToOtlp(z);
      let rs = byService.get(service);
      if (!rs) byService.set(service, (rs = { resource: { attributes: [str('service.name', service)] }, scopeSpans: [] }));
      let ss = rs.scopeSpans!.find((s) => s.scope?.name === scope.name && s.scope?.version === scope.version);
      if (!ss) rs.scopeSpans!.push((ss = { scope, spans: [] }));
      ss.spans!.push(span);
      originals.set(span, Buffer.from(`[${JSON.stringify(item) ?? 'null'}]`));
    }
    return { req: { resourceSpans: [...byService.values()] }, undecodable: [], originals, originalContentType: 'application/json' };
  },
};
