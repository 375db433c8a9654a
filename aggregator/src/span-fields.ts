/**
 * Reads the few fields the windows need from one NDJSON span line, on the line's UTF-8 bytes,
 * without JSON.parse of the whole line and without decoding it to a string. A validated span
 * line is ~1 KB, most of it attributes, resource and events the aggregator never looks at:
 * JSON.parse of it (building every nested object) was the pool's top profile entry (~60 % of its
 * busy time, in-thread), and then decoding each message to one string was most of what the pool
 * allocated (~1 KB a span, collected by V8's helper threads). ingest writes the needed fields
 * first (traceId … status before attributes), so the scan stops after them; any other order is
 * still read right (the scan skips unknown values, strings and nesting included), just further
 * into the line. Structural bytes (quotes, braces, backslashes) are ASCII and never occur inside
 * a multi-byte UTF-8 sequence, so a byte scan finds the same tokens as a scan of the decoded text.
 *
 * Exactness: the fast path only takes lines it fully understands — every needed field present
 * with the expected JSON type, its strings free of escapes (an escaped value is decoded with
 * JSON.parse of that string alone) — and ending in `}`; anything else returns false and the
 * caller parses the line with JSON.parse as before (same values, same error for a bad line).
 * A string is decoded from its own bytes as UTF-8, as decoding the whole line would.
 * Not checked on the fast path: the JSON syntax of the rest of the line past the needed fields
 * (a line is not rejected for a malformed attribute it never reads) and duplicate keys
 * (JSON.parse keeps the last, the scan the first); ingest's JSON.stringify writes neither.
 */

import { eventMillis, eventMillisOfBytes } from '../../shared/src/threads';

/** The fields of a span the pane worker records. Reused from span to span: copy what you keep. */
export interface SpanFields {
  service: string;
  name: string;
  kind: string;
  /** startTime in epoch ms (`eventMillis`), read from its bytes: no string per span. */
  startMs: number;
  durationNanos: number;
  /** status.code, or undefined when the status has none. */
  statusCode: string | undefined;
  /** traceId as [start, end) in the line's bytes, decoded only when the span becomes an exemplar. */
  traceIdStart: number;
  traceIdEnd: number;
  /** Set when traceId had escapes: its decoded value (then the range is unused). */
  traceIdDecoded: string | undefined;
}

export function emptySpanFields(): SpanFields {
  return {
    service: '',
    name: '',
    kind: '',
    startMs: Number.NaN,
    durationNanos: 0,
    statusCode: undefined,
    traceIdStart: 0,
    traceIdEnd: 0,
    traceIdDecoded: undefined,
  };
}

/** The trace id of fields read from `bytes` (the same buffer, still unchanged). */
export function traceIdOf(f: SpanFields, bytes: Buffer): string {
  return f.traceIdDecoded ?? bytes.toString('utf8', f.traceIdStart, f.traceIdEnd);
}

const QUOTE = 34,
  BACKSLASH = 92,
  OPEN_BRACE = 123,
  CLOSE_BRACE = 125,
  OPEN_BRACKET = 91,
  CLOSE_BRACKET = 93,
  COLON = 58,
  COMMA = 44;

const F_TRACE = 1,
  F_NAME = 2,
  F_KIND = 4,
  F_SERVICE = 8,
  F_START = 16,
  F_DURATION = 32,
  F_STATUS = 64,
  F_ALL = 127;

function isWs(c: number): boolean {
  return c === 32 || c === 10 || c === 13 || c === 9;
}

function skipWs(b: Buffer, pos: number, end: number): number {
  while (pos < end && isWs(b[pos])) pos++;
  return pos;
}

/**
 * Index of the closing quote of the string whose opening quote is at `pos`, or -1. For values
 * skipped whole (attributes can be long): the search is Buffer#indexOf (memchr), bounded by the
 * line's end.
 */
function stringEnd(b: Buffer, pos: number, end: number): number {
  let q = pos;
  for (;;) {
    q = b.indexOf(QUOTE, q + 1);
    if (q < 0 || q >= end) return -1;
    let k = q - 1;
    while (b[k] === BACKSLASH) k--;
    if ((q - 1 - k) % 2 === 0) return q; // an even run of backslashes: the quote is not escaped
  }
}

/** Index just past the value starting at `pos` (any JSON value), or -1. */
function skipValue(b: Buffer, pos: number, end: number): number {
  const c = b[pos];
  if (c === QUOTE) {
    const q = stringEnd(b, pos, end);
    return q < 0 ? -1 : q + 1;
  }
  if (c === OPEN_BRACE || c === OPEN_BRACKET) {
    let depth = 0;
    for (let p = pos; p < end; p++) {
      const d = b[p];
      if (d === QUOTE) {
        p = stringEnd(b, p, end);
        if (p < 0) return -1;
      } else if (d === OPEN_BRACE || d === OPEN_BRACKET) depth++;
      else if (d === CLOSE_BRACE || d === CLOSE_BRACKET) {
        if (--depth === 0) return p + 1;
      }
    }
    return -1;
  }
  let p = pos;
  while (p < end) {
    const d = b[p];
    if (d === COMMA || d === CLOSE_BRACE || d === CLOSE_BRACKET || isWs(d)) break;
    p++;
  }
  return p > pos ? p : -1;
}

/** Field flag of a member key (0: not needed), by its decoded name. */
const FIELD_BY_NAME = new Map<string, number>([
  ['traceId', F_TRACE],
  ['name', F_NAME],
  ['kind', F_KIND],
  ['service', F_SERVICE],
  ['startTime', F_START],
  ['durationNanos', F_DURATION],
  ['status', F_STATUS],
]);

/**
 * The keys ingest writes up to `status` (where the walk stops), in its order, with their field
 * flags (0: skipped): each key is first compared with the one expected next, so a line in
 * ingest's order costs one comparison a key. Every needed key is here, so a key not found is
 * not needed, whatever the order.
 */
const KEYS: [Buffer, number][] = [
  'traceId',
  'spanId',
  'parentSpanId',
  'name',
  'kind',
  'service',
  'startTime',
  'endTime',
  'durationNanos',
  'status',
].map((k) => [Buffer.from(k), FIELD_BY_NAME.get(k) ?? 0]);

function bytesEqual(b: Buffer, at: number, len: number, other: Uint8Array): boolean {
  if (other.length !== len) return false;
  for (let i = 0; i < len; i++) if (b[at + i] !== other[i]) return false;
  return true;
}

const INTERN_SLOTS = 1024; // a power of two
const INTERN_MAX_BYTES = 256;

/**
 * The strings of values that repeat from span to span (service, operation, kind, status code),
 * found by their bytes: a direct-mapped cache, so a span whose values were seen costs no string.
 * A miss (new value, or two values sharing a slot) decodes the bytes as UTF-8 and takes the slot.
 */
export class Utf8Interner {
  private readonly keys: (Uint8Array | undefined)[] = new Array(INTERN_SLOTS).fill(undefined);
  private readonly values: string[] = new Array(INTERN_SLOTS).fill('');

  get(b: Buffer, start: number, end: number): string {
    const len = end - start;
    if (len > INTERN_MAX_BYTES) return b.toString('utf8', start, end);
    let h = 0x811c9dc5 ^ len;
    for (let i = start; i < end; i++) h = Math.imul(h ^ b[i], 0x01000193);
    const slot = (h >>> 0) & (INTERN_SLOTS - 1);
    const k = this.keys[slot];
    if (k !== undefined && bytesEqual(b, start, len, k)) return this.values[slot];
    const v = b.toString('utf8', start, end);
    this.keys[slot] = new Uint8Array(b.subarray(start, end));
    this.values[slot] = v;
    return v;
  }
}

/**
 * The scanner of one decompressed batch's bytes. Methods return positions and leave the string
 * they read in `value`, so reading a line allocates only the strings it has not seen before.
 */
export class SpanLineReader {
  private b: Buffer = Buffer.alloc(0);
  private end = 0;
  private seen = 0;
  private value = '';
  private keyEnd = 0;
  /** Index in KEYS of the key expected next. */
  private nextKey = 0;
  /** Set by `scanString`: the string had a backslash (an escape) before its closing quote. */
  private escaped = false;
  private out: SpanFields = emptySpanFields();
  private readonly interned = new Utf8Interner();

  /**
   * Fills `out` from the span line bytes[start, end) and returns true, or returns false when the
   * line is not one the fast path takes (the caller then JSON.parses it).
   */
  read(bytes: Buffer, start: number, end: number, out: SpanFields): boolean {
    while (end > start && isWs(bytes[end - 1])) end--;
    const first = skipWs(bytes, start, end);
    if (end === start || bytes[end - 1] !== CLOSE_BRACE || bytes[first] !== OPEN_BRACE) return false;
    this.b = bytes;
    this.end = end;
    this.out = out;
    this.seen = 0;
    this.nextKey = 0;
    out.statusCode = undefined;
    out.traceIdDecoded = undefined;
    const r = this.walkSpan(first);
    this.b = EMPTY;
    return (r === -2 || r === end) && this.seen === F_ALL;
  }

  /**
   * Index of the closing quote of the (short: a key or a needed value) string at `pos`, or -1;
   * notes in `escaped` whether it holds a backslash. One pass, bounded by the string itself.
   */
  private scanString(pos: number): number {
    const { b, end } = this;
    this.escaped = false;
    for (let p = pos + 1; p < end; p++) {
      const c = b[p];
      if (c === QUOTE) return p;
      if (c === BACKSLASH) {
        this.escaped = true;
        p++;
      }
    }
    return -1;
  }

  /** The string at `pos` decoded into `value`; the index past it, or -1 if no string is there. */
  private str(pos: number): number {
    if (this.b[pos] !== QUOTE) return -1;
    const q = this.scanString(pos);
    if (q < 0) return -1;
    this.value = this.escaped ? (JSON.parse(this.b.toString('utf8', pos, q + 1)) as string) : this.interned.get(this.b, pos + 1, q);
    return q + 1;
  }

  /** The member key at `pos`: its field flag (0 for one not needed), or -1; the index past it in keyEnd. */
  private key(pos: number): number {
    const { b } = this;
    if (b[pos] !== QUOTE) return -1;
    const q = this.scanString(pos);
    if (q < 0) return -1;
    this.keyEnd = q + 1;
    if (this.escaped) return FIELD_BY_NAME.get(JSON.parse(b.toString('utf8', pos, q + 1)) as string) ?? 0;
    const len = q - pos - 1;
    const expected = KEYS[this.nextKey];
    if (expected !== undefined && bytesEqual(b, pos + 1, len, expected[0])) {
      this.nextKey++;
      return expected[1];
    }
    for (let i = 0; i < KEYS.length; i++)
      if (bytesEqual(b, pos + 1, len, KEYS[i][0])) {
        this.nextKey = i + 1;
        return KEYS[i][1];
      }
    return 0;
  }

  /** Walks the span object's members; -2 once every needed field is read, else the index past it or -1. */
  private walkSpan(pos: number): number {
    const { b, end } = this;
    let p = skipWs(b, pos + 1, end);
    if (b[p] === CLOSE_BRACE) return p + 1;
    for (;;) {
      const field = this.key(p);
      if (field < 0) return -1;
      p = skipWs(b, this.keyEnd, end);
      if (b[p] !== COLON) return -1;
      p = skipWs(b, p + 1, end);
      const next = field === 0 ? skipValue(b, p, end) : this.member(field, p);
      if (next < 0) return -1;
      if (this.seen === F_ALL) return -2;
      p = skipWs(b, next, end);
      const c = b[p];
      if (c === CLOSE_BRACE) return p + 1;
      if (c !== COMMA) return -1;
      p = skipWs(b, p + 1, end);
    }
  }

  /** Reads a needed member's value at `at`: the index past it, or -1 if it is not of the expected type. */
  private member(field: number, at: number): number {
    const out = this.out;
    let next: number;
    switch (field) {
      case F_TRACE:
        return this.traceId(at);
      case F_DURATION:
        return this.duration(at);
      case F_STATUS:
        return this.status(at);
      case F_START:
        return this.startTime(at);
      default:
        next = this.str(at);
        if (next < 0) return -1;
        if (field === F_NAME) out.name = this.value;
        else if (field === F_KIND) out.kind = this.value;
        else out.service = this.value;
        this.seen |= field;
        return next;
    }
  }

  /** Unique per span, so neither interned nor decoded: its epoch ms are read from its bytes. */
  private startTime(at: number): number {
    const { b } = this;
    if (b[at] !== QUOTE) return -1;
    const q = this.scanString(at);
    if (q < 0) return -1;
    this.out.startMs = this.escaped ? eventMillis(JSON.parse(b.toString('utf8', at, q + 1)) as string) : eventMillisOfBytes(b, at + 1, q);
    this.seen |= F_START;
    return q + 1;
  }

  private traceId(at: number): number {
    const { b, out } = this;
    if (b[at] !== QUOTE) return -1;
    const q = this.scanString(at);
    if (q < 0) return -1;
    if (this.escaped) out.traceIdDecoded = JSON.parse(b.toString('utf8', at, q + 1)) as string;
    out.traceIdStart = at + 1;
    out.traceIdEnd = q;
    this.seen |= F_TRACE;
    return q + 1;
  }

  /** A JSON number; plain integers (what ingest writes) are read from their digits. */
  private duration(at: number): number {
    const { b } = this;
    const c = b[at];
    if (c !== 45 && (c < 48 || c > 57)) return -1; // not a JSON number
    const next = skipValue(b, at, this.end);
    if (next < 0) return -1;
    let v = 0;
    let p = at;
    for (; p < next && p - at < 15; p++) {
      const d = b[p] - 48;
      if (d < 0 || d > 9) break;
      v = v * 10 + d;
    }
    if (p !== next) v = Number(b.toString('latin1', at, next)); // a sign, fraction, exponent or over 15 digits
    if (Number.isNaN(v)) return -1;
    this.out.durationNanos = v;
    this.seen |= F_DURATION;
    return next;
  }

  /** The status object: its `code` string if any, every other member skipped. */
  private status(at: number): number {
    const { b, end, out } = this;
    if (b[at] !== OPEN_BRACE) return -1;
    let p = skipWs(b, at + 1, end);
    if (b[p] !== CLOSE_BRACE)
      for (;;) {
        const afterKey = this.str(p);
        if (afterKey < 0) return -1;
        const isCode = this.value === 'code';
        p = skipWs(b, afterKey, end);
        if (b[p] !== COLON) return -1;
        p = skipWs(b, p + 1, end);
        let next: number;
        if (isCode) {
          next = this.str(p);
          if (next < 0) return -1;
          out.statusCode = this.value;
        } else next = skipValue(b, p, end);
        if (next < 0) return -1;
        p = skipWs(b, next, end);
        if (b[p] === CLOSE_BRACE) break;
        if (b[p] !== COMMA) return -1;
        p = skipWs(b, p + 1, end);
      }
    this.seen |= F_STATUS;
    return p + 1;
  }
}

const EMPTY: Buffer = Buffer.alloc(0);
