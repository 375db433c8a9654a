import { createHash } from 'node:crypto';
import type { KafkaMessage } from 'kafkajs';
import { dailyIndex, HEADER_FORMAT, FORMAT_NDJSON_V1, InvalidInputError, SpanBatchCodec, spanDocId } from '../../shared/src';
import type { CommitSlot } from '../../shared/src';

/** One document to write, with where it came from (for the DLQ and offset tracking). */
export interface IndexDoc {
  index: string;
  id: string;
  /** The document's JSON on one line: bytes straight from the Kafka record, or a string. */
  source: string | Buffer;
  /** topic/partition/offset of the record it came from (the DLQ's mplp-source). */
  origin: string;
  /** The record's slot in its partition's CommitTracker, set by the worker; settled when this document is durable or dead-lettered. */
  record?: CommitSlot;
  /** The bulk action line, built once (see actionLine). */
  action?: string;
  /** Bytes in a bulk body (see bulkBytesOf), computed once. */
  bytes?: number;
}

/** The bulk action line of a document, newline included. */
export function actionLine(d: IndexDoc): string {
  return (d.action ??= `{"index":{"_index":${quotedIndex(d.index)},"_id":${JSON.stringify(d.id)}}}\n`);
}

/** Bytes a document adds to a bulk body: action line, source, newline. */
export function bulkBytesOf(d: IndexDoc): number {
  return (d.bytes ??=
    Buffer.byteLength(actionLine(d)) + (typeof d.source === 'string' ? Buffer.byteLength(d.source) : d.source.length) + 1);
}

// A handful of daily index names recur for every document: quote and name them once.
const quoted = new Map<string, string>();
function quotedIndex(index: string): string {
  let q = quoted.get(index);
  if (q === undefined) {
    if (quoted.size > 1000) quoted.clear();
    q = JSON.stringify(index);
    quoted.set(index, q);
  }
  return q;
}
const traceIndexNames = new Map<string, string>();
function traceIndex(prefix: string, day: string): string {
  const key = prefix + '|' + day;
  let name = traceIndexNames.get(key);
  if (name === undefined) {
    if (traceIndexNames.size > 1000) traceIndexNames.clear();
    name = dailyIndex(prefix, 'traces', day);
    traceIndexNames.set(key, name);
  }
  return name;
}

export type RecordKind = 'spans' | 'metrics' | 'alerts';

/**
 * Turns one Kafka record into documents with deterministic ids (DESIGN.md), so a replay
 * overwrites instead of duplicating. Throws InvalidInputError for a record that cannot be read.
 */
export function documentsOf(kind: RecordKind, m: KafkaMessage, prefix: string, origin: string, maxBytes: number): IndexDoc[] {
  if (!m.value || m.value.length === 0) throw new InvalidInputError('empty', 'empty record');
  if (kind === 'spans') {
    const format = m.headers?.[HEADER_FORMAT]?.toString() ?? FORMAT_NDJSON_V1;
    if (format !== FORMAT_NDJSON_V1) throw new InvalidInputError('format', `unsupported ${HEADER_FORMAT} "${format}"`);
    const ndjson = SpanBatchCodec.decompress(m.value, maxBytes);
    // Lines stay bytes (subarrays of the decompressed record): the bulk body is assembled from
    // them as they are, so a span is never decoded to a string, parsed or re-encoded.
    const docs: IndexDoc[] = [];
    for (let pos = 0, n = 1; pos < ndjson.length; n++) {
      let end = ndjson.indexOf(NEWLINE, pos);
      if (end < 0) end = ndjson.length;
      if (end > pos) {
        const line = ndjson.subarray(pos, end);
        const fast = spanKeyFastBytes(line);
        if (fast)
          docs.push({
            index: traceIndex(prefix, fast.day),
            id: fast.id,
            source: line,
            origin,
            record: undefined,
            action: undefined,
            bytes: undefined,
          });
        else docs.push(spanDocSlow(line.toString('utf8'), n, prefix, origin));
      }
      pos = end + 1;
    }
    return docs;
  }
  let rec: Record<string, unknown>;
  try {
    rec = JSON.parse(m.value.toString('utf8'));
  } catch (err) {
    throw new InvalidInputError('decode', `not JSON: ${(err as Error).message}`);
  }
  if (!rec || typeof rec !== 'object') throw new InvalidInputError('decode', 'not a JSON object');
  if (kind === 'metrics') {
    const end = rec.windowEnd;
    if (typeof end !== 'string' && typeof end !== 'number') throw new InvalidInputError('decode', 'metric record lacks windowEnd');
    const key = (rec.seriesKey as string | undefined) ?? m.key?.toString() ?? `${rec.service}|${rec.operation}|${rec.kind}`;
    const endMs = typeof end === 'number' ? end : Date.parse(end);
    // The aggregator gives each window record a deterministic id; use it so a re-emitted window overwrites.
    const id = typeof rec.id === 'string' && rec.id ? rec.id : `${key}:${new Date(endMs).toISOString()}`;
    return [{ index: dailyIndex(prefix, 'metrics', endMs), id, source: JSON.stringify({ seriesKey: key, ...rec }), origin }];
  }
  const at = (rec.windowEnd ?? rec.evaluatedAt) as string | number | undefined;
  if (at === undefined) throw new InvalidInputError('decode', 'alert record lacks windowEnd');
  // The aggregator's own deterministic id when it gives one; otherwise one derived the same way.
  const id =
    typeof rec.id === 'string' && rec.id
      ? rec.id
      : createHash('sha256')
          .update(`${rec.ruleId}|${rec.seriesKey ?? JSON.stringify(rec.series)}|${rec.state}|${at}`)
          .digest('hex')
          .slice(0, 40);
  // Re-serialized, not the raw value: a pretty-printed record would break the bulk's one-line-per-document body.
  return [{ index: dailyIndex(prefix, 'alerts', typeof at === 'number' ? at : Date.parse(at)), id, source: JSON.stringify(rec), origin }];
}

function spanDocSlow(line: string, n: number, prefix: string, origin: string): IndexDoc {
  let span: { traceId?: string; spanId?: string; startTime?: string };
  try {
    span = JSON.parse(line);
  } catch (err) {
    throw new InvalidInputError('decode', `line ${n} is not JSON: ${(err as Error).message}`);
  }
  if (typeof span.traceId !== 'string' || typeof span.spanId !== 'string' || typeof span.startTime !== 'string') {
    throw new InvalidInputError('decode', `line ${n} lacks traceId, spanId or startTime`);
  }
  return {
    index: dailyIndex(prefix, 'traces', span.startTime),
    id: spanDocId(span as { traceId: string; spanId: string }),
    source: line,
    origin,
    record: undefined,
    action: undefined,
    bytes: undefined,
  };
}

const NEWLINE = 0x0a;
const TRACE_KEY = Buffer.from('{"traceId":"');
const SPAN_KEY = Buffer.from('","spanId":"');
const START_KEY = Buffer.from('"startTime":"');

function isLowerHex(b: Buffer, from: number, to: number): boolean {
  for (let i = from; i < to; i++) {
    const c = b[i];
    if (!((c >= 0x30 && c <= 0x39) || (c >= 0x61 && c <= 0x66))) return false;
  }
  return true;
}

function isDay(b: Buffer, at: number): boolean {
  for (let i = 0; i < 10; i++) {
    const c = b[at + i];
    if (i === 4 || i === 7 ? c !== 0x2d : c < 0x30 || c > 0x39) return false;
  }
  return true;
}

/**
 * The bytes version of spanKeyFast, for the indexer's hot path: the _id (traceId + spanId) and
 * the UTC day of startTime of a span line written by ingest, or undefined (then JSON.parse).
 * The ids must open the line; startTime must come before any nested object (a `{` after the
 * first byte), so the first `"startTime":"` is the top-level key: a JSON string cannot contain
 * an unescaped quote, and keys inside attributes or resource come after a `{`.
 */
export function spanKeyFastBytes(line: Buffer): { id: string; day: string } | undefined {
  if (line.length < 73 || line.compare(TRACE_KEY, 0, 12, 0, 12) !== 0 || line.compare(SPAN_KEY, 0, 12, 44, 56) !== 0 || line[72] !== 0x22)
    return undefined;
  if (!isLowerHex(line, 12, 44) || !isLowerHex(line, 56, 72)) return undefined;
  const at = line.indexOf(START_KEY, 73);
  if (at < 0 || at + 23 > line.length) return undefined;
  const brace = line.indexOf(0x7b, 1);
  if (brace >= 0 && brace < at) return undefined;
  if (!isDay(line, at + 13)) return undefined;
  return { id: line.toString('latin1', 12, 44) + line.toString('latin1', 56, 72), day: line.toString('latin1', at + 13, at + 23) };
}
