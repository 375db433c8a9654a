import { createHash } from 'node:crypto';
import type { KafkaMessage } from 'kafkajs';
import { dailyIndex, HEADER_FORMAT, FORMAT_NDJSON_V1, InvalidInputError, SpanBatchCodec, spanDocId } from '../../shared/src';
import type { RecordSlot } from './record-tracker';

/** One document to write, with where it came from (for the DLQ and offset tracking). */
export interface IndexDoc {
  index: string; id: string; source: string;
  /** topic/partition/offset of the record it came from (the DLQ's mplp-source). */
  origin: string;
  /** The record's slot in its partition's RecordTracker, set by the worker; settled when this document is durable or dead-lettered. */
  record?: RecordSlot;
  /** The bulk action line, built once (see actionLine). */
  action?: string;
}

/** The bulk action line of a document, newline included. */
export function actionLine(d: IndexDoc): string {
  return (d.action ??= `{"index":{"_index":${quotedIndex(d.index)},"_id":${JSON.stringify(d.id)}}}\n`);
}

/** Bytes a document adds to a bulk body: action line, source, newline. */
export function bulkBytesOf(d: IndexDoc): number {
  return Buffer.byteLength(actionLine(d)) + Buffer.byteLength(d.source) + 1;
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
    const lines = SpanBatchCodec.lines(SpanBatchCodec.decompress(m.value, maxBytes));
    if (format !== FORMAT_NDJSON_V1) throw new InvalidInputError('format', `unsupported ${HEADER_FORMAT} "${format}"`);
    return lines.map((line, i) => {
      const fast = spanKeyFast(line);
      if (fast) return { index: traceIndex(prefix, fast.startTime), id: fast.traceId + fast.spanId, source: line, origin };
      let span: { traceId?: string; spanId?: string; startTime?: string };
      try { span = JSON.parse(line); } catch (err) { throw new InvalidInputError('decode', `line ${i + 1} is not JSON: ${(err as Error).message}`); }
      if (typeof span.traceId !== 'string' || typeof span.spanId !== 'string' || typeof span.startTime !== 'string') {
        throw new InvalidInputError('decode', `line ${i + 1} lacks traceId, spanId or startTime`);
      }
      return { index: dailyIndex(prefix, 'traces', span.startTime), id: spanDocId(span as { traceId: string; spanId: string }), source: line, origin };
    });
  }
  let rec: Record<string, unknown>;
  try { rec = JSON.parse(m.value.toString('utf8')); } catch (err) { throw new InvalidInputError('decode', `not JSON: ${(err as Error).message}`); }
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
  const id = typeof rec.id === 'string' && rec.id ? rec.id
    : createHash('sha256').update(`${rec.ruleId}|${rec.seriesKey ?? JSON.stringify(rec.series)}|${rec.state}|${at}`).digest('hex').slice(0, 40);
  // Re-serialized, not the raw value: a pretty-printed record would break the bulk's one-line-per-document body.
  return [{ index: dailyIndex(prefix, 'alerts', typeof at === 'number' ? at : Date.parse(at)), id, source: JSON.stringify(rec), origin }];
}

const FAST = /^\{"traceId":"([0-9a-f]{32})","spanId":"([0-9a-f]{16})"/;

/**
 * Reads the id and date of a span written by ingest without parsing the whole line: ingest
 * writes traceId, spanId first and startTime before attributes, and a JSON string value cannot
 * contain an unescaped quote, so the first `"startTime":"` is the top-level one. Anything else
 * falls back to JSON.parse.
 */
export function spanKeyFast(line: string): { traceId: string; spanId: string; startTime: string } | undefined {
  const m = FAST.exec(line);
  if (!m) return undefined;
  const at = line.indexOf('"startTime":"');
  const attrs = line.indexOf('"attributes":');
  if (at < 0 || (attrs >= 0 && attrs < at)) return undefined;
  const startTime = line.slice(at + 13, at + 23);
  return /^\d{4}-\d{2}-\d{2}$/.test(startTime) ? { traceId: m[1], spanId: m[2], startTime } : undefined;
}
