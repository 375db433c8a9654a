/**
 * Reads the few fields the windows need from one NDJSON span line without JSON.parse of the
 * whole line. A validated span line is ~1 KB, most of it attributes, resource and events the
 * aggregator never looks at, and JSON.parse of it (building every nested object) was the pool's
 * top profile entry (~60 % of its busy time, in-thread). ingest writes the needed fields first (traceId … status
 * before attributes), so the scan stops after them; any other order is still read right (the
 * scan skips unknown values, strings and nesting included), just further into the line.
 *
 * Exactness: the fast path only takes lines it fully understands — every needed field present
 * with the expected JSON type, its strings free of escapes (an escaped value is decoded with
 * JSON.parse of that string alone) — and ending in `}`; anything else returns undefined and the
 * caller parses the line with JSON.parse as before (same values, same error for a bad line).
 * Not checked on the fast path: the JSON syntax of the rest of the line past the needed fields
 * (a line is not rejected for a malformed attribute it never reads) and duplicate keys (JSON.parse keeps the last, the scan the
 * first); ingest's JSON.stringify writes neither.
 */

/** The fields of a span the pane worker records. Reused from span to span: copy what you keep. */
export interface SpanFields {
  service: string;
  name: string;
  kind: string;
  startTime: string;
  durationNanos: number;
  /** status.code, or undefined when the status has none. */
  statusCode: string | undefined;
  /** traceId as [start, end) in the text, sliced only when the span becomes an exemplar. */
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
    startTime: '',
    durationNanos: 0,
    statusCode: undefined,
    traceIdStart: 0,
    traceIdEnd: 0,
    traceIdDecoded: undefined,
  };
}

export function traceIdOf(f: SpanFields, text: string): string {
  return f.traceIdDecoded ?? text.slice(f.traceIdStart, f.traceIdEnd);
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

function skipWs(text: string, pos: number, end: number): number {
  while (pos < end && isWs(text.charCodeAt(pos))) pos++;
  return pos;
}

/** Index of the closing quote of the string whose opening quote is at `pos`, or -1. */
function stringEnd(text: string, pos: number, end: number): number {
  let q = pos;
  for (;;) {
    q = text.indexOf('"', q + 1);
    if (q < 0 || q >= end) return -1;
    let b = q - 1;
    while (text.charCodeAt(b) === BACKSLASH) b--;
    if ((q - 1 - b) % 2 === 0) return q; // an even run of backslashes: the quote is not escaped
  }
}

/** Index just past the value starting at `pos` (any JSON value), or -1. */
function skipValue(text: string, pos: number, end: number): number {
  const c = text.charCodeAt(pos);
  if (c === QUOTE) {
    const q = stringEnd(text, pos, end);
    return q < 0 ? -1 : q + 1;
  }
  if (c === OPEN_BRACE || c === OPEN_BRACKET) {
    let depth = 0;
    for (let p = pos; p < end; p++) {
      const d = text.charCodeAt(p);
      if (d === QUOTE) {
        p = stringEnd(text, p, end);
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
    const d = text.charCodeAt(p);
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
 * The scanner of one text (a decompressed batch). Methods that return positions and leave the
 * string they read in `value`, so reading a line allocates only the field strings it keeps.
 */
export class SpanLineReader {
  private text = '';
  private end = 0;
  private seen = 0;
  private value = '';
  private keyEnd = 0;
  private out: SpanFields = emptySpanFields();

  /**
   * Fills `out` from the span line text[start, end) and returns true, or returns false when the
   * line is not one the fast path takes (the caller then JSON.parses it).
   */
  read(text: string, start: number, end: number, out: SpanFields): boolean {
    while (end > start && isWs(text.charCodeAt(end - 1))) end--;
    const first = skipWs(text, start, end);
    if (text.charCodeAt(end - 1) !== CLOSE_BRACE || text.charCodeAt(first) !== OPEN_BRACE) return false;
    this.text = text;
    this.end = end;
    this.out = out;
    this.seen = 0;
    out.statusCode = undefined;
    out.traceIdDecoded = undefined;
    const r = this.walkSpan(first);
    this.text = '';
    return (r === -2 || r === end) && this.seen === F_ALL;
  }

  /** The string at `pos` decoded into `value`; the index past it, or -1 if no string is there. */
  private str(pos: number): number {
    const { text } = this;
    if (text.charCodeAt(pos) !== QUOTE) return -1;
    const q = stringEnd(text, pos, this.end);
    if (q < 0) return -1;
    const bs = text.indexOf('\\', pos + 1);
    this.value = bs >= 0 && bs < q ? (JSON.parse(text.slice(pos, q + 1)) as string) : text.slice(pos + 1, q);
    return q + 1;
  }

  /** The member key at `pos`: its field flag (0 for one not needed), or -1; the index past it in keyEnd. */
  private key(pos: number): number {
    const { text } = this;
    if (text.charCodeAt(pos) !== QUOTE) return -1;
    const q = stringEnd(text, pos, this.end);
    if (q < 0) return -1;
    this.keyEnd = q + 1;
    const bs = text.indexOf('\\', pos + 1);
    if (bs >= 0 && bs < q) return FIELD_BY_NAME.get(JSON.parse(text.slice(pos, q + 1)) as string) ?? 0;
    const k = pos + 1;
    switch (q - k) {
      case 4:
        return text.startsWith('name', k) ? F_NAME : text.startsWith('kind', k) ? F_KIND : 0;
      case 6:
        return text.startsWith('status', k) ? F_STATUS : 0;
      case 7:
        return text.startsWith('traceId', k) ? F_TRACE : text.startsWith('service', k) ? F_SERVICE : 0;
      case 9:
        return text.startsWith('startTime', k) ? F_START : 0;
      case 13:
        return text.startsWith('durationNanos', k) ? F_DURATION : 0;
      default:
        return 0;
    }
  }

  /** Walks the span object's members; -2 once every needed field is read, else the index past it or -1. */
  private walkSpan(pos: number): number {
    const { text, end } = this;
    let p = skipWs(text, pos + 1, end);
    if (text.charCodeAt(p) === CLOSE_BRACE) return p + 1;
    for (;;) {
      const field = this.key(p);
      if (field < 0) return -1;
      p = skipWs(text, this.keyEnd, end);
      if (text.charCodeAt(p) !== COLON) return -1;
      p = skipWs(text, p + 1, end);
      const next = field === 0 ? skipValue(text, p, end) : this.member(field, p);
      if (next < 0) return -1;
      if (this.seen === F_ALL) return -2;
      p = skipWs(text, next, end);
      const c = text.charCodeAt(p);
      if (c === CLOSE_BRACE) return p + 1;
      if (c !== COMMA) return -1;
      p = skipWs(text, p + 1, end);
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
      default:
        next = this.str(at);
        if (next < 0) return -1;
        if (field === F_NAME) out.name = this.value;
        else if (field === F_KIND) out.kind = this.value;
        else if (field === F_SERVICE) out.service = this.value;
        else out.startTime = this.value;
        this.seen |= field;
        return next;
    }
  }

  private traceId(at: number): number {
    const { text, end, out } = this;
    if (text.charCodeAt(at) !== QUOTE) return -1;
    const q = stringEnd(text, at, end);
    if (q < 0) return -1;
    const bs = text.indexOf('\\', at + 1);
    if (bs >= 0 && bs < q) out.traceIdDecoded = JSON.parse(text.slice(at, q + 1)) as string;
    out.traceIdStart = at + 1;
    out.traceIdEnd = q;
    this.seen |= F_TRACE;
    return q + 1;
  }

  private duration(at: number): number {
    const c = this.text.charCodeAt(at);
    if (c !== 45 && (c < 48 || c > 57)) return -1; // not a JSON number
    const next = skipValue(this.text, at, this.end);
    if (next < 0) return -1;
    const v = Number(this.text.slice(at, next));
    if (Number.isNaN(v)) return -1;
    this.out.durationNanos = v;
    this.seen |= F_DURATION;
    return next;
  }

  /** The status object: its `code` string if any, every other member skipped. */
  private status(at: number): number {
    const { text, end, out } = this;
    if (text.charCodeAt(at) !== OPEN_BRACE) return -1;
    let p = skipWs(text, at + 1, end);
    if (text.charCodeAt(p) !== CLOSE_BRACE)
      for (;;) {
        const afterKey = this.str(p);
        if (afterKey < 0) return -1;
        const isCode = this.value === 'code';
        p = skipWs(text, afterKey, end);
        if (text.charCodeAt(p) !== COLON) return -1;
        p = skipWs(text, p + 1, end);
        let next: number;
        if (isCode) {
          next = this.str(p);
          if (next < 0) return -1;
          out.statusCode = this.value;
        } else next = skipValue(text, p, end);
        if (next < 0) return -1;
        p = skipWs(text, next, end);
        if (text.charCodeAt(p) === CLOSE_BRACE) break;
        if (text.charCodeAt(p) !== COMMA) return -1;
        p = skipWs(text, p + 1, end);
      }
    this.seen |= F_STATUS;
    return p + 1;
  }
}
