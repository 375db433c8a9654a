import type { NormalizedSpan } from '../../shared/src/threads';
import { SpanBatchCodec, SpanSummaryBuilder } from '../../shared/src/threads';
import { DlqRecord, MessageProcessor, referenceValue } from './message-processor';

/** One input message as the batch encoder takes it. */
export interface InputMessage {
  value: Buffer | null;
  contentType?: string;
  source: string;
  /** Set on a stand-in record of a Kafka batch that could not be decompressed (shared/kafka-codecs): why. */
  batchError?: string;
}

/** An lz4 frame of one trace's normalized spans, ready for the validated topic; `sources` are the input offsets its spans came from. */
export interface OutputRecord {
  key: string;
  value: Buffer;
  /** The span summary header (shared/span-summary); absent when it would not fit in the record. */
  summary?: Buffer;
  spans: number;
  sources: string[];
}

export interface BatchStats {
  messagesByEncoding: Record<string, number>;
  spansIn: number;
  spansValid: number;
  rejectedByCode: Record<string, number>;
  droppedAttributes: number;
  truncatedValues: number;
  bytesIn: number;
  ndjsonBytesOut: number;
  bytesOut: number;
  /** Bytes of the dead letters' values. */
  dlqBytesOut: number;
}

/** `consumed`: how many of the inputs this covers (fewer than given when the output budget ran out). */
export interface EncodedBatch {
  records: OutputRecord[];
  dlq: DlqRecord[];
  stats: BatchStats;
  consumed: number;
}

export interface EncodeLimits {
  /** Uncompressed NDJSON per output record (MPLP_INGEST_MAX_BATCH_BYTES). */
  maxBatchBytes: number;
  /** Largest record the output topics take (MPLP_INGEST_MAX_RECORD_BYTES): a span line that cannot fit goes to the DLQ as a reference. */
  maxRecordBytes: number;
  /** NDJSON plus dead letters one input message may become (MPLP_INGEST_MAX_OUTPUT_BYTES_PER_MESSAGE). */
  maxOutputBytesPerMessage: number;
  /** Stop taking further inputs once this much output is made (the rest is encoded by a later call). */
  outputBudget?: number;
  /** Write each record's span summary (MPLP_INGEST_SPAN_SUMMARY); absent: true. */
  spanSummary?: boolean;
}

/** Room kept in a record for Kafka's record-batch and record framing, the key, headers and lz4 framing. */
export const RECORD_OVERHEAD_BYTES = 1024;

export function emptyStats(): BatchStats {
  return {
    messagesByEncoding: {},
    spansIn: 0,
    spansValid: 0,
    rejectedByCode: {},
    droppedAttributes: 0,
    truncatedValues: 0,
    bytesIn: 0,
    ndjsonBytesOut: 0,
    bytesOut: 0,
    dlqBytesOut: 0,
  };
}

interface TraceLines {
  lines: string[];
  /** The span summary rows of the lines, built as they come (absent when summaries are off). */
  summary?: SpanSummaryBuilder;
  bytes: number[];
  sources: string[];
}

/**
 * Decodes, normalizes and compresses a run of input messages: the CPU side of ingest, pure so
 * it runs the same in the consumer's thread or in a Piscina worker. Spans are grouped by trace
 * id, one lz4 frame per trace (split when over maxBatchBytes of NDJSON), so the key of every
 * output record is its trace id. What one message may become is capped (maxOutputBytesPerMessage:
 * past it the message goes whole to the DLQ as too_large), and so is the run: once outputBudget
 * bytes are made, the remaining inputs are left for the next call.
 */
export function encodeBatch(processor: MessageProcessor, inputs: readonly InputMessage[], limits: EncodeLimits): EncodedBatch {
  const stats = emptyStats();
  const byTrace = new Map<string, TraceLines>();
  const dlq: DlqRecord[] = [];
  const lineCap = limits.maxRecordBytes - RECORD_OVERHEAD_BYTES;
  let made = 0;
  let consumed = 0;
  while (consumed < inputs.length && made < (limits.outputBudget ?? Infinity)) {
    const m = inputs[consumed++];
    const res = processor.process(m.value, m.contentType, m.source, m.batchError);
    const lines: { span: NormalizedSpan; line: string; bytes: number }[] = [];
    let dead = res.dlq;
    let bytes = 0;
    for (const s of res.spans) {
      const line = spanLine(s);
      const n = Buffer.byteLength(line) + 1;
      if (n > lineCap) dead = [...dead, lineReference(s, m.source, n, limits.maxRecordBytes)];
      else {
        lines.push({ span: s, line, bytes: n });
        bytes += n;
      }
    }
    for (const d of dead) bytes += d.value.length;
    if (bytes > limits.maxOutputBytesPerMessage) {
      lines.length = 0;
      dead = [
        processor.wholeMessage(
          m.value ?? Buffer.alloc(0),
          'too_large',
          `message of ${m.value?.length ?? 0} bytes would become ${bytes} bytes of output, over MPLP_INGEST_MAX_OUTPUT_BYTES_PER_MESSAGE (${limits.maxOutputBytesPerMessage})`,
          m.source,
        ),
      ];
      bytes = dead[0].value.length;
    }
    made += bytes;
    const enc = res.encoding ?? 'unknown';
    stats.messagesByEncoding[enc] = (stats.messagesByEncoding[enc] ?? 0) + 1;
    stats.bytesIn += m.value?.length ?? 0;
    if (lines.length) {
      stats.droppedAttributes += res.droppedAttributes;
      stats.truncatedValues += res.truncatedValues;
    }
    stats.spansIn += lines.length;
    for (const { span, line, bytes: n } of lines) {
      let t = byTrace.get(span.traceId);
      if (!t) {
        t = { lines: [], bytes: [], sources: [], ...(limits.spanSummary !== false ? { summary: new SpanSummaryBuilder() } : {}) };
        byTrace.set(span.traceId, t);
      }
      t.lines.push(line);
      t.summary?.add(span);
      t.bytes.push(n);
      if (t.sources[t.sources.length - 1] !== m.source) t.sources.push(m.source);
    }
    for (const d of dead) {
      stats.spansIn += d.spans;
      stats.rejectedByCode[d.code] = (stats.rejectedByCode[d.code] ?? 0) + Math.max(1, d.spans);
      stats.dlqBytesOut += d.value.length;
      dlq.push(d);
    }
  }
  const records: OutputRecord[] = [];
  for (const [traceId, t] of byTrace) {
    let first = 0;
    for (const chunk of chunkLines(t.lines, limits.maxBatchBytes, t.bytes)) {
      const ndjson = Buffer.from(chunk.join('\n') + '\n');
      const value = SpanBatchCodec.encodeLines(ndjson);
      const summary = t.summary && summaryFitting(t.summary, first, first + chunk.length, value.length, limits.maxRecordBytes);
      first += chunk.length;
      stats.ndjsonBytesOut += ndjson.length;
      stats.bytesOut += value.length + (summary?.length ?? 0);
      stats.spansValid += chunk.length;
      records.push({ key: traceId, value, ...(summary ? { summary } : {}), spans: chunk.length, sources: t.sources });
    }
  }
  return { records, dlq, stats, consumed };
}

/**
 * The record's span summary, unless value and summary together would pass the record size the
 * output topics take: the summary is an optimization, so the record goes without it (the
 * aggregator then reads the value) rather than being refused.
 */
function summaryFitting(
  builder: SpanSummaryBuilder,
  from: number,
  to: number,
  valueBytes: number,
  maxRecordBytes: number,
): Buffer | undefined {
  const summary = builder.encode(from, to);
  return summary && valueBytes + summary.length + RECORD_OVERHEAD_BYTES <= maxRecordBytes ? summary : undefined;
}

/** A span whose NDJSON line cannot fit in a record of the validated topic: a reference in the DLQ instead of its body. */
function lineReference(s: NormalizedSpan, source: string, bytes: number, maxRecordBytes: number): DlqRecord {
  return {
    value: referenceValue({ source, traceId: s.traceId, spanId: s.spanId, ndjsonBytes: bytes, limitBytes: maxRecordBytes }),
    code: 'too_large',
    source,
    truncated: true,
    spans: 1,
    reason: `span ${s.traceId}/${s.spanId} is ${bytes} bytes of NDJSON, more than a record of MPLP_INGEST_MAX_RECORD_BYTES (${maxRecordBytes}) holds; the value is a reference to it`,
  };
}

/** Splits one trace's lines into chunks of at most maxBytes (a single larger line stays alone). */
export function chunkLines(lines: string[], maxBytes: number, lineBytes?: number[]): string[][] {
  const chunks: string[][] = [];
  let cur: string[] = [];
  let size = 0;
  for (let i = 0; i < lines.length; i++) {
    const l = lines[i];
    const len = lineBytes ? lineBytes[i] : Buffer.byteLength(l) + 1;
    if (cur.length && size + len > maxBytes) {
      chunks.push(cur);
      cur = [];
      size = 0;
    }
    cur.push(l);
    size += len;
  }
  if (cur.length) chunks.push(cur);
  return chunks;
}

// The resource (and scope) object is shared by every span of its ResourceSpans: serialize it once.
const jsonOfShared = new WeakMap<object, string>();
function sharedJson(o: object): string {
  let j = jsonOfShared.get(o);
  if (j === undefined) {
    j = JSON.stringify(o);
    jsonOfShared.set(o, j);
  }
  return j;
}

/**
 * A normalized span as one NDJSON line: JSON.stringify of the same object (a unit test compares
 * them), with the shared resource and scope serialized once per request instead of once per span.
 * Ids, kind and times are inlined: the normalizer made them hex, an enum token and ISO strings.
 */
export function spanLine(s: NormalizedSpan): string {
  let line = '{"traceId":"' + s.traceId + '","spanId":"' + s.spanId + '"';
  if (s.parentSpanId !== undefined) line += ',"parentSpanId":"' + s.parentSpanId + '"';
  line +=
    ',"name":' +
    JSON.stringify(s.name) +
    ',"kind":"' +
    s.kind +
    '","service":' +
    JSON.stringify(s.service) +
    ',"startTime":"' +
    s.startTime +
    '","endTime":"' +
    s.endTime +
    '","durationNanos":' +
    s.durationNanos +
    ',"status":' +
    JSON.stringify(s.status) +
    ',"attributes":' +
    JSON.stringify(s.attributes) +
    ',"resource":' +
    sharedJson(s.resource) +
    ',"scope":' +
    sharedJson(s.scope) +
    ',"events":' +
    (s.events.length ? JSON.stringify(s.events) : '[]') +
    ',"links":' +
    (s.links.length ? JSON.stringify(s.links) : '[]');
  if (s.dropped !== undefined) line += ',"dropped":' + JSON.stringify(s.dropped);
  return line + '}';
}
