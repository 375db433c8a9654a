import { nanosToIso, NormalizedSpan, SpanKind, StatusCode, Attributes, DroppedCounts } from '../../shared/src';
import { AttributeCounts, flattenAttributes } from './attributes';
import type { OtlpRequest, OtlpResourceSpans, OtlpScopeSpans, OtlpSpan } from './otlp-decoder';

export interface NormalizeLimits {
  maxAttributes: number;
  maxAttributeValueLength: number;
  maxEvents: number;
  maxLinks: number;
  maxPastMs: number;
  maxFutureMs: number;
}

/** A span that failed validation: DLQ code (stable token) and a reason naming the field. */
export interface SpanRejection { code: string; reason: string; resource: OtlpResourceSpans['resource']; scope: OtlpScopeSpans['scope']; span: OtlpSpan }

export interface NormalizeResult { spans: NormalizedSpan[]; rejected: SpanRejection[]; droppedAttributes: number; truncatedValues: number }

const KINDS: SpanKind[] = ['INTERNAL', 'INTERNAL', 'SERVER', 'CLIENT', 'PRODUCER', 'CONSUMER'];
const KIND_NAMES: Record<string, SpanKind> = {
  SPAN_KIND_UNSPECIFIED: 'INTERNAL', SPAN_KIND_INTERNAL: 'INTERNAL', SPAN_KIND_SERVER: 'SERVER', SPAN_KIND_CLIENT: 'CLIENT',
  SPAN_KIND_PRODUCER: 'PRODUCER', SPAN_KIND_CONSUMER: 'CONSUMER',
};
const STATUS: StatusCode[] = ['UNSET', 'OK', 'ERROR'];
const STATUS_NAMES: Record<string, StatusCode> = { STATUS_CODE_UNSET: 'UNSET', STATUS_CODE_OK: 'OK', STATUS_CODE_ERROR: 'ERROR' };

class SpanInvalid extends Error { constructor(readonly code: string, message: string) { super(message); } }

const HEX = /^[0-9a-f]*$/;

/** An id as lowercase hex of exactly `bytes` bytes, not all zero; `field` names it in the error. */
function idHex(v: Uint8Array | string | null | undefined, bytes: number, field: string, code: string): string {
  let h: string;
  if (v === null || v === undefined || (typeof v !== 'string' && v.length === 0) || v === '') throw new SpanInvalid(code, `${field} is missing`);
  if (typeof v === 'string') {
    h = v.toLowerCase();
    if (!HEX.test(h)) throw new SpanInvalid(code, `${field} "${v.slice(0, 64)}" is not hex (OTLP/JSON ids are hex strings)`);
    if (h.length !== bytes * 2) throw new SpanInvalid(code, `${field} has ${h.length / 2} bytes, expected ${bytes}`);
  } else {
    if (v.length !== bytes) throw new SpanInvalid(code, `${field} has ${v.length} bytes, expected ${bytes}`);
    h = Buffer.from(v.buffer, v.byteOffset, v.byteLength).toString('hex');
  }
  if (/^0+$/.test(h)) throw new SpanInvalid(code, `${field} is all zero`);
  return h;
}

function nanos(v: unknown, field: string): bigint {
  try {
    if (v === null || v === undefined || v === '') throw new Error('missing');
    const b = typeof v === 'bigint' ? v : BigInt(typeof v === 'number' ? Math.trunc(v) : String(v));
    if (b <= 0n) throw new Error('missing');
    return b;
  } catch {
    throw new SpanInvalid('timestamps', `${field} is missing or not an integer number of nanoseconds`);
  }
}

function kindOf(k: number | string | null | undefined): SpanKind {
  if (typeof k === 'string') return KIND_NAMES[k] ?? KINDS[Number(k)] ?? 'INTERNAL';
  return KINDS[k ?? 0] ?? 'INTERNAL';
}

function statusOf(c: number | string | null | undefined): StatusCode {
  if (typeof c === 'string') return STATUS_NAMES[c] ?? STATUS[Number(c)] ?? 'UNSET';
  return STATUS[c ?? 0] ?? 'UNSET';
}

/**
 * Validates and normalizes every span of a decoded OTLP request (DESIGN.md "Input"). Bad spans
 * are returned, not thrown, so the good ones of the same message go on.
 */
export function normalizeRequest(req: OtlpRequest, limits: NormalizeLimits, nowMs: number): NormalizeResult {
  const result: NormalizeResult = { spans: [], rejected: [], droppedAttributes: 0, truncatedValues: 0 };
  const minStart = BigInt(Math.floor(nowMs - limits.maxPastMs)) * 1_000_000n;
  const maxStart = BigInt(Math.floor(nowMs + limits.maxFutureMs)) * 1_000_000n;
  for (const rs of req.resourceSpans ?? []) {
    const resCounts: AttributeCounts = { dropped: 0, truncated: 0 };
    const resource = flattenAttributes(rs?.resource?.attributes, limits, resCounts);
    const svc = resource['service.name'];
    const service = typeof svc === 'string' && svc !== '' ? svc : 'unknown_service';
    if (svc === undefined || svc === '') resource['service.name'] = 'unknown_service';
    for (const ss of rs?.scopeSpans ?? []) {
      const scope: NormalizedSpan['scope'] = { name: String(ss?.scope?.name ?? '') };
      if (ss?.scope?.version) scope.version = String(ss.scope.version);
      for (const span of ss?.spans ?? []) {
        try {
          const n = normalizeSpan(span, service, resource, resCounts, scope, limits, minStart, maxStart);
          if (n.dropped) { result.droppedAttributes += n.dropped.attributes; result.truncatedValues += n.dropped.truncatedValues; }
          result.spans.push(n);
        } catch (err) {
          if (!(err instanceof SpanInvalid)) throw err;
          result.rejected.push({ code: err.code, reason: err.message, resource: rs?.resource, scope: ss?.scope, span });
        }
      }
    }
  }
  return result;
}

function normalizeSpan(span: OtlpSpan, service: string, resource: Attributes, resCounts: AttributeCounts,
  scope: NormalizedSpan['scope'], limits: NormalizeLimits, minStart: bigint, maxStart: bigint): NormalizedSpan {
  if (!span || typeof span !== 'object') throw new SpanInvalid('decode', 'span is not an object');
  const traceId = idHex(span.traceId, 16, 'traceId', 'trace_id');
  const spanId = idHex(span.spanId, 8, 'spanId', 'span_id');
  let parentSpanId: string | undefined;
  const p = span.parentSpanId;
  if (p !== null && p !== undefined && p !== '' && !(typeof p !== 'string' && p.length === 0)) {
    parentSpanId = idHex(p, 8, 'parentSpanId', 'parent_span_id');
  }
  const name = typeof span.name === 'string' ? span.name : '';
  if (name.trim() === '') throw new SpanInvalid('name', 'name is empty');
  const start = nanos(span.startTimeUnixNano, 'startTimeUnixNano');
  const end = nanos(span.endTimeUnixNano, 'endTimeUnixNano');
  if (end < start) throw new SpanInvalid('timestamps', `endTimeUnixNano ${end} is before startTimeUnixNano ${start}`);
  if (start < minStart) throw new SpanInvalid('timestamps', `startTimeUnixNano ${nanosToIso(start)} is further in the past than allowed (MPLP_INGEST_MAX_PAST)`);
  if (start > maxStart) throw new SpanInvalid('timestamps', `startTimeUnixNano ${nanosToIso(start)} is further in the future than allowed (MPLP_INGEST_MAX_FUTURE)`);

  const counts: AttributeCounts = { dropped: 0, truncated: 0 };
  const attributes = flattenAttributes(span.attributes, limits, counts);
  const allEvents = Array.isArray(span.events) ? span.events : [];
  const allLinks = Array.isArray(span.links) ? span.links : [];
  const events = allEvents.slice(0, limits.maxEvents).map((e) => {
    const t = nanos(e?.timeUnixNano ?? span.startTimeUnixNano, 'events.timeUnixNano');
    return { time: nanosToIso(t), name: String(e?.name ?? ''), attributes: flattenAttributes(e?.attributes, limits, counts) };
  });
  const links = allLinks.slice(0, limits.maxLinks).map((l) => ({
    traceId: idHex(l?.traceId, 16, 'links.traceId', 'trace_id'),
    spanId: idHex(l?.spanId, 8, 'links.spanId', 'span_id'),
    attributes: flattenAttributes(l?.attributes, limits, counts),
  }));
  const dropped: DroppedCounts = {
    attributes: counts.dropped + resCounts.dropped + Number(span.droppedAttributesCount ?? 0),
    events: allEvents.length - events.length + Number(span.droppedEventsCount ?? 0),
    links: allLinks.length - links.length + Number(span.droppedLinksCount ?? 0),
    truncatedValues: counts.truncated + resCounts.truncated,
  };
  const out: NormalizedSpan = {
    traceId, spanId, ...(parentSpanId ? { parentSpanId } : {}), name, kind: kindOf(span.kind), service,
    startTime: nanosToIso(start), endTime: nanosToIso(end), durationNanos: Number(end - start),
    status: { code: statusOf(span.status?.code), ...(span.status?.message ? { message: String(span.status.message) } : {}) },
    attributes, resource, scope, events, links,
  };
  if (dropped.attributes || dropped.events || dropped.links || dropped.truncatedValues) out.dropped = dropped;
  return out;
}
