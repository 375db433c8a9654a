import { MplpError, NormalizedSpan } from '../../shared/src';
import { kafkaBatchError } from '../../shared/src/kafka-codecs';
import { decodeRequest, detectEncoding, Encoding, spanAsOtlpJson } from './otlp-decoder';
import { normalizeRequest, NormalizeLimits } from './span-normalizer';

export { DLQ_HEADER_CODE, DLQ_HEADER_ERROR, DLQ_HEADER_SOURCE, DLQ_HEADER_TRUNCATED } from '../../shared/src';

export interface DlqRecord { value: Buffer; code: string; reason: string; source: string; truncated: boolean }

export interface ProcessedMessage {
  encoding?: Encoding;
  spans: NormalizedSpan[];
  dlq: DlqRecord[];
  droppedAttributes: number;
  truncatedValues: number;
}

export interface ProcessorLimits extends NormalizeLimits { maxMessageBytes: number; maxDlqValueBytes: number }

/**
 * Turns one input message into normalized spans and dead letters. Pure: no I/O, so every rule
 * of DESIGN.md "Input" is unit-testable; the worker does the Kafka side.
 */
export class MessageProcessor {
  constructor(private readonly limits: ProcessorLimits, private readonly now: () => number = Date.now) {}

  process(value: Buffer | null, contentType: string | undefined, source: string, batchError?: string): ProcessedMessage {
    const out: ProcessedMessage = { spans: [], dlq: [], droppedAttributes: 0, truncatedValues: 0 };
    const bytes = value ?? Buffer.alloc(0);
    const reject = (v: Buffer, code: string, reason: string) => {
      const truncated = v.length > this.limits.maxDlqValueBytes;
      out.dlq.push({ value: truncated ? v.subarray(0, this.limits.maxDlqValueBytes) : v, code, reason, source, truncated });
    };
    if (batchError !== undefined) {
      // The Kafka batch holding this record was refused (too large once decompressed) or corrupt:
      // its bytes never reached us; the reason and the source offset go to the DLQ.
      const err = kafkaBatchError(batchError);
      reject(bytes, err.code, err.message);
      return out;
    }
    if (bytes.length > this.limits.maxMessageBytes) {
      reject(bytes, 'too_large', `message of ${bytes.length} bytes is over MPLP_INGEST_MAX_MESSAGE_BYTES (${this.limits.maxMessageBytes})`);
      return out;
    }
    try {
      out.encoding = detectEncoding(bytes, contentType);
      const req = decodeRequest(bytes, out.encoding);
      const res = normalizeRequest(req, this.limits, this.now());
      out.spans = res.spans;
      out.droppedAttributes = res.droppedAttributes;
      out.truncatedValues = res.truncatedValues;
      for (const r of res.rejected) reject(spanAsOtlpJson(r.resource, r.scope, r.span), r.code, r.reason);
    } catch (err) {
      const code = err instanceof MplpError ? err.code : 'decode';
      reject(bytes, code, (err as Error).message);
    }
    return out;
  }
}
