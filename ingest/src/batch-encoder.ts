import type { NormalizedSpan } from '../../shared/src';
import { SpanBatchCodec } from '../../shared/src';
import { DlqRecord, MessageProcessor } from './message-processor';

/** One input message as the batch encoder takes it. */
export interface InputMessage {
  value: Buffer | null; contentType?: string; source: string;
  /** Set on a stand-in record of a Kafka batch that could not be decompressed (shared/kafka-codecs): why. */
  batchError?: string;
}

/** An lz4 frame of one trace's normalized spans, ready for the validated topic. */
export interface OutputRecord { key: string; value: Buffer; spans: number }

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
}

export interface EncodedBatch { records: OutputRecord[]; dlq: DlqRecord[]; stats: BatchStats }

const WHOLE_MESSAGE_CODES = new Set(['decode', 'empty', 'too_large']);

/**
 * Decodes, normalizes and compresses a run of input messages: the CPU side of ingest, pure so
 * it runs the same in the consumer's thread or in a Piscina worker. Spans are grouped by trace
 * id, one lz4 frame per trace (split when over maxBatchBytes of NDJSON), so the key of every
 * output record is its trace id.
 */
export function encodeBatch(processor: MessageProcessor, inputs: readonly InputMessage[], maxBatchBytes: number): EncodedBatch {
  const stats: BatchStats = {
    messagesByEncoding: {}, spansIn: 0, spansValid: 0, rejectedByCode: {}, droppedAttributes: 0, truncatedValues: 0,
    bytesIn: 0, ndjsonBytesOut: 0, bytesOut: 0,
  };
  const byTrace = new Map<string, string[]>();
  const dlq: DlqRecord[] = [];
  for (const m of inputs) {
    const res = processor.process(m.value, m.contentType, m.source, m.batchError);
    const enc = res.encoding ?? 'unknown';
    stats.messagesByEncoding[enc] = (stats.messagesByEncoding[enc] ?? 0) + 1;
    stats.bytesIn += m.value?.length ?? 0;
    stats.droppedAttributes += res.droppedAttributes;
    stats.truncatedValues += res.truncatedValues;
    stats.spansIn += res.spans.length;
    for (const s of res.spans) {
      let lines = byTrace.get(s.traceId);
      if (!lines) byTrace.set(s.traceId, (lines = []));
      lines.push(spanLine(s));
    }
    for (const d of res.dlq) {
      if (!WHOLE_MESSAGE_CODES.has(d.code)) stats.spansIn++;
      stats.rejectedByCode[d.code] = (stats.rejectedByCode[d.code] ?? 0) + 1;
      dlq.push(d);
    }
  }
  const records: OutputRecord[] = [];
  for (const [traceId, lines] of byTrace) {
    for (const chunk of chunkLines(lines, maxBatchBytes)) {
      const ndjson = Buffer.from(chunk.join('\n') + '\n');
      const value = SpanBatchCodec.encodeLines(ndjson);
      stats.ndjsonBytesOut += ndjson.length;
      stats.bytesOut += value.length;
      stats.spansValid += chunk.length;
      records.push({ key: traceId, value, spans: chunk.length });
    }
  }
  return { records, dlq, stats };
}

/** Splits one trace's lines into chunks of at most maxBytes (a single larger line stays alone). */
export function chunkLines(lines: string[], maxBytes: number): string[][] {
  const chunks: string[][] = [];
  let cur: string[] = [];
  let size = 0;
  for (const l of lines) {
    const len = Buffer.byteLength(l) + 1;
    if (cur.length && size + len > maxBytes) { chunks.push(cur); cur = []; size = 0; }
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
  if (j === undefined) { j = JSON.stringify(o); jsonOfShared.set(o, j); }
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
  line += ',"name":' + JSON.stringify(s.name) + ',"kind":"' + s.kind + '","service":' + JSON.stringify(s.service)
    + ',"startTime":"' + s.startTime + '","endTime":"' + s.endTime + '","durationNanos":' + s.durationNanos
    + ',"status":' + JSON.stringify(s.status) + ',"attributes":' + JSON.stringify(s.attributes)
    + ',"resource":' + sharedJson(s.resource) + ',"scope":' + sharedJson(s.scope)
    + ',"events":' + (s.events.length ? JSON.stringify(s.events) : '[]') + ',"links":' + (s.links.length ? JSON.stringify(s.links) : '[]');
  if (s.dropped !== undefined) line += ',"dropped":' + JSON.stringify(s.dropped);
  return line + '}';
}
