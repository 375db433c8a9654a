/**
 * Piscina worker: the CPU side of the aggregator. Reads span fields (from a record's span summary
 * header, or by lz4 decode and scan of its NDJSON value) and records them into HDR histograms
 * (`aggregate`), merging pane pieces (`mergePanes`) and computing windows
 * (`windows`). Stateless: every task carries what it needs, so any thread can take any task.
 */
import lz4 from 'lz4';
import { eventMillis, NormalizedSpan, SpanBatchCodec, SpanSummaryReader, SummaryFields } from '../../shared/src/threads';
import { emptySpanFields, SpanFields, SpanLineReader, traceIdOf } from './span-fields';
import { isCompressedEncoding } from './hdr-counts';
import { mergeEncoded, nanosToMicros, scratchHistogram } from './histograms';
import { durationBucket, emptyStats, Exemplar, SeriesId, seriesKey, Stats } from './partial';

export interface AggregateTask {
  kind: 'aggregate';
  /** All message values of one fetch, concatenated; moved, not copied. */
  buf: ArrayBuffer;
  /** [start, end) of each message in buf, in offset order. */
  bounds: Int32Array;
  /**
   * Per message, 1 when buf holds its span summary header (shared/span-summary) instead of its
   * value: counted from the summary, without decompressing the NDJSON. Absent: every one a value.
   */
  summaries?: Uint8Array;
  offsets: string[];
  /**
   * Per message, the clock (ms) its event times are trusted up to, plus maxSkewMs: the record's
   * Kafka timestamp, never past the process's clock when it was fetched. A record's own timestamp
   * (not the clock at processing) keeps a replay's watermark identical to the first run's.
   */
  clocks: number[];
  maxSkewMs: number;
  /** Watermark (ms) before the first message. */
  watermark: number;
  /** Panes ending at or before this were already published before a restart: skip their spans. */
  skipThrough: number;
  latenessMs: number;
  paneMs: number;
  /** HDR significant digits. */
  digits: number;
  exemplars: number;
  dimensions: string[];
  maxBytes: number;
}

export interface PaneGroup {
  key: string;
  series: SeriesId;
  pane: number;
  firstOffset: string;
  watermarkBefore: number;
  stats: Stats;
  /** Encoded histogram of this fetch's spans in the pane (absent when only late counts). */
  hist?: string;
}

export interface AggregateResult {
  groups: PaneGroup[];
  watermark: number;
  spans: number;
  late: number;
  skipped: number;
  badMessages: number;
}

export interface MergePanesTask {
  kind: 'mergePanes';
  items: string[][];
  digits: number;
}
export interface WindowsTask {
  kind: 'windows';
  items: string[][];
  digits: number;
}
export interface WindowHistogram {
  hist: string;
  p50: number;
  p90: number;
  p95: number;
  p99: number;
  p999: number;
}

/** Compiles the window path (decode, add, encode, percentiles) before the first real window. */
export interface WarmupTask {
  kind: 'warmup';
  digits: number;
  rounds: number;
}

export type Task = AggregateTask | MergePanesTask | WindowsTask | WarmupTask;

/** One span's fields as read from its line; `attributes` only when dimensions need them. */
type LineFields = SpanFields & { attributes?: Record<string, unknown> };

/** What a group and a count need of a span, read from a line or from a summary. */
type CountedFields = Pick<SummaryFields, 'service' | 'name' | 'kind' | 'startMs' | 'durationNanos'> & {
  statusCode: string | undefined;
  attributes?: Record<string, unknown>;
};

/**
 * Per-task state of `aggregate`: the (pane, series) groups, found through nested maps (pane →
 * service → operation → kind) so a span costs no key string; with dimensions, by series key.
 */
class PaneGroups {
  readonly list: OpenGroup[] = [];
  private readonly byPane = new Map<number, Map<string, Map<string, Map<string, OpenGroup>>>>();
  private readonly byKey = new Map<string, OpenGroup>();

  constructor(private readonly dimensions: string[]) {}

  get(f: CountedFields, pane: number, offset: string, wBefore: number): OpenGroup {
    if (this.dimensions.length) {
      const series = seriesOf(f, this.dimensions);
      const key = seriesKey(series);
      const gk = `${pane}\u0000${key}`;
      let g = this.byKey.get(gk);
      if (!g) this.byKey.set(gk, (g = this.open(series, key, pane, offset, wBefore)));
      return g;
    }
    let services = this.byPane.get(pane);
    if (!services) this.byPane.set(pane, (services = new Map()));
    let ops = services.get(f.service);
    if (!ops) services.set(f.service, (ops = new Map()));
    let kinds = ops.get(f.name);
    if (!kinds) ops.set(f.name, (kinds = new Map()));
    let g = kinds.get(f.kind);
    if (!g) {
      const series = seriesOf(f, this.dimensions);
      kinds.set(f.kind, (g = this.open(series, seriesKey(series), pane, offset, wBefore)));
    }
    return g;
  }

  private open(series: SeriesId, key: string, pane: number, offset: string, wBefore: number): OpenGroup {
    const g: OpenGroup = {
      key,
      series,
      pane,
      firstOffset: offset,
      watermarkBefore: wBefore,
      stats: emptyStats(),
      us: [],
      ex: [],
      exFloor: Number.NEGATIVE_INFINITY,
    };
    this.list.push(g);
    return g;
  }
}

const LZ4_MAGIC = 0x184d2204;
const BLOCK_MAX: Record<number, number> = { 4: 64 * 1024, 5: 256 * 1024, 6: 1024 * 1024, 7: 4 * 1024 * 1024 };
const blockScratch = new Map<number, Buffer>();
const EMPTY: Buffer = Buffer.alloc(0);

/**
 * A message's NDJSON bytes. The common frame, one compressed block (ingest writes one per
 * message), is decoded into a reused per-thread buffer and read from there: neither the
 * decompressed copy SpanBatchCodec.decompress returns (~8 % of the pool's profile) nor a string
 * of the whole batch (~1 KB a span to collect) is made. Any other frame, and any error, goes
 * through SpanBatchCodec.decompress (same checks, same errors). The bytes are valid until the
 * next call.
 */
function batchBytes(frame: Buffer, maxBytes: number): Buffer {
  // version 01, independent blocks; no block or content checksums, content size or dictionary
  if (frame.length >= 15 && frame.readUInt32LE(0) === LZ4_MAGIC && (frame[4] & 0xdd) === 0x40 && frame[4] & 0x20) {
    const blockMax = BLOCK_MAX[(frame[5] >> 4) & 0x07];
    const word = frame.readUInt32LE(7);
    const end = 11 + word;
    if (blockMax && word > 0 && word < 0x80000000 && end + 4 <= frame.length && frame.readUInt32LE(end) === 0) {
      let scratch = blockScratch.get(blockMax);
      if (!scratch) blockScratch.set(blockMax, (scratch = Buffer.allocUnsafe(blockMax)));
      const n = lz4.decodeBlock(frame.subarray(11, end), scratch);
      if (n >= 0 && n <= maxBytes) return scratch.subarray(0, n);
    }
  }
  return SpanBatchCodec.decompress(frame, maxBytes);
}

/** Reusable per-thread slots: one message's spans are all read before any is counted. */
const lineSlots: LineFields[] = [];
const summarySlots: SummaryFields[] = [];
const summaryReader = new SpanSummaryReader();
const reader = new SpanLineReader();

/**
 * Reads every span line of a decompressed message into lineSlots (fast path, or JSON.parse for
 * a line it does not take) and returns how many; throws when a line is not JSON, so a bad message
 * counts nothing, as when the whole batch was parsed first.
 */
function readLines(bytes: Buffer, withAttributes: boolean): number {
  let n = 0;
  for (let pos = 0; pos < bytes.length;) {
    let nl = bytes.indexOf(10, pos);
    if (nl < 0) nl = bytes.length;
    if (nl > pos) {
      const f = (lineSlots[n] ??= emptySpanFields());
      f.attributes = undefined;
      if (withAttributes || !reader.read(bytes, pos, nl, f)) fromParsed(bytes.toString('utf8', pos, nl), f);
      n++;
    }
    pos = nl + 1;
  }
  return n;
}

/** The slow path: JSON.parse of the whole line, fields taken from the object as before. */
function fromParsed(line: string, f: LineFields): void {
  const s = JSON.parse(line) as NormalizedSpan;
  f.service = s.service;
  f.name = s.name;
  f.kind = s.kind;
  f.startMs = typeof s.startTime === 'string' ? eventMillis(s.startTime) : Number.NaN;
  f.durationNanos = Number(s.durationNanos);
  f.statusCode = s.status?.code;
  f.traceIdDecoded = s.traceId;
  f.attributes = s.attributes;
}

function aggregate(t: AggregateTask): AggregateResult {
  const buf = Buffer.from(t.buf);
  // Durations (µs) per group, turned into one encoded histogram each at the end (scratch reused).
  const groups = new PaneGroups(t.dimensions);
  let watermark = t.watermark;
  let spans = 0,
    late = 0,
    skipped = 0,
    badMessages = 0;
  for (let m = 0; m < t.offsets.length; m++) {
    const offset = t.offsets[m];
    const bytes = buf.subarray(t.bounds[2 * m], t.bounds[2 * m + 1]);
    const fromSummary = t.summaries?.[m] === 1;
    let lines: Buffer = EMPTY;
    let n: number;
    try {
      if (fromSummary) n = summaryReader.read(bytes, summarySlots);
      else {
        lines = batchBytes(bytes, t.maxBytes);
        n = readLines(lines, t.dimensions.length > 0);
      }
    } catch {
      badMessages++;
      continue;
    }
    const slots: CountedFields[] = fromSummary ? summarySlots : lineSlots;
    const w = watermark; // decisions inside one message use the watermark before it: deterministic on replay
    let maxEvent = Number.NEGATIVE_INFINITY;
    for (let i = 0; i < n; i++) {
      const s = slots[i];
      const at = s.startMs;
      if (!Number.isFinite(at)) {
        badMessages++;
        continue;
      }
      if (at > maxEvent) maxEvent = at;
      const pane = Math.floor(at / t.paneMs) * t.paneMs;
      if (pane + t.paneMs <= w) {
        // Late: its pane is closed. Counted in the pane now being filled, i.e. the next window.
        const next = Math.floor(w / t.paneMs) * t.paneMs;
        late++;
        if (next + t.paneMs <= t.skipThrough) {
          skipped++;
          continue;
        }
        groups.get(s, next, offset, w).stats.lateCount++;
        continue;
      }
      if (pane + t.paneMs <= t.skipThrough) {
        skipped++;
        continue;
      }
      spans++;
      const g = groups.get(s, pane, offset, w);
      if (record(g, s.durationNanos, s.statusCode, t.exemplars))
        keepExemplar(
          g,
          fromSummary ? summaryReader.traceId(summarySlots[i]) : traceIdOf(lineSlots[i], lines),
          s.durationNanos,
          t.exemplars,
        );
    }
    // A start time ahead of the clock (+ skew) is counted in its own pane, which waits for the
    // clock to reach it; it never pushes the watermark (else one bad clock makes everything late).
    if (Number.isFinite(maxEvent)) watermark = Math.max(watermark, Math.min(maxEvent, t.clocks[m] + t.maxSkewMs) - t.latenessMs);
  }
  return { groups: groups.list.map((g) => finish(g, t)), watermark, spans, late, skipped, badMessages };
}

/** ex: the slowest `exemplars` so far, in order; exFloor: the last one's duration once there are that many (faster spans cannot join). */
type OpenGroup = PaneGroup & { us: number[]; ex: Exemplar[]; exFloor: number };

/** The series of a span: service, operation, kind and the configured attribute dimensions. */
function seriesOf(s: CountedFields, dimensions: string[]): SeriesId {
  let dims: Record<string, string> | undefined;
  if (dimensions.length) {
    dims = {};
    for (const d of dimensions) dims[d] = s.attributes?.[d] === undefined ? '' : String(s.attributes[d]);
  }
  return { service: s.service, operation: s.name, kind: s.kind, ...(dims ? { dims } : {}) };
}

/**
 * Counts one on-time span into its (series, pane) group. True when it may be among the slowest
 * `exemplars` (keepExemplar then takes its trace id): a span faster than the floor is behind
 * `exemplars` slower ones already kept and is never chosen. (Equal durations may still win on
 * trace id, so only strictly faster ones are left out.)
 */
function record(g: OpenGroup, ns: number, statusCode: string | undefined, exemplars: number): boolean {
  g.us.push(nanosToMicros(ns));
  const st = g.stats;
  st.count++;
  if (statusCode === 'ERROR') st.errorCount++;
  else if (statusCode === 'OK') st.okCount!++;
  st.buckets![durationBucket(ns)]++;
  if (ns < st.minNanos) st.minNanos = ns;
  if (ns > st.maxNanos) st.maxNanos = ns;
  const ms = ns / 1e6;
  st.sumMs += ms;
  st.sumSqMs += ms * ms;
  return exemplars > 0 && !(ns < g.exFloor);
}

/**
 * Keeps g.ex the slowest `k` candidates so far, as topExemplars of all of them would order them
 * (slowest first, ties by trace id, no repeats); once full, its last duration is the floor.
 */
function keepExemplar(g: OpenGroup, traceId: string, ns: number, k: number): void {
  const ex = g.ex;
  let pos = 0;
  for (; pos < ex.length; pos++) {
    const e = ex[pos];
    if (e.durationNanos < ns || (e.durationNanos === ns && e.traceId > traceId)) break;
    if (e.durationNanos === ns && e.traceId === traceId) return; // the same span again
  }
  if (pos >= k) return;
  ex.splice(pos, 0, { traceId, durationNanos: ns });
  if (ex.length > k) ex.pop();
  if (ex.length === k) g.exFloor = ex[k - 1].durationNanos;
}

/** A group's durations become one encoded histogram piece, its exemplars the slowest few. */
function finish(g: OpenGroup, t: AggregateTask): PaneGroup {
  const { us, ex, exFloor: _floor, ...rest } = g;
  rest.stats.exemplars = ex;
  if (us.length) {
    const h = scratchHistogram(t.digits);
    for (const v of us) h.record(v);
    rest.hist = h.encodePiece();
  }
  return rest;
}

function mergePanes(t: MergePanesTask): string[] {
  return t.items.map((pieces) => mergeEncoded(pieces, t.digits).encodePiece());
}

const PERCENTILES = [50, 90, 95, 99, 99.9];

function windows(t: WindowsTask): WindowHistogram[] {
  return t.items.map((pieces) => {
    const h = mergeEncoded(pieces, t.digits);
    const [p50, p90, p95, p99, p999] = h.valuesAtPercentiles(PERCENTILES);
    // One compressed piece already is this histogram's record encoding (same encoder).
    const hist = pieces.length === 1 && isCompressedEncoding(pieces[0]) ? pieces[0] : h.encode();
    return { hist, p50, p90, p95, p99, p999 };
  });
}

function warmup(t: WarmupTask): number {
  const pieces: string[] = [];
  for (let i = 0; i < 3; i++) {
    const h = scratchHistogram(t.digits);
    for (let v = 1 + i; v < 5_000_000; v = Math.ceil(v * 1.02) + i) h.record(v);
    pieces.push(h.encodePiece());
  }
  for (let r = 0; r < t.rounds; r++) windows({ kind: 'windows', items: [pieces], digits: t.digits });
  return t.rounds;
}

export default function run(task: Task): AggregateResult | string[] | WindowHistogram[] | number {
  switch (task.kind) {
    case 'aggregate':
      return aggregate(task);
    case 'mergePanes':
      return mergePanes(task);
    case 'windows':
      return windows(task);
    case 'warmup':
      return warmup(task);
  }
}
