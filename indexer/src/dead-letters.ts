import type { Message, Producer } from 'kafkajs';
import {
  CancelledError,
  classifyKafkaError,
  DeadLetter,
  dlqMessage,
  dlqSends,
  DLQ_HEADER_CODE,
  DLQ_HEADER_ORIGINAL_BYTES,
  DLQ_HEADER_SOURCE,
  DLQ_HEADER_TRUNCATED,
  Logger,
  MplpError,
  retry,
} from '../../shared/src';

export interface DeadLetterSettings {
  maxDlqValueBytes: number;
  retryBaseMs: number;
  retryMaxMs: number;
}

/** Counters the sender keeps (label: reason code). */
export interface DeadLetterCounters {
  lost: { inc(labels: { code: string }, n?: number): void };
}

/**
 * Writes dead letters so that the send itself cannot stall a partition. Values are cut to
 * MPLP_INDEXER_MAX_DLQ_VALUE_BYTES (header mplp-truncated) and sends are split by bytes, so no
 * record or batch reaches the DLQ topic's max.message.bytes as long as that is above the cap.
 * Retryable failures (broker down, leader moving) are retried until they succeed or shutdown
 * aborts, like every write. A permanent refusal (a DLQ topic configured smaller than the cap,
 * a corrupt-record verdict) is answered by sending each letter of that send again as a
 * reference: no value, only headers (code, reason, source offset, ids, sizes). A letter whose
 * reference is refused too (no write permission, a topic smaller than its headers) is logged
 * with its source and counted in mplp_indexer_dlq_lost_total, and counts as settled: one
 * letter that can never be written must not freeze every commit of its partition for good.
 */
export class DeadLetterSender {
  constructor(
    private readonly producer: () => Producer,
    private readonly topic: string,
    private readonly settings: DeadLetterSettings,
    private readonly counters: DeadLetterCounters,
    private readonly logger: Logger,
    private readonly signal: AbortSignal,
  ) {}

  /** Resolves once every letter is written (whole, cut or as a reference) or counted lost; rejects only with CancelledError (shutdown). */
  async send(letters: DeadLetter[]): Promise<void> {
    const cap = this.settings.maxDlqValueBytes;
    const messages = letters.map((d) => dlqMessage(d, cap));
    // A send holds at most the cap's worth (or one letter), so a DLQ topic that takes one letter takes every send.
    for (const part of dlqSends(messages, cap)) {
      const refused = await this.trySend(part);
      if (!refused) continue;
      this.logger.warn(
        { err: refused, letters: part.length, firstSource: header(part[0], DLQ_HEADER_SOURCE) },
        'DLQ refused dead letters; sending them as references without their values',
      );
      for (const m of part) {
        const again = await this.trySend([referenceOf(m)]);
        if (again) this.lose(m, again);
      }
    }
  }

  /** Sends, retrying what is retryable; returns the permanent error, if that is how it ended. */
  private async trySend(messages: Message[]): Promise<MplpError | undefined> {
    try {
      await retry(() => this.producer().send({ topic: this.topic, acks: -1, messages }), {
        attempts: Infinity,
        baseDelayMs: this.settings.retryBaseMs,
        maxDelayMs: this.settings.retryMaxMs,
        signal: this.signal,
        classify: (e) => classifyKafkaError(e, 'produce to DLQ'),
      });
      return undefined;
    } catch (err) {
      // Shutdown is not a refusal: the letters stay unsent and their records uncommitted.
      if (err instanceof CancelledError || !(err instanceof MplpError) || err.retryable) throw err;
      return err;
    }
  }

  private lose(m: Message, err: MplpError): void {
    const code = header(m, DLQ_HEADER_CODE) ?? 'unknown';
    this.counters.lost.inc({ code });
    this.logger.error(
      { err, source: header(m, DLQ_HEADER_SOURCE), code, headers: m.headers },
      'DLQ refused a dead letter even as a reference; it is lost (its source offset is in this line) and its record is committed',
    );
  }
}

function header(m: Message, name: string): string | undefined {
  const v = m.headers?.[name];
  return v === undefined ? undefined : String(v);
}

/** The message without its value: its headers, marked truncated, with the size of what was rejected. */
function referenceOf(m: Message): Message {
  const headers: Record<string, string> = {};
  for (const [k, v] of Object.entries(m.headers ?? {})) headers[k] = String(v);
  const size = m.value === null || m.value === undefined ? 0 : typeof m.value === 'string' ? Buffer.byteLength(m.value) : m.value.length;
  headers[DLQ_HEADER_ORIGINAL_BYTES] ??= String(size);
  headers[DLQ_HEADER_TRUNCATED] = 'true';
  return { ...(m.key !== undefined ? { key: m.key } : {}), value: null, headers };
}
