import type { MplpError } from '../../shared/src';
import type { OutputRecord } from './batch-encoder';
import { DlqRecord, referenceValue } from './message-processor';

/**
 * What goes to the DLQ in place of a record Kafka refused for good (too large for the topic, an
 * invalid record): a small reference, so the input that made it can still be committed and the
 * loss is accounted for with a code, instead of the chunk waiting forever.
 */
function refusalCode(err: MplpError): string {
  // librdkafka says "Message size too large"; kafkajs gives the broker's error type, and a message without those words.
  for (let e: unknown = err; e; e = (e as { cause?: unknown }).cause) {
    const { type, message } = e as { type?: string; message?: string };
    if (type === 'MESSAGE_TOO_LARGE' || type === 'RECORD_LIST_TOO_LARGE' || /too large|larger than the max/i.test(message ?? ''))
      return 'too_large';
  }
  return 'produce_rejected';
}

/** A validated record (one trace's batch) the validated topic refused. */
export function outputRecordReference(r: OutputRecord, err: MplpError): DlqRecord {
  const source = r.sources[0] ?? '';
  return {
    value: referenceValue({ sources: r.sources, traceId: r.key, spans: r.spans, bytes: r.value.length, error: err.message.slice(0, 500) }),
    code: refusalCode(err),
    source,
    truncated: true,
    spans: r.spans,
    reason: `the validated record of trace ${r.key} (${r.spans} spans, ${r.value.length} bytes) was refused by Kafka: ${err.message.slice(0, 500)}; the value is a reference to it`,
  };
}

/** A dead letter the DLQ topic refused: the same code, a reference instead of the value. */
export function deadLetterReference(d: DlqRecord, err: MplpError): DlqRecord {
  return {
    value: referenceValue({ source: d.source, code: d.code, spans: d.spans, bytes: d.value.length, error: err.message.slice(0, 500) }),
    code: d.code,
    source: d.source,
    truncated: true,
    spans: d.spans,
    reason: `${d.reason.slice(0, 1000)} (the dead letter of ${d.value.length} bytes was refused by Kafka: ${err.message.slice(0, 500)}; the value is a reference to it)`,
  };
}
