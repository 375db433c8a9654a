import type { Message } from 'kafkajs';

/**
 * The dead-letter topic's format, shared by every worker that writes it. A dead letter is the
 * rejected bytes (or a prefix of them, or none) with headers saying why and where they came from.
 */
/** Why it was rejected, in words (bounded to DLQ_MAX_ERROR_CHARS). */
export const DLQ_HEADER_ERROR = 'mplp-error';
/** Stable reason code (`too_large`, `decode`, `index_<Elasticsearch error type>`…). */
export const DLQ_HEADER_CODE = 'mplp-error-code';
/** `topic/partition/offset` of the source record. */
export const DLQ_HEADER_SOURCE = 'mplp-source';
/** `true` when the value is a prefix of the rejected bytes, or absent (a reference). */
export const DLQ_HEADER_TRUNCATED = 'mplp-truncated';
/** Size in bytes of what was rejected, when the value is truncated or absent. */
export const DLQ_HEADER_ORIGINAL_BYTES = 'mplp-original-bytes';
/** Trace and span id of a rejected span, when known (a reference without value still names it). */
export const DLQ_HEADER_TRACE_ID = 'mplp-trace-id';
export const DLQ_HEADER_SPAN_ID = 'mplp-span-id';
/** How many consecutive source records this one dead letter stands for (a refused Kafka batch past the stand-in cap), and the first of their offsets; DLQ_HEADER_SOURCE names the last. */
export const DLQ_HEADER_RECORDS = 'mplp-records';
export const DLQ_HEADER_FIRST_OFFSET = 'mplp-first-offset';

export const DLQ_MAX_ERROR_CHARS = 4000;

export interface DeadLetter {
  value: Buffer | string | null;
  code: string;
  reason: string;
  source: string;
  key?: string;
  traceId?: string;
  spanId?: string;
  /** Extra headers (for example DLQ_HEADER_RECORDS). */
  headers?: Record<string, string>;
}

function byteLength(v: Buffer | string | null): number {
  return v === null ? 0 : typeof v === 'string' ? Buffer.byteLength(v) : v.length;
}

/**
 * The DLQ message of a dead letter, its value cut to maxValueBytes (or dropped when maxValueBytes
 * is 0: a reference), so no dead letter can exceed the DLQ topic's max.message.bytes whatever it
 * was made from. A cut value is marked with DLQ_HEADER_TRUNCATED and DLQ_HEADER_ORIGINAL_BYTES.
 */
export function dlqMessage(d: DeadLetter, maxValueBytes: number): Message {
  const size = byteLength(d.value);
  let value = d.value;
  const headers: Record<string, string> = {
    [DLQ_HEADER_ERROR]: d.reason.length > DLQ_MAX_ERROR_CHARS ? d.reason.slice(0, DLQ_MAX_ERROR_CHARS) : d.reason,
    [DLQ_HEADER_CODE]: d.code,
    [DLQ_HEADER_SOURCE]: d.source,
    ...(d.traceId ? { [DLQ_HEADER_TRACE_ID]: d.traceId } : {}),
    ...(d.spanId ? { [DLQ_HEADER_SPAN_ID]: d.spanId } : {}),
    ...d.headers,
  };
  if (value !== null && size > maxValueBytes) {
    const bytes = typeof value === 'string' ? Buffer.from(value) : value;
    value = maxValueBytes > 0 ? bytes.subarray(0, maxValueBytes) : null;
    headers[DLQ_HEADER_TRUNCATED] = 'true';
    headers[DLQ_HEADER_ORIGINAL_BYTES] = String(size);
  }
  return { ...(d.key !== undefined ? { key: d.key } : {}), value, headers };
}

/** Bytes a message adds to a produce request, near enough to split sends by (record overhead included). */
export function dlqMessageBytes(m: Message): number {
  let n = 64 + byteLength(m.value as Buffer | string | null) + byteLength((m.key ?? null) as Buffer | string | null);
  for (const [k, v] of Object.entries(m.headers ?? {})) n += k.length + 8 + byteLength((v ?? null) as Buffer | string | null);
  return n;
}

/**
 * Splits messages into sends of at most maxSendBytes each (a single larger message is a send of
 * its own): kafkajs puts every message of one send for one partition into one record batch, and
 * the broker judges max.message.bytes on the whole batch, so several dead letters that each fit
 * could still be refused together.
 */
export function dlqSends(messages: Message[], maxSendBytes: number): Message[][] {
  const sends: Message[][] = [];
  let cur: Message[] = [];
  let bytes = 0;
  for (const m of messages) {
    const size = dlqMessageBytes(m);
    if (cur.length > 0 && bytes + size > maxSendBytes) {
      sends.push(cur);
      cur = [];
      bytes = 0;
    }
    cur.push(m);
    bytes += size;
  }
  if (cur.length > 0) sends.push(cur);
  return sends;
}
