import type { Client } from '@elastic/elasticsearch';
import { classifyElasticsearchError, dispositionForStatus, Logger, MplpError, retry } from '../../shared/src';
import { actionLine, bulkBytesOf, IndexDoc } from './documents';
import type { IndexerMetrics } from './metrics';

export { bulkBytesOf } from './documents';

export interface BulkRetrySettings {
  retryBaseMs: number;
  retryMaxMs: number;
}

/** A document Elasticsearch will never take (mapping or parse error, or larger than a bulk may be): it goes to the DLQ. */
export interface PoisonDoc {
  doc: IndexDoc;
  status: number;
  type: string;
  reason: string;
}

export type ItemOutcome = 'done' | 'retry' | 'poison';

/**
 * Jaeger's sync_bulk rule: a 200 for the bulk says nothing about each item. Created/updated and
 * version conflicts (409: someone already wrote this id) are done; 429, 5xx and 408 are retried;
 * anything else (mapper_parsing_exception, document_parsing_exception, illegal_argument…) is poison,
 * except a write block (403 cluster_block_exception), which is retried.
 */
export function classifyItem(status: number, errorType?: string): ItemOutcome {
  if (status >= 200 && status < 300) return 'done';
  if (status === 409) return 'done';
  // A write block (the archiver exporting the index, or disk flood stage) is lifted or the index
  // deleted soon; then the retry writes (a late write to an archived day becomes a new generation).
  if (errorType === 'cluster_block_exception') return 'retry';
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
/** One bulk's progress across attempts: documents still to write, and those settled. */
interface BulkState {
  pending: IndexDoc[];
  durable: IndexDoc[];
  poison: PoisonDoc[];
}

export class BulkIndexer {
  constructor(
    private readonly es: Client,
    private readonly settings: BulkRetrySettings,
    private readonly metrics: IndexerMetrics,
    private readonly logger: Logger,
  ) {}

  async writeBulk(bulk: IndexDoc[], signal: AbortSignal): Promise<{ durable: IndexDoc[]; poison: PoisonDoc[] }> {
    const state: BulkState = { pending: bulk, durable: [], poison: [] };
    await retry(() => this.attempt(state, signal), {
      attempts: Infinity,
      baseDelayMs: this.settings.retryBaseMs,
      maxDelayMs: this.settings.retryMaxMs,
      signal,
      // Whole-request failures that look permanent (401, 403, 400) are retried too: dropping the
      // documents would lose data, and the operator can fix credentials or the cluster meanwhile.
      classify: (e) => {
        const err = e instanceof MplpError ? e : classifyElasticsearchError(e, 'bulk');
        return err.retryable ? err : new MplpError(err.code, err.message, { disposition: 'retryable', cause: e, details: err.details });
      },
      onRetry: (err, attempt, waitMs) => {
        this.metrics.retries.inc({ cause: err.code });
        if (attempt === 1 || attempt % 10 === 0)
          this.logger.warn({ err, attempt, waitMs, docs: state.pending.length }, 'bulk failed, retrying');
      },
    });
    return { durable: state.durable, poison: state.poison };
  }

  /** Sends what is pending; leaves in `pending` what must be tried again and throws so the retry waits first. */
  private async attempt(state: BulkState, signal: AbortSignal): Promise<void> {
    let answer: { errors: boolean; items?: Array<Record<string, BulkItem>> };
    try {
      answer = await this.send(state.pending);
    } catch (raw) {
      const err = classifyElasticsearchError(raw, 'bulk');
      if (err.details?.status !== 413) throw err;
      await this.halve(state, err, signal);
      return;
    }
    if (!answer.errors) {
      // Every item succeeded: no need to look at each.
      state.durable.push(...state.pending);
      this.metrics.indexed.inc(state.pending.length);
      state.pending = [];
      return;
    }
    const items = answer.items ?? [];
    if (items.length !== state.pending.length)
      throw new MplpError('es_bulk_items', `bulk answered ${items.length} items for ${state.pending.length} documents`, {
        disposition: 'retryable',
      });
    const worst = this.sortItems(items, state);
    if (worst) throw worst;
  }

  /** Elasticsearch's http.max_content_length is below our byte cap (413): halve and go on. */
  private async halve(state: BulkState, err: MplpError, signal: AbortSignal): Promise<void> {
    const { pending } = state;
    state.pending = [];
    if (pending.length === 1) {
      state.poison.push({ doc: pending[0], status: 413, type: 'too_large', reason: err.message });
      return;
    }
    const half = Math.ceil(pending.length / 2);
    for (const part of [pending.slice(0, half), pending.slice(half)]) {
      const r = await this.writeBulk(part, signal);
      state.durable.push(...r.durable);
      state.poison.push(...r.poison);
    }
  }

  /** Files each item as durable, poison or to be tried again; returns the error to wait on when any must be retried. */
  private sortItems(items: Array<Record<string, BulkItem>>, state: BulkState): MplpError | undefined {
    const again: IndexDoc[] = [];
    let done = 0;
    let worst: MplpError | undefined;
    items.forEach((item, i) => {
      const r = item.index ?? Object.values(item)[0];
      const doc = state.pending[i];
      switch (classifyItem(r.status, r.error?.type)) {
        case 'done':
          state.durable.push(doc);
          done++;
          break;
        case 'retry':
          again.push(doc);
          worst ??= new MplpError(`item_${r.status}`, `bulk item ${r.status}: ${r.error?.type ?? ''} ${r.error?.reason ?? ''}`.trim(), {
            disposition: r.status === 429 ? 'throttled' : 'retryable',
          });
          break;
        default:
          state.poison.push({
            doc,
            status: r.status,
            type: r.error?.type ?? 'error',
            reason: `${r.error?.type ?? 'error'}: ${r.error?.reason ?? ''}${r.error?.caused_by?.reason ? ` (${r.error.caused_by.reason})` : ''}`,
          });
      }
    });
    this.metrics.indexed.inc(done);
    state.pending = again;
    return worst;
  }

  /** One bulk request. */
  private async send(docs: IndexDoc[]): Promise<{ errors: boolean; items?: Array<Record<string, BulkItem>> }> {
    const body = bulkBody(docs);
    const started = performance.now();
    try {
      return (await this.es.bulk({ operations: body as never, refresh: false, filter_path: FILTER_PATH })) as never;
    } finally {
      this.metrics.bulkSeconds.observe((performance.now() - started) / 1000);
      this.metrics.bulkDocs.observe(docs.length);
      this.metrics.bulkBytes.observe(body.length);
    }
  }
}
