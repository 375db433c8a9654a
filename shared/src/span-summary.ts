/**
 * The span summary: the few fields of each span that the aggregator's windows read (service,
 * operation, kind, start, duration, status code, trace id), written by ingest as a binary header
 * of every validated record next to its lz4 NDJSON value. The aggregator counts a record from its
 * summary without decompressing and scanning ~1 KB of JSON per span (issue 19: that was most of
 * its CPU); the value stays the record of truth for the indexer and for any consumer that does
 * not know the header. A record without the header (another producer, an older ingest) is read
 * from its value as before.
 *
 * Layout, little-endian (version 1):
 *   u8  version
 *   u16 string count, then each string: u16 UTF-8 byte length, the bytes
 *   u32 span count, then each span (SPAN_BYTES): f64 start (epoch ms, `eventMillis` of startTime),
 *       f64 durationNanos, u16 service, u16 name, u16 kind, u16 traceId (string indexes),
 *       u8 status (0: no code or UNSET, 1: OK, 2: ERROR)
 * Strings are shared: a record of one trace holds its trace id once.
 */

export const HEADER_SPAN_SUMMARY = 'mplp-span-summary';
export const SPAN_SUMMARY_VERSION = 1;
const SPAN_BYTES = 25;
const MAX_TABLE = 0xffff;

/** The fields of one span the summary carries. */
export interface SummarySpan {
  service: string;
  name: string;
  kind: string;
  startTime: string;
  durationNanos: number | string;
  traceId: string;
  status?: { code?: string };
}

/** One span as read back: strings from the record's table, start already in epoch ms. */
export interface SummaryFields {
  service: string;
  name: string;
  kind: string;
  startMs: number;
  durationNanos: number;
  statusCode: 'OK' | 'ERROR' | undefined;
  /** Index of the trace id in the string table: `SpanSummaryReader.traceId` decodes it when needed. */
  traceIdx: number;
}

const STATUS_CODES: SummaryFields['statusCode'][] = [undefined, 'OK', 'ERROR'];

const digit = (iso: string, i: number): number => {
  const d = iso.charCodeAt(i) - 48;
  return d >= 0 && d <= 9 ? d : Number.NaN;
};
const num = (iso: string, from: number, to: number): number => {
  let v = 0;
  for (let i = from; i < to; i++) v = v * 10 + digit(iso, i);
  return v;
};
const DAYS_IN_MONTH = [31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];

/** Epoch ms of a UTC civil time, or NaN when a field is out of range (or NaN: a non-digit). */
function civilMillis(y: number, m: number, d: number, h: number, mi: number, sec: number, ms: number): number {
  const leap = y % 4 === 0 && (y % 100 !== 0 || y % 400 === 0);
  if (!(
    y >= 0 &&
    m >= 1 &&
    m <= 12 &&
    d >= 1 &&
    d <= (m === 2 && !leap ? 28 : DAYS_IN_MONTH[m - 1]) &&
    h <= 23 &&
    mi <= 59 &&
    sec <= 59 &&
    ms >= 0
  ))
    return Number.NaN;
  // days from the civil date (H. Hinnant's algorithm), March-based years
  const yy = m <= 2 ? y - 1 : y;
  const era = Math.floor(yy / 400);
  const yoe = yy - era * 400;
  const doy = Math.floor((153 * (m + (m > 2 ? -3 : 9)) + 2) / 5) + d - 1;
  const days = era * 146097 + yoe * 365 + Math.floor(yoe / 4) - Math.floor(yoe / 100) + doy - 719468;
  return days * 86_400_000 + h * 3_600_000 + mi * 60_000 + sec * 1000 + ms;
}

/**
 * Start time (ISO-8601 UTC) to epoch ms, as Date.parse of its first 23 characters + 'Z' (the
 * milliseconds, truncated). ingest's form, YYYY-MM-DDTHH:MM:SS.fffffffffZ, is computed from its
 * digits (days from the civil date, no Date.parse: per span it was a top entry of both ingest's
 * and the aggregator's profiles); a field out of range, or any other form, goes to Date.parse. The
 * one function both sides use: a span's pane is the same whether it is counted from the summary or
 * from its NDJSON line.
 */
export function eventMillis(iso: string): number {
  if (
    iso.length === 30 &&
    iso.charCodeAt(4) === 45 &&
    iso.charCodeAt(7) === 45 &&
    iso.charCodeAt(10) === 84 &&
    iso.charCodeAt(13) === 58 &&
    iso.charCodeAt(16) === 58 &&
    iso.charCodeAt(19) === 46 &&
    iso.charCodeAt(29) === 90
  ) {
    const t = civilMillis(
      num(iso, 0, 4),
      num(iso, 5, 7),
      num(iso, 8, 10),
      num(iso, 11, 13),
      num(iso, 14, 16),
      num(iso, 17, 19),
      num(iso, 20, 23),
    );
    if (!Number.isNaN(t)) return t;
  }
  return Date.parse(iso.length > 24 ? `${iso.slice(0, 23)}Z` : iso);
}

const byteDigit = (b: Uint8Array, i: number): number => {
  const d = b[i] - 48;
  return d >= 0 && d <= 9 ? d : Number.NaN;
};
const byteNum = (b: Uint8Array, from: number, to: number): number => {
  let v = 0;
  for (let i = from; i < to; i++) v = v * 10 + byteDigit(b, i);
  return v;
};

/**
 * `eventMillis` of the time written (UTF-8, unescaped) in bytes [start, end), read from the bytes
 * in ingest's form, so the aggregator makes no string per span; any other form is decoded and goes
 * through `eventMillis`.
 */
export function eventMillisOfBytes(b: Buffer, start: number, end: number): number {
  if (
    end - start === 30 &&
    b[start + 4] === 45 &&
    b[start + 7] === 45 &&
    b[start + 10] === 84 &&
    b[start + 13] === 58 &&
    b[start + 16] === 58 &&
    b[start + 19] === 46 &&
    b[start + 29] === 90
  ) {
    const t = civilMillis(
      byteNum(b, start, start + 4),
      byteNum(b, start + 5, start + 7),
      byteNum(b, start + 8, start + 10),
      byteNum(b, start + 11, start + 13),
      byteNum(b, start + 14, start + 16),
      byteNum(b, start + 17, start + 19),
      byteNum(b, start + 20, start + 23),
    );
    if (!Number.isNaN(t)) return t;
  }
  return eventMillis(b.toString('utf8', start, end));
}

function statusByte(code: string | undefined): number {
  return code === 'OK' ? 1 : code === 'ERROR' ? 2 : 0;
}

/** Numbers a span row holds in SpanSummaryBuilder: start ms, durationNanos, service, name, kind, traceId, status. */
const ROW = 7;

/**
 * Builds the summaries of one trace's records span by span, while ingest normalizes them: a span
 * becomes a row of numbers at once and its strings go into the trace's table once, so nothing of
 * the span is kept until the records are cut. (Keeping a fields object per span until then made
 * them survive young-generation collections: ~1 µs a span of ingest's CPU, measured.)
 * A record's summary is its spans' rows and the trace's whole table: a record cut from a trace too
 * large for one may carry strings only its sibling records use, which the reader never decodes.
 */
export class SpanSummaryBuilder {
  private readonly strings: string[] = [];
  private readonly lengths: number[] = [];
  private index: Map<string, number> | undefined;
  private tableBytes = 0;
  private readonly rows: number[] = [];
  /** Over 65,535 distinct strings or a string over 65,535 bytes: the trace's records go without a summary. */
  private full = false;

  /** Spans added. */
  get spans(): number {
    return this.rows.length / ROW;
  }

  add(s: SummarySpan): void {
    if (this.full) return;
    const service = this.idx(s.service),
      name = this.idx(s.name),
      kind = this.idx(s.kind),
      traceId = this.idx(s.traceId);
    if (this.full) return;
    this.rows.push(eventMillis(s.startTime), Number(s.durationNanos), service, name, kind, traceId, statusByte(s.status?.code));
  }

  /** The summary of spans [from, to) in the order added, or undefined when the trace cannot have one. */
  encode(from = 0, to = this.spans): Buffer | undefined {
    if (this.full || from < 0 || to > this.spans || from > to) return undefined;
    const { strings, lengths, rows } = this;
    const out = Buffer.allocUnsafe(1 + 2 + this.tableBytes + 4 + (to - from) * SPAN_BYTES);
    let p = out.writeUInt8(SPAN_SUMMARY_VERSION, 0);
    p = out.writeUInt16LE(strings.length, p);
    for (let i = 0; i < strings.length; i++) {
      p = out.writeUInt16LE(lengths[i], p);
      p += out.write(strings[i], p, 'utf8');
    }
    p = out.writeUInt32LE(to - from, p);
    for (let r = from * ROW; r < to * ROW; r += ROW) {
      p = out.writeDoubleLE(rows[r], p);
      p = out.writeDoubleLE(rows[r + 1], p);
      for (let j = 2; j < 6; j++) p = out.writeUInt16LE(rows[r + j], p);
      p = out.writeUInt8(rows[r + 6], p);
    }
    return out;
  }

  private idx(s: string): number {
    // A trace has a handful of distinct strings: a linear scan finds them faster than a Map would,
    // until there are many.
    let i = this.index ? (this.index.get(s) ?? -1) : this.strings.indexOf(s);
    if (i < 0) {
      const n = Buffer.byteLength(s, 'utf8');
      i = this.strings.length;
      if (n > MAX_TABLE || i >= MAX_TABLE) {
        this.full = true;
        return 0;
      }
      this.strings.push(s);
      this.lengths.push(n);
      this.tableBytes += 2 + n;
      if (this.index) this.index.set(s, i);
      else if (this.strings.length > 16) this.index = new Map(this.strings.map((t, j) => [t, j]));
    }
    return i;
  }
}

export const SpanSummaryCodec = {
  /**
   * The summary of a record's spans, or undefined when it cannot hold them (over 65,535 distinct
   * strings or a string over 65,535 bytes): the record then goes without one and is read from
   * its value.
   */
  encode(spans: readonly SummarySpan[]): Buffer | undefined {
    const b = new SpanSummaryBuilder();
    for (const s of spans) b.add(s);
    return b.encode();
  },
};

/**
 * Reads summaries, one record at a time. A string of the table is decoded the first time a span
 * needs it: service, operation and kind for every span (a few strings a record), a trace id only
 * when the span becomes an exemplar candidate.
 */
export class SpanSummaryReader {
  private buf: Buffer = Buffer.alloc(0);
  private starts = new Int32Array(64);
  private strings: (string | undefined)[] = [];
  private count = 0;

  /**
   * Reads a summary into `slots` (reused: grown as needed, fields overwritten) and returns its
   * span count. Throws on an unknown version or a summary that does not parse to its exact end.
   */
  read(buf: Buffer, slots: SummaryFields[]): number {
    const bad = (why: string) => new Error(`span summary: ${why}`);
    if (buf.length < 7) throw bad('truncated');
    if (buf[0] !== SPAN_SUMMARY_VERSION) throw bad(`unsupported version ${buf[0]}`);
    this.buf = buf;
    const count = (this.count = buf.readUInt16LE(1));
    if (this.starts.length < count + 1) this.starts = new Int32Array(2 * count + 2);
    this.strings.length = 0;
    let p = 3;
    for (let i = 0; i < count; i++) {
      if (p + 2 > buf.length) throw bad('truncated string table');
      p += 2 + buf.readUInt16LE(p);
      this.starts[i + 1] = p;
    }
    this.starts[0] = 3;
    if (p + 4 > buf.length) throw bad('truncated');
    const n = buf.readUInt32LE(p);
    p += 4;
    if (buf.length - p !== n * SPAN_BYTES) throw bad(`${n} spans need ${n * SPAN_BYTES} bytes, ${buf.length - p} left`);
    for (let k = 0; k < n; k++, p += SPAN_BYTES) {
      const traceIdx = buf.readUInt16LE(p + 22);
      const status = buf[p + 24];
      if (traceIdx >= count || status > 2) throw bad(`span ${k} refers past the string table or has status ${status}`);
      const f = (slots[k] ??= { service: '', name: '', kind: '', startMs: 0, durationNanos: 0, statusCode: undefined, traceIdx: 0 });
      f.service = this.string(buf.readUInt16LE(p + 16));
      f.name = this.string(buf.readUInt16LE(p + 18));
      f.kind = this.string(buf.readUInt16LE(p + 20));
      f.traceIdx = traceIdx;
      f.statusCode = STATUS_CODES[status];
      f.startMs = buf.readDoubleLE(p);
      f.durationNanos = buf.readDoubleLE(p + 8);
    }
    return n;
  }

  /** The trace id of a span of the summary last read. */
  traceId(f: SummaryFields): string {
    return this.string(f.traceIdx);
  }

  private string(i: number): string {
    if (i >= this.count) throw new Error(`span summary: string ${i} past the table of ${this.count}`);
    let s = this.strings[i];
    if (s === undefined) {
      // starts[i] is the length prefix of string i; the bytes follow it
      const at = this.starts[i] + 2;
      s = this.strings[i] = this.buf.toString('utf8', at, this.starts[i + 1]);
    }
    return s;
  }
}
