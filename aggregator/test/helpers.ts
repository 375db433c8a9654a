import { randomBytes } from 'node:crypto';
import type { Producer } from 'kafkajs';
import {
  nanosToIso,
  NormalizedSpan,
  SpanBatchCodec,
  SpanSummaryCodec,
  HEADER_FORMAT,
  HEADER_SPANS,
  HEADER_SPAN_SUMMARY,
  FORMAT_NDJSON_V1,
  packBuffers,
} from '../../shared/src';
import type { AggregateTask } from '../src/pane-worker';

export const PANE = 5_000;
export const WINDOW = 60_000;

export interface Fixture {
  spans: NormalizedSpan[];
  late: NormalizedSpan[];
}

export function span(service: string, name: string, startMs: number, durationMs: number, error: boolean): NormalizedSpan {
  const start = BigInt(startMs) * 1_000_000n + 123n;
  const dur = BigInt(Math.round(durationMs * 1e6));
  return {
    traceId: randomBytes(16).toString('hex'),
    spanId: randomBytes(8).toString('hex'),
    name,
    kind: 'SERVER',
    service,
    startTime: nanosToIso(start),
    endTime: nanosToIso(start + dur),
    durationNanos: Number(dur),
    status: { code: error ? 'ERROR' : 'OK' },
    attributes: {},
    resource: { 'service.name': service },
    scope: { name: 'test' },
    events: [],
    links: [],
  };
}

/**
 * Spans over `minutes` minutes ending 5 minutes ago, in time order, with durations the test
 * chooses (a spread per operation; `slow` raises GET /slow to 1 s for the middle minute).
 */
export function makeFixture(n: number, minutes = 3, opts: { slow?: boolean } = {}): Fixture {
  const end = Math.floor((Date.now() - 5 * 60_000) / PANE) * PANE;
  const begin = end - minutes * 60_000;
  const ops = [
    ['checkout', 'POST /pay'],
    ['checkout', 'GET /cart'],
    ['search', 'GET /q'],
    ['alerting', 'GET /slow'],
  ];
  const spans: NormalizedSpan[] = [];
  for (let i = 0; i < n; i++) {
    const at = begin + Math.floor((i / n) * (end - begin));
    const [svc, op] = ops[i % ops.length];
    let d = 1 + ((i * 7919) % 1000) / 3 + (i % 97 === 0 ? 2000 : 0); // 1..334 ms plus a few slow outliers
    if (op === 'GET /slow') d = opts.slow && at >= begin + 60_000 && at < begin + 120_000 ? 1000 + (i % 50) : 50 + (i % 50);
    spans.push(span(svc, op, at, d, i % 13 === 0));
  }
  // Late spans: as old as the first ones, sent after everything else.
  const late = Array.from({ length: 7 }, (_, i) => span('checkout', 'POST /pay', begin + i * 10, 5, false));
  return { spans, late };
}

/**
 * Validated-topic messages as ingest writes them, `perMessage` spans each, with the span summary
 * header when `summary` (ingest with MPLP_INGEST_SPAN_SUMMARY=true); `partition` picks the i-th
 * message's partition (default: by key).
 */
export function spanMessages(spans: NormalizedSpan[], perMessage = 40, partition?: (i: number) => number, summary = false) {
  return Array.from({ length: Math.ceil(spans.length / perMessage) }, (_, i) => {
    const chunk = spans.slice(i * perMessage, (i + 1) * perMessage);
    const headers: Record<string, string | Buffer> = { [HEADER_FORMAT]: FORMAT_NDJSON_V1, [HEADER_SPANS]: String(chunk.length) };
    if (summary) headers[HEADER_SPAN_SUMMARY] = SpanSummaryCodec.encode(chunk)!;
    return {
      ...(partition ? { partition: partition(i) } : {}),
      key: chunk[0].traceId,
      value: SpanBatchCodec.encode(chunk),
      headers,
    };
  });
}

export async function produceSpans(
  producer: Producer,
  topic: string,
  spans: NormalizedSpan[],
  perMessage = 40,
  summary = false,
): Promise<void> {
  const messages = spanMessages(spans, perMessage, undefined, summary);
  for (let i = 0; i < messages.length; i += 200) await producer.send({ topic, messages: messages.slice(i, i + 200), acks: -1 });
}

export interface ExpectedWindow {
  key: string;
  end: number;
  count: number;
  errorCount: number;
  durationsMs: number[];
}

/** The exact windows of on-time spans: every (series, windowEnd) with at least one span. */
export function expectedWindows(spans: NormalizedSpan[]): Map<string, ExpectedWindow> {
  const out = new Map<string, ExpectedWindow>();
  for (const s of spans) {
    const at = Date.parse(s.startTime.slice(0, 23) + 'Z');
    const pane = Math.floor(at / PANE) * PANE;
    const key = `${s.service}|${s.name}|${s.kind}`;
    for (let end = pane + PANE; end <= pane + WINDOW; end += PANE) {
      const id = `${key}@${end}`;
      let w = out.get(id);
      if (!w) {
        w = { key, end, count: 0, errorCount: 0, durationsMs: [] };
        out.set(id, w);
      }
      w.count++;
      if (s.status.code === 'ERROR') w.errorCount++;
      w.durationsMs.push(s.durationNanos / 1e6);
    }
  }
  return out;
}

export function exactPercentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))];
}

/**
 * An `aggregate` task of the pane worker over record parts (values, or span summaries where
 * `summaries` marks them), with the defaults the unit tests share; packed as the source stage does.
 */
export function aggregateTask(
  parts: Buffer[],
  opts: { summaries?: boolean; exemplars?: number; firstOffset?: number } = {},
): AggregateTask {
  const { buf, bounds } = packBuffers(parts);
  return {
    kind: 'aggregate',
    buf,
    bounds,
    ...(opts.summaries ? { summaries: new Uint8Array(parts.length).fill(1) } : {}),
    offsets: parts.map((_, i) => String((opts.firstOffset ?? 0) + i)),
    clocks: parts.map(() => Date.now()),
    maxSkewMs: 1000,
    watermark: 0,
    skipThrough: 0,
    latenessMs: 10_000,
    paneMs: 5000,
    digits: 3,
    exemplars: opts.exemplars ?? 5,
    dimensions: [],
    maxBytes: 64 << 20,
  };
}
