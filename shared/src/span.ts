/** The normalized span of DESIGN.md: what ingest produces and every later stage reads. */
export type SpanKind = 'SERVER' | 'CLIENT' | 'PRODUCER' | 'CONSUMER' | 'INTERNAL';
export type StatusCode = 'UNSET' | 'OK' | 'ERROR';
export type AttributeValue = string | number | boolean | Array<string | number | boolean | null>;
export type Attributes = Record<string, AttributeValue>;

export interface SpanEvent {
  time: string;
  name: string;
  attributes: Attributes;
}
export interface SpanLink {
  traceId: string;
  spanId: string;
  attributes: Attributes;
}

/**
 * What ingest dropped or cut from a span, each within 0 … 2^31−1 (the Elasticsearch `integer` they
 * are mapped to). truncatedValues also counts attribute keys cut to their byte cap and kvlists kept
 * as JSON text past the depth cap.
 */
export interface DroppedCounts {
  attributes: number;
  events: number;
  links: number;
  truncatedValues: number;
}

export interface NormalizedSpan {
  traceId: string;
  spanId: string;
  parentSpanId?: string;
  name: string;
  kind: SpanKind;
  service: string;
  /** ISO-8601 UTC with up to 9 fraction digits (Elasticsearch date_nanos). */
  startTime: string;
  endTime: string;
  durationNanos: number;
  status: { code: StatusCode; message?: string };
  attributes: Attributes;
  resource: Attributes;
  scope: { name: string; version?: string };
  events: SpanEvent[];
  links: SpanLink[];
  dropped?: DroppedCounts;
}

/** Elasticsearch/_id of a span: deterministic, so a replay overwrites instead of duplicating. */
export function spanDocId(span: Pick<NormalizedSpan, 'traceId' | 'spanId'>): string {
  return span.traceId + span.spanId;
}

/**
 * Nanoseconds since the epoch (as bigint) to ISO-8601 UTC with 9 fraction digits.
 * Date only carries milliseconds, so the sub-millisecond part is appended by hand.
 */
export function nanosToIso(nanos: bigint): string {
  const ms = nanos / 1_000_000n;
  const frac = nanos % 1_000_000_000n;
  const base = new Date(Number(ms)).toISOString(); // 2024-01-02T03:04:05.678Z
  return `${base.slice(0, 19)}.${frac.toString().padStart(9, '0')}Z`;
}

/** ISO-8601 (up to 9 fraction digits) back to nanoseconds since the epoch. */
export function isoToNanos(iso: string): bigint {
  const m = /^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})(?:\.(\d{1,9}))?Z$/.exec(iso);
  if (!m) throw new Error(`not an ISO-8601 UTC timestamp: ${iso}`);
  const secs = BigInt(Date.parse(`${m[1]}Z`)) / 1000n;
  const frac = BigInt((m[2] ?? '').padEnd(9, '0') || '0');
  return secs * 1_000_000_000n + frac;
}
