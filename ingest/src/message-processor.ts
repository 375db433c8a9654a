import { kafkaBatchError, MplpError, NormalizedSpan } from '../../shared/src/threads';
import { DecodedMessage, EncodingSetting, FormatName, formatOf, MessageView } from './formats';
import { hex, otlpPartJson, otlpSpanJson, UndecodablePart } from './otlp-decoder';
import { normalizeRequest, NormalizeLimits, OutputTooLargeError, SpanRejection } from './span-normalizer';

export { DLQ_HEADER_CODE, DLQ_HEADER_ERROR, DLQ_HEADER_SOURCE, DLQ_HEADER_TRUNCATED } from '../../shared/src/threads';

/**
 * One dead letter. `spans`: how many spans it holds (0 for a whole message, whose spans were never
 * counted). `contentType` is set when the value is not OTLP/JSON (a whole message keeps the input's
 * own encoding, undecodable protobuf spans stay protobuf).
 */
export interface DlqRecord {
  value: Buffer;
  code: string;
  reason: string;
  source: string;
  truncated: boolean;
  spans: number;
  contentType?: string;
}

export interface ProcessedMessage {
  /** The `encoding` label of the input metric: `protobuf` / `json` for OTLP, else the format's name. */
  encoding?: string;
  format?: FormatName;
  spans: NormalizedSpan[];
  dlq: DlqRecord[];
  droppedAttributes: number;
  truncatedValues: number;
}

export interface ProcessorLimits extends NormalizeLimits {
  maxMessageBytes: number;
  maxDlqValueBytes: number;
  /** MPLP_INGEST_ENCODING: the input format of every message, or `auto` (detected per message). */
  encoding?: EncodingSetting;
}

const MAX_REASON_CHARS = 2000;

/**
 * Turns one input message into normalized spans and dead letters. Pure: no I/O, so every rule
 * of DESIGN.md "Input" is unit-testable; the worker does the Kafka side.
 */
export class MessageProcessor {
  constructor(
    private readonly limits: ProcessorLimits,
    private readonly now: () => number = Date.now,
  ) {}

  process(value: Buffer | null, contentType: string | undefined, source: string, batchError?: string): ProcessedMessage {
    const out: ProcessedMessage = { spans: [], dlq: [], droppedAttributes: 0, truncatedValues: 0 };
    const bytes = value ?? Buffer.alloc(0);
    if (batchError !== undefined) {
      // The Kafka batch holding this record was refused (too large once decompressed) or corrupt:
      // its bytes never reached us; the reason and the source offset go to the DLQ.
      const err = kafkaBatchError(batchError);
      out.dlq.push(this.wholeMessage(bytes, err.code, err.message, source));
      return out;
    }
    if (bytes.length > this.limits.maxMessageBytes) {
      out.dlq.push(
        this.wholeMessage(
          bytes,
          'too_large',
          `message of ${bytes.length} bytes is over MPLP_INGEST_MAX_MESSAGE_BYTES (${this.limits.maxMessageBytes})`,
          source,
        ),
      );
      return out;
    }
    try {
      const view = new MessageView(bytes);
      const format = formatOf(bytes, contentType, this.limits.encoding ?? 'auto', view);
      out.encoding = format.metricLabel;
      out.format = format.name;
      const decoded = format.decode(bytes, view);
      const res = normalizeRequest(decoded.req, this.limits, this.now());
      out.spans = res.spans;
      out.droppedAttributes = res.droppedAttributes;
      out.truncatedValues = res.truncatedValues;
      for (const u of decoded.undecodable) out.dlq.push(this.undecodablePart(u, source));
      out.dlq.push(...this.deadLetters(res.rejected, decoded, source));
    } catch (err) {
      const code = err instanceof MplpError ? err.code : 'decode';
      out.spans = [];
      out.dlq = [
        this.wholeMessage(
          bytes,
          code,
          err instanceof OutputTooLargeError ? `message of ${bytes.length} bytes: ${err.message}` : (err as Error).message,
          source,
        ),
      ];
    }
    return out;
  }

  /** The whole input message as a dead letter: truncated past MPLP_INGEST_MAX_DLQ_VALUE_BYTES, in its own encoding. */
  wholeMessage(bytes: Buffer, code: string, reason: string, source: string, contentType?: string): DlqRecord {
    const truncated = bytes.length > this.limits.maxDlqValueBytes;
    return {
      value: truncated ? bytes.subarray(0, this.limits.maxDlqValueBytes) : bytes,
      code,
      reason: capReason(reason),
      source,
      truncated,
      spans: 0,
      ...(contentType ? { contentType } : {}),
    };
  }

  /**
   * Rejected spans in their own format when it keeps them (a Jaeger message, a one-span Zipkin
   * list), each alone with the content type it came in; OTLP spans grouped as OTLP/JSON.
   */
  private deadLetters(rejected: readonly SpanRejection[], decoded: DecodedMessage, source: string): DlqRecord[] {
    const { originals, originalContentType } = decoded;
    if (!originals) return deadLetterSpans(rejected, source, this.limits.maxDlqValueBytes);
    const out: DlqRecord[] = [];
    for (const r of rejected) {
      const original = originals.get(r.span);
      if (original === undefined) {
        out.push(...deadLetterSpans([r], source, this.limits.maxDlqValueBytes));
        continue;
      }
      if (original.length > this.limits.maxDlqValueBytes) {
        out.push(spanReference(r, r.code, source, original.length, this.limits.maxDlqValueBytes));
        continue;
      }
      out.push({
        value: original,
        code: r.code,
        reason: capReason(r.reason),
        source,
        truncated: false,
        spans: 1,
        ...(originalContentType ? { contentType: originalContentType } : {}),
      });
    }
    return out;
  }

  private undecodablePart(u: UndecodablePart, source: string): DlqRecord {
    return { ...this.wholeMessage(u.request, 'decode', u.reason, source, 'application/x-protobuf'), spans: u.spans };
  }
}

function capReason(reason: string): string {
  return reason.length > MAX_REASON_CHARS ? `${reason.slice(0, MAX_REASON_CHARS)}…` : reason;
}

/**
 * Rejected spans as OTLP/JSON dead letters: those of one resource with one code share a record,
 * which holds the resource once (a large resource repeated on each of many rejected spans made a
 * small message tens of MB of dead letters), split so no value passes maxValueBytes. A span that
 * does not fit alone, or cannot be written as JSON, becomes a reference to it.
 */
export function deadLetterSpans(rejected: readonly SpanRejection[], source: string, maxValueBytes: number): DlqRecord[] {
  const groups = new Map<unknown, Map<string, SpanRejection[]>>();
  for (const r of rejected) {
    let byCode = groups.get(r.resource);
    if (!byCode) groups.set(r.resource, (byCode = new Map()));
    const list = byCode.get(r.code);
    if (list) list.push(r);
    else byCode.set(r.code, [r]);
  }
  const out: DlqRecord[] = [];
  for (const byCode of groups.values()) {
    for (const [code, list] of byCode) out.push(...groupRecords(code, list, source, maxValueBytes));
  }
  return out;
}

function groupRecords(code: string, list: SpanRejection[], source: string, maxValueBytes: number): DlqRecord[] {
  const out: DlqRecord[] = [];
  let resourceJson: string;
  try {
    resourceJson = otlpPartJson(list[0].resource);
  } catch {
    resourceJson = '{}';
  }
  const scopeJsons = new Map<unknown, string>();
  let cur: { scope: unknown; scopeJson: string; spans: string[] }[] = [];
  let curReasons: string[] = [];
  let curBytes = 0;
  const head = `{"resourceSpans":[{"resource":${resourceJson},"scopeSpans":[`;
  const flush = () => {
    if (!curReasons.length) return;
    const body = cur.map((s) => `{"scope":${s.scopeJson},"spans":[${s.spans.join(',')}]}`).join(',');
    const distinct = [...new Set(curReasons)];
    const reason = (curReasons.length > 1 ? `${curReasons.length} spans: ` : '') + distinct.join('; ');
    out.push({
      value: Buffer.from(`${head}${body}]}]}`),
      code,
      reason: capReason(reason),
      source,
      truncated: false,
      spans: curReasons.length,
    });
    cur = [];
    curReasons = [];
    curBytes = 0;
  };
  for (const r of list) {
    let spanJson: string | undefined;
    let scopeJson = scopeJsons.get(r.scope);
    try {
      if (scopeJson === undefined) scopeJsons.set(r.scope, (scopeJson = otlpPartJson(r.scope)));
      spanJson = otlpSpanJson(r.span);
    } catch {
      /* not writable as JSON (nested past the stack): a reference below */
    }
    const spanBytes = spanJson === undefined ? Infinity : Buffer.byteLength(spanJson) + Buffer.byteLength(scopeJson!) + 16;
    const alone = Buffer.byteLength(head) + 8 + spanBytes;
    if (alone > maxValueBytes) {
      out.push(spanReference(r, code, source, spanJson === undefined ? undefined : alone, maxValueBytes));
      continue;
    }
    if (curBytes && curBytes + spanBytes > maxValueBytes) flush();
    if (!curBytes) curBytes = Buffer.byteLength(head) + 8;
    const last = cur[cur.length - 1];
    if (last && last.scope === r.scope) last.spans.push(spanJson!);
    else cur.push({ scope: r.scope, scopeJson: scopeJson!, spans: [spanJson!] });
    curReasons.push(r.reason);
    curBytes += spanBytes;
  }
  flush();
  return out;
}

/** A dead letter standing for one span too large (or too deep) to be written: where it came from, its ids, the sizes. */
function spanReference(r: SpanRejection, code: string, source: string, bytes: number | undefined, maxValueBytes: number): DlqRecord {
  const id = (v: unknown) => {
    try {
      return hex(v as Uint8Array | string)?.slice(0, 64);
    } catch {
      return undefined;
    }
  };
  const value = referenceValue({ source, traceId: id(r.span?.traceId), spanId: id(r.span?.spanId), bytes, limitBytes: maxValueBytes });
  const why =
    bytes === undefined ? 'could not be written as JSON' : `is ${bytes} bytes, over MPLP_INGEST_MAX_DLQ_VALUE_BYTES (${maxValueBytes})`;
  return {
    value,
    code,
    reason: capReason(`${r.reason} (the span ${why}; the value is a reference to it)`),
    source,
    truncated: true,
    spans: 1,
  };
}

/** The value of a reference dead letter: `{"mplpReference":{...}}`, JSON. */
export function referenceValue(ref: Record<string, unknown>): Buffer {
  return Buffer.from(JSON.stringify({ mplpReference: ref }));
}
