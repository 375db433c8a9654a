import type { MplpError } from '../../shared/src';
import type { OutputRecord } from './batch-encoder';
import { DlqRecord, referenceValue } from './message-processor';

/**
 * What goes to the DLQ in place of a record Kafka refused for good (too large for the topic, an
 * invalid record): a small reference, so the input that made it can still be committed and the
 * loss is accounted for with a code, instead of the chunk waiting forever.
 */
function refusalCode(err: MplpError): string {
  return /too large|MESSAGE_TOO_LARGE|RECORD_LIST_TOO_LARGE|MSG_SIZE_TOO_LARGE/i.test(err.message) ? 'too_large' : 'produce_rejected';
}

/** A validated record (one trace's batch) the validated topic refused. */
export function outputRecordReference(r: OutputRecord, err: MplpError): DlqRecord {
  const source = r.sources[0] ?? '';
  return {
    value: referenceValue({ sources: r.sources, traceId: r.key, spans: r.spans, bytes: r.value.length, error: err.message.slice(0, 500) }),
    code: refusalCode(err), source, truncated: true, spans: r.spans,
    reason: `the validated record of trace ${r.key} (${r.spans} spans, ${r.value.length} bytes) was refused by Kafka: ${err.message.slice(0, 500)}; the value is a reference to it`,
  };
}

/** A dead letter the DLQ topic refused: the same code, a reference instead of the value. */
export function deadLetterReference(d: DlqRecord, err: MplpError): DlqRecord {
  return {
    value: referenceValue({ source: d.source, code: d.code, spans: d.spans, bytes: d.value.length, error: err.message.slice(0, 500) }),
    code: d.code, source: d.source, truncated: true, spans: d.spans,
    reason: `${d.reason.slice(0, 1000)} (the dead letter of ${d.value.length} bytes was refused by Kafka: ${err.message.slice(0, 500)}; the value is a reference to it)`,
  };
}
