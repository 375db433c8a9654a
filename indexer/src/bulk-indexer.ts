import type { Client } from '@elastic/elasticsearch';
import { backoffDelay, classifyElasticsearchError, delay, dispositionForStatus, Logger, MplpError } from '../../shared/src';
import type { IndexDoc } from './documents';
import type { IndexerMetrics } from './metrics';

export interface BulkSettings { bulkMaxDocs: number; bulkMaxBytes: number; retryBaseMs: number; retryMaxMs: number }

/** A document Elasticsearch will never take (mapping or parse error): it goes to the DLQ. */
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

/** Splits documents into bulks no larger than maxDocs and maxBytes (a single larger document goes alone). */
export function planBulks(docs: IndexDoc[], maxDocs: number, maxBytes: number): IndexDoc[][] {
  const bulks: IndexDoc[][] = [];
  let cur: IndexDoc[] = [];
  let bytes = 0;
  for (const d of docs) {
    const size = actionLine(d).length + Buffer.byteLength(d.source) + 2;
    if (cur.length && (cur.length >= maxDocs || bytes + size > maxBytes)) { bulks.push(cur); cur = []; bytes = 0; }
    cur.push(d);
    bytes += size;
  }
  if (cur.length) bulks.push(cur);
  return bulks;
}

function actionLine(d: IndexDoc): string {
  return JSON.stringify({ index: { _index: d.index, _id: d.id } });
}

/**
 * Writes documents until every one is durable (acknowledged by Elasticsearch) or poison.
 * Failed items and failed requests are retried with exponential backoff and full jitter until
 * the signal aborts (shutdown): the caller must then not commit.
 */
export class BulkIndexer {
  constructor(private readonly es: Client, private readonly settings: BulkSettings, private readonly metrics: IndexerMetrics, private readonly logger: Logger) {}

  async write(docs: IndexDoc[], signal: AbortSignal): Promise<PoisonDoc[]> {
    const poison: PoisonDoc[] = [];
    for (const bulk of planBulks(docs, this.settings.bulkMaxDocs, this.settings.bulkMaxBytes)) {
      let pending = bulk;
      for (let attempt = 1; pending.length > 0; attempt++) {
        if (attempt > 1) {
          await delay(backoffDelay(attempt - 1, this.settings.retryBaseMs, this.settings.retryMaxMs), signal);
        }
        pending = await this.send(pending, poison, attempt);
      }
    }
    return poison;
  }

  /** One bulk request; returns the documents still to retry. */
  private async send(docs: IndexDoc[], poison: PoisonDoc[], attempt: number): Promise<IndexDoc[]> {
    const operations: string[] = [];
    let bytes = 0;
    for (const d of docs) {
      const a = actionLine(d);
      operations.push(a, d.source);
      bytes += a.length + d.source.length + 2;
    }
    const started = performance.now();
    let items: Array<Record<string, { status: number; error?: { type?: string; reason?: string; caused_by?: { reason?: string } } }>>;
    try {
      const res = await this.es.bulk({ operations: operations as never, refresh: false });
      items = res.items as never;
    } catch (raw) {
      const err: MplpError = classifyElasticsearchError(raw, 'bulk');
      this.metrics.retries.inc({ cause: err.code });
      if (attempt === 1 || attempt % 10 === 0) this.logger.warn({ err, attempt, docs: docs.length }, 'bulk request failed, retrying');
      if (!err.retryable && (err.details?.status === 413)) {
        // Too large even alone: nothing will ever take it.
        if (docs.length === 1) { poison.push({ doc: docs[0], status: 413, type: 'request_too_large', reason: err.message }); return []; }
      }
      return docs;
    } finally {
      this.metrics.bulkSeconds.observe((performance.now() - started) / 1000);
      this.metrics.bulkDocs.observe(docs.length);
      this.metrics.bulkBytes.observe(bytes);
    }
    const retry: IndexDoc[] = [];
    items.forEach((item, i) => {
      const r = item.index ?? Object.values(item)[0];
      const outcome = classifyItem(r.status);
      if (outcome === 'done') { this.metrics.indexed.inc(); return; }
      if (outcome === 'retry') { this.metrics.retries.inc({ cause: `item_${r.status}` }); retry.push(docs[i]); return; }
      poison.push({ doc: docs[i], status: r.status, type: r.error?.type ?? 'error', reason: `${r.error?.type ?? 'error'}: ${r.error?.reason ?? ''}${r.error?.caused_by?.reason ? ` (${r.error.caused_by.reason})` : ''}` });
    });
    return retry;
  }
}
