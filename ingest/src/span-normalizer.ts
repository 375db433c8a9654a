import { NormalizedSpan, SpanKind, StatusCode, Attributes, DroppedCounts } from '../../shared/src';
import { AttributeCounts, flattenAttributes } from './attributes';
import { compareNanos, diffNanos, fromEpochMs, SplitNanos, splitNanosToDecimal, splitNanosToIso, toSplitNanos } from './split-nanos';
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
    h = (Buffer.isBuffer(v) ? v : Buffer.from(v.buffer, v.byteOffset, v.byteLength)).toString('hex');
  }
  if (isAllZeroHex(h)) throw new SpanInvalid(code, `${field} is all zero`);
  return h;
}

function isAllZeroHex(h: string): boolean {
  for (let i = 0; i < h.length; i++) if (h.charCodeAt(i) !== 0x30) return false;
  return true;
}

function nanos(v: unknown, field: string): SplitNanos {
  const t = toSplitNanos(v);
  if (t === undefined) throw new SpanInvalid('timestamps', `${field} is missing or not a positive integer number of nanoseconds (uint64)`);
  return t;
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
  const minStart = fromEpochMs(nowMs - limits.maxPastMs);
  const maxStart = fromEpochMs(nowMs + limits.maxFutureMs);
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
  scope: NormalizedSpan['scope'], limits: NormalizeLimits, minStart: SplitNanos, maxStart: SplitNanos): NormalizedSpan {
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
  if (compareNanos(end, start) < 0) throw new SpanInvalid('timestamps', `endTimeUnixNano ${splitNanosToDecimal(end)} is before startTimeUnixNano ${splitNanosToDecimal(start)}`);
  if (compareNanos(start, minStart) < 0) throw new SpanInvalid('timestamps', `startTimeUnixNano ${splitNanosToIso(start)} is further in the past than allowed (MPLP_INGEST_MAX_PAST)`);
  if (compareNanos(start, maxStart) > 0) throw new SpanInvalid('timestamps', `startTimeUnixNano ${splitNanosToIso(start)} is further in the future than allowed (MPLP_INGEST_MAX_FUTURE)`);

  const counts: AttributeCounts = { dropped: 0, truncated: 0 };
  const attributes = flattenAttributes(span.attributes, limits, counts);
  const allEvents = Array.isArray(span.events) ? span.events : [];
  const allLinks = Array.isArray(span.links) ? span.links : [];
  const events = allEvents.slice(0, limits.maxEvents).map((e) => {
    const t = nanos(e?.timeUnixNano ?? span.startTimeUnixNano, 'events.timeUnixNano');
    return { time: splitNanosToIso(t), name: String(e?.name ?? ''), attributes: flattenAttributes(e?.attributes, limits, counts) };
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
  const status: NormalizedSpan['status'] = { code: statusOf(span.status?.code) };
  if (span.status?.message) status.message = String(span.status.message);
  // One literal in the order of DESIGN.md, no spreads (they showed in profiles). A root keeps an
  // undefined parentSpanId, which JSON leaves out: deleting it would slow every later access.
  const out: NormalizedSpan = {
    traceId, spanId, parentSpanId, name, kind: kindOf(span.kind), service,
    startTime: splitNanosToIso(start), endTime: splitNanosToIso(end), durationNanos: diffNanos(start, end),
    status, attributes, resource, scope, events, links,
  };
  if (dropped.attributes || dropped.events || dropped.links || dropped.truncatedValues) out.dropped = dropped;
  return out;
}
