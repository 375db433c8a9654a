/**
 * Piscina worker: runs encodeBatch (decode, validate, normalize, lz4) off the consumer's thread.
 * Input values arrive concatenated in one moved ArrayBuffer; the output frames and dead letters
 * go back the same way, so nothing is copied through structured clone.
 */
import { BatchStats, encodeBatch, EncodeLimits, InputMessage } from './batch-encoder';
import { DlqRecord, MessageProcessor, ProcessorLimits } from './message-processor';
import { packBuffers } from '../../shared/src/threads';

export { packBuffers };

export interface DecodeTask {
  buf: ArrayBuffer;
  /** [start, end) of each value in buf; start -1 for a null value. */
  bounds: Int32Array;
  contentTypes: (string | undefined)[];
  /** Per input, set on stand-in records of a refused Kafka batch; absent when there are none. */
  batchErrors?: (string | undefined)[];
  sources: string[];
  limits: ProcessorLimits;
  encode: EncodeLimits;
}

export interface DecodeResult {
  buf: ArrayBuffer;
  /** Value and summary (when there is one) as ranges of `buf`. */
  records: { key: string; start: number; end: number; summary?: [number, number]; spans: number; sources: string[] }[];
  /** Dead letters with their value as a range of `buf` (moved, not copied). */
  dlq: (Omit<DlqRecord, 'value'> & { start: number; end: number })[];
  stats: BatchStats;
  consumed: number;
}

let cached: { key: string; processor: MessageProcessor } | undefined;

export default function decode(task: DecodeTask): DecodeResult {
  const key = JSON.stringify(task.limits);
  if (cached?.key !== key) cached = { key, processor: new MessageProcessor(task.limits) };
  const whole = Buffer.from(task.buf);
  const inputs: InputMessage[] = task.sources.map((source, i) => ({
    value: task.bounds[2 * i] < 0 ? null : whole.subarray(task.bounds[2 * i], task.bounds[2 * i + 1]),
    contentType: task.contentTypes[i],
    source,
    batchError: task.batchErrors?.[i],
  }));
  const out = encodeBatch(cached.processor, inputs, task.encode);
  const summaries = out.records.flatMap((r) => (r.summary ? [r.summary] : []));
  const pack = packBuffers([...out.records.map((r) => r.value), ...out.dlq.map((d) => d.value), ...summaries]);
  const n = out.records.length;
  let nextSummary = n + out.dlq.length;
  return {
    buf: pack.buf,
    records: out.records.map((r, i) => ({
      key: r.key,
      start: pack.bounds[2 * i],
      end: pack.bounds[2 * i + 1],
      ...(r.summary ? { summary: [pack.bounds[2 * nextSummary], pack.bounds[2 * nextSummary++ + 1]] as [number, number] } : {}),
      spans: r.spans,
      sources: r.sources,
    })),
    dlq: out.dlq.map((d, j) => ({
      start: pack.bounds[2 * (n + j)],
      end: pack.bounds[2 * (n + j) + 1],
      code: d.code,
      reason: d.reason,
      source: d.source,
      truncated: d.truncated,
      spans: d.spans,
      ...(d.contentType ? { contentType: d.contentType } : {}),
    })),
    stats: out.stats,
    consumed: out.consumed,
  };
}
