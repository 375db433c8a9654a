/**
 * Piscina worker: the CPU side of the aggregator. Runs lz4 decode, JSON parse and recording
 * into HDR histograms (`aggregate`), merging pane pieces (`mergePanes`) and computing windows
 * (`windows`). Stateless: every task carries what it needs, so any thread can take any task.
 */
import { NormalizedSpan, SpanBatchCodec } from '../../shared/src/threads';
import { isCompressedEncoding } from './hdr-counts';
import { mergeEncoded, nanosToMicros, scratchHistogram } from './histograms';
import { durationBucket, emptyStats, Exemplar, SeriesId, seriesKey, Stats, topExemplars } from './partial';

export interface AggregateTask {
  kind: 'aggregate';
  /** All message values of one fetch, concatenated; moved, not copied. */
  buf: ArrayBuffer;
  /** [start, end) of each message in buf, in offset order. */
  bounds: Int32Array;
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

function eventMillis(iso: string): number {
  return Date.parse(iso.length > 24 ? `${iso.slice(0, 23)}Z` : iso);
}

function aggregate(t: AggregateTask): AggregateResult {
  const buf = Buffer.from(t.buf);
  // Durations (µs) per group, turned into one encoded histogram each at the end (scratch reused).
  const groups = new Map<string, OpenGroup>();
  let watermark = t.watermark;
  let spans = 0,
    late = 0,
    skipped = 0,
    badMessages = 0;
  const group = (series: SeriesId, key: string, pane: number, offset: string, wBefore: number) => {
    const gk = `${pane}\u0000${key}`;
    let g = groups.get(gk);
    if (!g) {
      g = { key, series, pane, firstOffset: offset, watermarkBefore: wBefore, stats: emptyStats(), us: [], ex: [] };
      groups.set(gk, g);
    }
    return g;
  };
  for (let m = 0; m < t.offsets.length; m++) {
    const offset = t.offsets[m];
    let list: NormalizedSpan[];
    try {
      list = SpanBatchCodec.decode(buf.subarray(t.bounds[2 * m], t.bounds[2 * m + 1]), undefined, t.maxBytes);
    } catch {
      badMessages++;
      continue;
    }
    const w = watermark; // decisions inside one message use the watermark before it: deterministic on replay
    let maxEvent = Number.NEGATIVE_INFINITY;
    for (const s of list) {
      const at = eventMillis(s.startTime);
      if (!Number.isFinite(at)) {
        badMessages++;
        continue;
      }
      if (at > maxEvent) maxEvent = at;
      const series = seriesOf(s, t.dimensions);
      const key = seriesKey(series);
      const pane = Math.floor(at / t.paneMs) * t.paneMs;
      if (pane + t.paneMs <= w) {
        // Late: its pane is closed. Counted in the pane now being filled, i.e. the next window.
        const next = Math.floor(w / t.paneMs) * t.paneMs;
        late++;
        if (next + t.paneMs <= t.skipThrough) {
          skipped++;
          continue;
        }
        group(series, key, next, offset, w).stats.lateCount++;
        continue;
      }
      if (pane + t.paneMs <= t.skipThrough) {
        skipped++;
        continue;
      }
      spans++;
      record(group(series, key, pane, offset, w), s, t.exemplars);
    }
    // A start time ahead of the clock (+ skew) is counted in its own pane, which waits for the
    // clock to reach it; it never pushes the watermark (else one bad clock makes everything late).
    if (Number.isFinite(maxEvent)) watermark = Math.max(watermark, Math.min(maxEvent, t.clocks[m] + t.maxSkewMs) - t.latenessMs);
  }
  return { groups: [...groups.values()].map((g) => finish(g, t)), watermark, spans, late, skipped, badMessages };
}

type OpenGroup = PaneGroup & { us: number[]; ex: Exemplar[] };

/** The series of a span: service, operation, kind and the configured attribute dimensions. */
function seriesOf(s: NormalizedSpan, dimensions: string[]): SeriesId {
  let dims: Record<string, string> | undefined;
  if (dimensions.length) {
    dims = {};
    for (const d of dimensions) dims[d] = s.attributes?.[d] === undefined ? '' : String(s.attributes[d]);
  }
  return { service: s.service, operation: s.name, kind: s.kind, ...(dims ? { dims } : {}) };
}

/** Counts one on-time span into its (series, pane) group. */
function record(g: OpenGroup, s: NormalizedSpan, exemplars: number): void {
  const ns = Number(s.durationNanos);
  g.us.push(nanosToMicros(ns));
  const st = g.stats;
  st.count++;
  if (s.status?.code === 'ERROR') st.errorCount++;
  else if (s.status?.code === 'OK') st.okCount!++;
  st.buckets![durationBucket(ns)]++;
  if (ns < st.minNanos) st.minNanos = ns;
  if (ns > st.maxNanos) st.maxNanos = ns;
  const ms = ns / 1e6;
  st.sumMs += ms;
  st.sumSqMs += ms * ms;
  if (exemplars > 0) {
    g.ex.push({ traceId: s.traceId, durationNanos: ns });
    if (g.ex.length > 4 * exemplars + 64) g.ex = topExemplars(g.ex, exemplars);
  }
}

/** A group's durations become one encoded histogram piece, its exemplars the slowest few. */
function finish(g: OpenGroup, t: AggregateTask): PaneGroup {
  const { us, ex, ...rest } = g;
  rest.stats.exemplars = topExemplars(ex, t.exemplars);
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
