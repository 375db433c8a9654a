import { createHash, timingSafeEqual } from 'node:crypto';
import { ByteBudget, ExportTraceServiceResponseType, MplpError } from '../../shared/src';
import type { ReceiverMetrics } from './metrics';
import { CONTENT_TYPES, decodeExport, PayloadEncoding, splitExport } from './otlp-payload';
import type { SpanPublisher } from './span-publisher';

/** Too many request bytes held already: the client should retry later (429 / UNAVAILABLE). */
export class ReceiverBusyError extends MplpError {
  constructor(limit: number, retryAfterMs: number) {
    super('busy', `more than ${limit} request bytes in flight (MPLP_RECEIVER_MAX_IN_FLIGHT_BYTES); retry later`, {
      disposition: 'throttled',
      retryAfterMs,
    });
  }
}

/** What an accepted export answers: an ExportTraceServiceResponse, with partial success when spans were dropped. */
export interface ExportAnswer {
  rejectedSpans: number;
  errorMessage?: string;
}

/** The in-flight bound shared by both transports: bytes are taken before they are held, or refused. */
export class InFlightBytes {
  constructor(
    readonly budget: ByteBudget,
    private readonly retryAfterMs: number,
  ) {}

  /** Takes `bytes` or throws ReceiverBusyError; a request alone larger than the bound still passes when nothing else is held. */
  take(bytes: number): void {
    if (this.budget.used > 0 && this.budget.used + bytes > this.budget.limit)
      throw new ReceiverBusyError(this.budget.limit, this.retryAfterMs);
    this.budget.take(bytes);
  }

  give(bytes: number): void {
    this.budget.give(bytes);
  }
}

/** How an export becomes records: one per destination partition, or one per trace (MPLP_RECEIVER_RECORDS). */
export type RecordLayout = 'partition' | 'trace';

/** Splits an export per partition (or per trace) and produces it; resolves once Kafka acknowledged every record. */
export class ExportHandler {
  constructor(
    private readonly publisher: SpanPublisher,
    private readonly metrics: ReceiverMetrics,
    private readonly layout: RecordLayout = 'partition',
  ) {}

  async export(body: Buffer, encoding: PayloadEncoding): Promise<ExportAnswer> {
    this.metrics.bytesIn.inc(body.length);
    // Decoded first: a bad payload is the client's (400) whether or not Kafka is there.
    const request = decodeExport(body, encoding);
    const partitions = this.layout === 'partition' ? await this.publisher.partitions() : undefined;
    const split = splitExport(request, body, encoding, partitions);
    await this.publisher.publish(split.records);
    this.metrics.records.inc(split.records.length);
    this.metrics.spansAccepted.inc(split.spans);
    if (split.rejectedSpans > 0) this.metrics.spansRejected.inc(split.rejectedSpans);
    return { rejectedSpans: split.rejectedSpans, errorMessage: split.rejectReason };
  }
}

/** The ExportTraceServiceResponse body in the request's encoding (OTLP/JSON answers JSON). */
export function encodeAnswer(answer: ExportAnswer, encoding: PayloadEncoding): { body: Buffer; contentType: string } {
  const partialSuccess =
    answer.rejectedSpans > 0 ? { rejectedSpans: answer.rejectedSpans, errorMessage: answer.errorMessage ?? '' } : undefined;
  const body =
    encoding === 'json'
      ? Buffer.from(
          JSON.stringify(
            partialSuccess
              ? { partialSuccess: { rejectedSpans: String(partialSuccess.rejectedSpans), errorMessage: partialSuccess.errorMessage } }
              : {},
          ),
        )
      : Buffer.from(ExportTraceServiceResponseType.encode(partialSuccess ? { partialSuccess } : {}).finish());
  return { body, contentType: CONTENT_TYPES[encoding] };
}

const digest = (s: string) => createHash('sha256').update(s).digest();

/** Checks `Authorization: Bearer <token>` in constant time (both sides hashed to one length first); no token configured = open. */
export function bearerAuthorizer(token: string): (header: string | undefined) => boolean {
  if (!token) return () => true;
  const expected = digest(token);
  return (header) => {
    const m = /^Bearer[ ]+(\S+)\s*$/i.exec(header ?? '');
    return timingSafeEqual(digest(m ? m[1] : ''), expected) && m !== null;
  };
}
