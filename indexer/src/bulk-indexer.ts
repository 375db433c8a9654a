import type { Client } from '@elastic/elasticsearch';
import { classifyElasticsearchError, dispositionForStatus, Logger, MplpError, retry } from '../../shared/src';
import { actionLine, bulkBytesOf, IndexDoc } from './documents';
import type { IndexerMetrics } from './metrics';

export { bulkBytesOf } from './documents';

export interface BulkRetrySettings { retryBaseMs: number; retryMaxMs: number }

/** A document Elasticsearch will never take (mapping or parse error, or larger than a bulk may be): it goes to the DLQ. */
export interface PoisonDoc { doc: IndexDoc; status: number; type: string; reason: string }

export type ItemOutcome = 'done' | 'retry' | 'poison';

/**
 * Jaeger's sync_bulk rule: a 200 for the bulk says nothing about each item. Created/updated and
 * version conflicts (409: someone already wrote this id) are done; 429, 5xx and 408 are retried;
 * anything else (mapper_parsing_exception, document_parsing_exception, illegal_argument…) is poison.
 */
export function classifyItem(status: number): ItemOutcome {
  if (status >= 200 && status < 300) return 'done';
  if (status === 409) return 'done';
  return dispositionForStatus(status) === 'permanent' ? 'poison' : 'retry';
}

/**
 * The NDJSON body of a bulk, one action line and one source line per document, written into one
 * buffer of the exact size: sources that are bytes from Kafka are copied, never decoded.
 */
export function bulkBody(docs: readonly IndexDoc[]): Buffer {
  let size = 0;
  for (const d of docs) size += bulkBytesOf(d);
  const body = Buffer.allocUnsafe(size);
  let pos = 0;
  for (const d of docs) {
    pos += body.write(actionLine(d), pos);
    pos += typeof d.source === 'string' ? body.write(d.source, pos) : d.source.copy(body, pos);
    body[pos++] = 0x0a;
  }
  return body;
}

type BulkItem = { status: number; error?: { type?: string; reason?: string; caused_by?: { reason?: string } } };

// Only what classifying the items needs: Elasticsearch serializes less and we parse less than
// the default answer (index, id, version, shards, seq_no per item).
const FILTER_PATH = 'errors,items.*.status,items.*.error';

/**
 * Writes one bulk until every document is durable (acknowledged by Elasticsearch) or poison.
 * Failed requests and failed items are retried with the shared retry helper (exponential backoff,
 * full jitter, 429 honoured) until they succeed or the signal aborts (shutdown): the promise then
 * rejects with CancelledError and the caller must not commit what is unsettled.
 */
export class BulkIndexer {
  constructor(private readonly es: Client, private readonly settings: BulkRetrySettings, private readonly metrics: IndexerMetrics, private readonly logger: Logger) {}

  async writeBulk(bulk: IndexDoc[], signal: AbortSignal): Promise<{ durable: IndexDoc[]; poison: PoisonDoc[] }> {
    const durable: IndexDoc[] = [];
    const poison: PoisonDoc[] = [];
    let pending = bulk;
    await retry(async () => {
      let answer: { errors: boolean; items?: Array<Record<string, BulkItem>> };
      try {
        answer = await this.send(pending);
      } catch (raw) {
        const err = classifyElasticsearchError(raw, 'bulk');
        if (err.details?.status === 413) {
          // Elasticsearch's http.max_content_length is below our byte cap: halve and go on.
          if (pending.length === 1) { poison.push({ doc: pending[0], status: 413, type: 'too_large', reason: err.message }); pending = []; return; }
          const half = Math.ceil(pending.length / 2);
          for (const part of [pending.slice(0, half), pending.slice(half)]) {
            const r = await this.writeBulk(part, signal);
            durable.push(...r.durable); poison.push(...r.poison);
          }
          pending = [];
          return;
        }
        throw err;
      }
      if (!answer.errors) {
        // Every item succeeded: no need to look at each.
        for (const d of pending) durable.push(d);
        this.metrics.indexed.inc(pending.length);
        pending = [];
        return;
      }
      const items = answer.items ?? [];
      if (items.length !== pending.length) throw new MplpError('es_bulk_items', `bulk answered ${items.length} items for ${pending.length} documents`, { disposition: 'retryable' });
      const again: IndexDoc[] = [];
      let done = 0;
      let worst: MplpError | undefined;
      items.forEach((item, i) => {
        const r = item.index ?? Object.values(item)[0];
        const doc = pending[i];
        switch (classifyItem(r.status)) {
          case 'done': durable.push(doc); done++; break;
          case 'retry':
            again.push(doc);
            worst ??= new MplpError(`item_${r.status}`, `bulk item ${r.status}: ${r.error?.type ?? ''} ${r.error?.reason ?? ''}`.trim(),
              { disposition: r.status === 429 ? 'throttled' : 'retryable' });
            break;
          default:
            poison.push({ doc, status: r.status, type: r.error?.type ?? 'error', reason: `${r.error?.type ?? 'error'}: ${r.error?.reason ?? ''}${r.error?.caused_by?.reason ? ` (${r.error.caused_by.reason})` : ''}` });
        }
      });
      this.metrics.indexed.inc(done);
      pending = again;
      if (worst) throw worst;
    }, {
      attempts: Infinity, baseDelayMs: this.settings.retryBaseMs, maxDelayMs: this.settings.retryMaxMs, signal,
      // Whole-request failures that look permanent (401, 403, 400) are retried too: dropping the
      // documents would lose data, and the operator can fix credentials or the cluster meanwhile.
      classify: (e) => {
        const err = e instanceof MplpError ? e : classifyElasticsearchError(e, 'bulk');
        return err.retryable ? err : new MplpError(err.code, err.message, { disposition: 'retryable', cause: e, details: err.details });
      },
      onRetry: (err, attempt, waitMs) => {
        this.metrics.retries.inc({ cause: err.code });
        if (attempt === 1 || attempt % 10 === 0) this.logger.warn({ err, attempt, waitMs, docs: pending.length }, 'bulk failed, retrying');
      },
    });
    return { durable, poison };
  }

  /** One bulk request. */
  private async send(docs: IndexDoc[]): Promise<{ errors: boolean; items?: Array<Record<string, BulkItem>> }> {
    const body = bulkBody(docs);
    const started = performance.now();
    try {
      return await this.es.bulk({ operations: body as never, refresh: false, filter_path: FILTER_PATH }) as never;
    } finally {
      this.metrics.bulkSeconds.observe((performance.now() - started) / 1000);
      this.metrics.bulkDocs.observe(docs.length);
      this.metrics.bulkBytes.observe(body.length);
    }
  }
}
