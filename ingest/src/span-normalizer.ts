import { NormalizedSpan, SpanKind, StatusCode, Attributes, DroppedCounts, MplpError } from '../../shared/src/threads';
import { AttributeCounts, flattenAttributes, newCounts } from './attributes';
import { compareNanos, diffNanos, fromEpochMs, SplitNanos, splitNanosToDecimal, splitNanosToIso, toSplitNanos } from './split-nanos';
import type { OtlpRequest, OtlpResourceSpans, OtlpScopeSpans, OtlpSpan } from './otlp-decoder';

export interface NormalizeLimits {
  maxAttributes: number;
  maxAttributeValueLength: number;
  maxAttributeKeyBytes: number;
  maxAttributeDepth: number;
  maxEvents: number;
  maxLinks: number;
  maxPastMs: number;
  maxFutureMs: number;
  /** Longest end − start accepted (timestamps past it). */
  maxDurationMs: number;
  /** About how much NDJSON one input message may become (MPLP_INGEST_MAX_OUTPUT_BYTES_PER_MESSAGE). */
  maxOutputBytesPerMessage: number;
}

/** A span that failed validation: DLQ code (stable token) and a reason naming the field. */
export interface SpanRejection {
  code: string;
  reason: string;
  resource: OtlpResourceSpans['resource'];
  scope: OtlpScopeSpans['scope'];
  span: OtlpSpan;
}

export interface NormalizeResult {
  spans: NormalizedSpan[];
  rejected: SpanRejection[];
  droppedAttributes: number;
  truncatedValues: number;
}

/**
 * The normalized spans of one message would pass MPLP_INGEST_MAX_OUTPUT_BYTES_PER_MESSAGE: thrown
 * while flattening, before the output exists, so the whole message goes to the DLQ (too_large).
 */
export class OutputTooLargeError extends MplpError {
  constructor(limit: number) {
    super('too_large', `its spans would become more than MPLP_INGEST_MAX_OUTPUT_BYTES_PER_MESSAGE (${limit}) bytes of output`, {
      disposition: 'permanent',
    });
  }
}

/** Largest value of the Elasticsearch `integer` type the dropped.* counters are mapped to. */
export const ES_INTEGER_MAX = 2 ** 31 - 1;

/** A count from the input (any type) as a non-negative integer within ES `integer`. */
export function clampCount(v: unknown): number {
  const n = Math.floor(Number(v));
  return Number.isFinite(n) && n > 0 ? Math.min(n, ES_INTEGER_MAX) : 0;
}

/** Fixed NDJSON of a span line without attributes, events or links (ids, times, field names). */
const SPAN_LINE_BASE = 320;

const KINDS: SpanKind[] = ['INTERNAL', 'INTERNAL', 'SERVER', 'CLIENT', 'PRODUCER', 'CONSUMER'];
const KIND_NAMES: Record<string, SpanKind> = {
  SPAN_KIND_UNSPECIFIED: 'INTERNAL',
  SPAN_KIND_INTERNAL: 'INTERNAL',
  SPAN_KIND_SERVER: 'SERVER',
  SPAN_KIND_CLIENT: 'CLIENT',
  SPAN_KIND_PRODUCER: 'PRODUCER',
  SPAN_KIND_CONSUMER: 'CONSUMER',
};
const STATUS: StatusCode[] = ['UNSET', 'OK', 'ERROR'];
const STATUS_NAMES: Record<string, StatusCode> = { STATUS_CODE_UNSET: 'UNSET', STATUS_CODE_OK: 'OK', STATUS_CODE_ERROR: 'ERROR' };

class SpanInvalid extends Error {
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

const HEX = /^[0-9a-f]*$/;

/** An id as lowercase hex of exactly `bytes` bytes, not all zero; `field` names it in the error. */
function idHex(v: Uint8Array | string | null | undefined, bytes: number, field: string, code: string): string {
  let h: string;
  if (v === null || v === undefined || (typeof v !== 'string' && v.length === 0) || v === '')
    throw new SpanInvalid(code, `${field} is missing`);
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

interface TimeWindow {
  minStart: SplitNanos;
  maxStart: SplitNanos;
  maxEnd: SplitNanos;
  maxDurationNanos: number;
}

/** The flattened resource shared by the spans of one ResourceSpans, and what it costs on each span line. */
interface SharedResource {
  resource: Attributes;
  service: string;
  counts: AttributeCounts;
}

/** Charges output against the message's budget; throws OutputTooLargeError once it is spent. */
type Charge = (chars: number) => void;

/**
 * Validates and normalizes every span of a decoded OTLP request (DESIGN.md "Input"). Anything
 * wrong with one span (a rule, a malformed value, a type the decoder let through) rejects that
 * span alone, with a code, so the good ones of the same message go on. Only passing the output
 * budget of the whole message throws.
 */
export function normalizeRequest(req: OtlpRequest, limits: NormalizeLimits, nowMs: number): NormalizeResult {
  const result: NormalizeResult = { spans: [], rejected: [], droppedAttributes: 0, truncatedValues: 0 };
  const window: TimeWindow = {
    minStart: fromEpochMs(nowMs - limits.maxPastMs),
    maxStart: fromEpochMs(nowMs + limits.maxFutureMs),
    maxEnd: fromEpochMs(nowMs + limits.maxFutureMs + limits.maxDurationMs),
    maxDurationNanos: limits.maxDurationMs * 1e6,
  };
  let left = limits.maxOutputBytesPerMessage;
  const charge: Charge = (chars) => {
    left -= chars;
    if (left < 0) throw new OutputTooLargeError(limits.maxOutputBytesPerMessage);
  };
  for (const rs of Array.isArray(req.resourceSpans) ? req.resourceSpans : []) {
    let shared: SharedResource | undefined;
    let resourceError: unknown;
    try {
      shared = sharedResource(rs, limits);
    } catch (err) {
      resourceError = err;
    }
    for (const ss of Array.isArray(rs?.scopeSpans) ? rs.scopeSpans : []) {
      let scope: NormalizedSpan['scope'] | undefined;
      let scopeError = resourceError;
      try {
        scope = scopeOf(ss);
      } catch (err) {
        scopeError ??= err;
      }
      for (const span of Array.isArray(ss?.spans) ? ss.spans : []) {
        try {
          if (scopeError !== undefined) throw scopeError;
          const n = normalizeSpan(span, shared!, scope!, limits, window, charge);
          if (n.dropped) {
            result.droppedAttributes += n.dropped.attributes;
            result.truncatedValues += n.dropped.truncatedValues;
          }
          result.spans.push(n);
        } catch (err) {
          if (err instanceof OutputTooLargeError) throw err;
          const where = err === resourceError ? 'resource: ' : err === scopeError ? 'scope: ' : '';
          result.rejected.push({ code: codeOf(err), reason: where + reasonOf(err), resource: rs?.resource, scope: ss?.scope, span });
        }
      }
    }
  }
  return result;
}

function sharedResource(rs: OtlpResourceSpans, limits: NormalizeLimits): SharedResource {
  const counts = newCounts();
  const resource = flattenAttributes(rs?.resource?.attributes, limits, counts);
  const svc = resource['service.name'];
  const service = typeof svc === 'string' && svc !== '' ? svc : 'unknown_service';
  if (svc === undefined || svc === '') resource['service.name'] = 'unknown_service';
  return { resource, service, counts };
}

function scopeOf(ss: OtlpScopeSpans): NormalizedSpan['scope'] {
  const scope: NormalizedSpan['scope'] = { name: String(ss?.scope?.name ?? '') };
  if (ss?.scope?.version) scope.version = String(ss.scope.version);
  return scope;
}

/** The DLQ code of whatever one span threw: the rule it broke, or decode for a value no rule expected. */
function codeOf(err: unknown): string {
  return err instanceof SpanInvalid || err instanceof MplpError ? err.code : 'decode';
}

function reasonOf(err: unknown): string {
  if (err instanceof SpanInvalid || err instanceof MplpError) return err.message;
  return `span could not be read: ${String((err as Error)?.message ?? err).slice(0, 200)}`;
}

function normalizeSpan(
  span: OtlpSpan,
  shared: SharedResource,
  scope: NormalizedSpan['scope'],
  limits: NormalizeLimits,
  window: TimeWindow,
  charge: Charge,
): NormalizedSpan {
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
  const { start, end } = checkedTimes(span, window);
  charge(SPAN_LINE_BASE + name.length + shared.counts.size);

  const counts = newCounts();
  let charged = 0;
  const flatten = (list: OtlpSpan['attributes']): Attributes => {
    const out = flattenAttributes(list, limits, counts);
    charge(counts.size - charged);
    charged = counts.size;
    return out;
  };
  const attributes = flatten(span.attributes);
  const allEvents = Array.isArray(span.events) ? span.events : [];
  const allLinks = Array.isArray(span.links) ? span.links : [];
  const events = allEvents.slice(0, limits.maxEvents).map((e) => {
    const t = nanos(e?.timeUnixNano ?? span.startTimeUnixNano, 'events.timeUnixNano');
    if (compareNanos(t, window.minStart) < 0 || compareNanos(t, window.maxEnd) > 0) {
      throw new SpanInvalid('timestamps', `events.timeUnixNano ${splitNanosToIso(t)} is outside the accepted time range`);
    }
    const eventName = String(e?.name ?? '');
    charge(eventName.length + 60);
    return { time: splitNanosToIso(t), name: eventName, attributes: flatten(e?.attributes) };
  });
  const links = allLinks.slice(0, limits.maxLinks).map((l) => ({
    traceId: idHex(l?.traceId, 16, 'links.traceId', 'trace_id'),
    spanId: idHex(l?.spanId, 8, 'links.spanId', 'span_id'),
    attributes: flatten(l?.attributes),
  }));
  const dropped: DroppedCounts = {
    attributes: clampCount(counts.dropped + shared.counts.dropped + clampCount(span.droppedAttributesCount)),
    events: clampCount(allEvents.length - events.length + clampCount(span.droppedEventsCount)),
    links: clampCount(allLinks.length - links.length + clampCount(span.droppedLinksCount)),
    truncatedValues: clampCount(counts.truncated + shared.counts.truncated),
  };
  const status: NormalizedSpan['status'] = { code: statusOf(span.status?.code) };
  if (span.status?.message) status.message = String(span.status.message);
  // One literal in the order of DESIGN.md, no spreads (they showed in profiles). A root keeps an
  // undefined parentSpanId, which JSON leaves out: deleting it would slow every later access.
  const out: NormalizedSpan = {
    traceId,
    spanId,
    parentSpanId,
    name,
    kind: kindOf(span.kind),
    service: shared.service,
    startTime: splitNanosToIso(start),
    endTime: splitNanosToIso(end),
    durationNanos: diffNanos(start, end),
    status,
    attributes,
    resource: shared.resource,
    scope,
    events,
    links,
  };
  if (dropped.attributes || dropped.events || dropped.links || dropped.truncatedValues) out.dropped = dropped;
  return out;
}

/**
 * Start within the window around now, end not before start and at most MPLP_INGEST_MAX_DURATION
 * after it: so endTime stays a date Elasticsearch takes and durationNanos an exact `long`.
 */
function checkedTimes(span: OtlpSpan, window: TimeWindow): { start: SplitNanos; end: SplitNanos } {
  const start = nanos(span.startTimeUnixNano, 'startTimeUnixNano');
  const end = nanos(span.endTimeUnixNano, 'endTimeUnixNano');
  if (compareNanos(end, start) < 0)
    throw new SpanInvalid(
      'timestamps',
      `endTimeUnixNano ${splitNanosToDecimal(end)} is before startTimeUnixNano ${splitNanosToDecimal(start)}`,
    );
  if (compareNanos(start, window.minStart) < 0)
    throw new SpanInvalid(
      'timestamps',
      `startTimeUnixNano ${splitNanosToIso(start)} is further in the past than allowed (MPLP_INGEST_MAX_PAST)`,
    );
  if (compareNanos(start, window.maxStart) > 0)
    throw new SpanInvalid(
      'timestamps',
      `startTimeUnixNano ${splitNanosToIso(start)} is further in the future than allowed (MPLP_INGEST_MAX_FUTURE)`,
    );
  // Compared in whole seconds first: the nanosecond difference of a far end is not exact in a double.
  if (end.sec - start.sec > window.maxDurationNanos / 1e9 + 1 || diffNanos(start, end) > window.maxDurationNanos) {
    throw new SpanInvalid(
      'timestamps',
      `endTimeUnixNano ${splitNanosToDecimal(end)} is longer after the start than allowed (MPLP_INGEST_MAX_DURATION)`,
    );
  }
  return { start, end };
}
