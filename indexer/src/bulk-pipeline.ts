import { ByteBudget, CancelledError, Logger } from '../../shared/src';
import type { PoisonDoc } from './bulk-indexer';
import { bulkBytesOf, IndexDoc } from './documents';

export interface PipelineSettings {
  bulkMaxDocs: number;
  bulkMaxBytes: number;
  bulkConcurrency: number;
  flushIntervalMs: number;
  maxPendingBytes: number;
}

/** Writes one bulk until every document is durable or poison (BulkIndexer.writeBulk). */
export interface BulkWriter {
  writeBulk(docs: IndexDoc[], signal: AbortSignal): Promise<{ durable: IndexDoc[]; poison: PoisonDoc[] }>;
}

/** Called once per bulk when every document in it is durable or poison. */
export type BulkSettled = (durable: IndexDoc[], poison: PoisonDoc[]) => Promise<void> | void;

/** Gauges the pipeline keeps up to date (optional). */
export interface PipelineGauges {
  inFlight?: { set(v: number): void };
  pendingBytes?: { set(v: number): void };
}

interface Bulk {
  docs: IndexDoc[];
  bytes: number;
}

/**
 * BulkPipeline: documents from every partition go into one stream of bulks, so decoding and
 * fetching go on while bulks are in flight and bulks are full-sized whatever the partition
 * batches are. A bulk is cut at bulkMaxDocs documents or before it would pass bulkMaxBytes
 * (never over; a single larger document is poison). At most bulkConcurrency bulks are in flight.
 * A partial bulk is sent at once when nothing is in flight (low latency at low rates), and
 * otherwise as soon as a slot frees once it is flushIntervalMs old (time-based flush). Documents
 * added and not yet settled are counted in bytes; waitForRoom() holds the caller (the Kafka
 * handler, so no more fetching) while they exceed maxPendingBytes, which bounds memory while
 * Elasticsearch is slow or down.
 */
export class BulkPipeline {
  private current: IndexDoc[] = [];
  private currentBytes = 0;
  private currentSince = 0;
  private readonly sealed: Bulk[] = [];
  private inFlight = 0;
  /** Bytes of documents added and not yet settled, against maxPendingBytes. */
  readonly budget: ByteBudget;
  private draining = false;
  private timer?: NodeJS.Timeout;
  private idleWaiters: Array<() => void> = [];

  constructor(
    private readonly writer: BulkWriter,
    private readonly settings: PipelineSettings,
    private readonly onSettled: BulkSettled,
    private readonly signal: AbortSignal,
    private readonly logger: Logger,
    private readonly gauges: PipelineGauges = {},
  ) {
    this.budget = new ByteBudget(settings.maxPendingBytes, (used) => gauges.pendingBytes?.set(used));
    signal.addEventListener(
      'abort',
      () => {
        this.budget.close();
        if (this.inFlight === 0) this.wake();
      },
      { once: true },
    );
  }

  /** Bytes of documents added and not yet settled. */
  get pendingBytes(): number {
    return this.budget.used;
  }
  /** Bulks in flight now. */
  get bulksInFlight(): number {
    return this.inFlight;
  }

  /** Queues documents; bulks start as slots allow. */
  add(docs: readonly IndexDoc[]): void {
    const { bulkMaxDocs, bulkMaxBytes } = this.settings;
    let tooLarge: PoisonDoc[] | undefined;
    for (const d of docs) {
      const size = bulkBytesOf(d);
      if (size > bulkMaxBytes) {
        (tooLarge ??= []).push({
          doc: d,
          status: 413,
          type: 'too_large',
          reason: `document of ${size} bytes exceeds MPLP_INDEXER_BULK_MAX_BYTES (${bulkMaxBytes})`,
        });
        continue;
      }
      if (this.current.length > 0 && (this.current.length >= bulkMaxDocs || this.currentBytes + size > bulkMaxBytes)) this.seal();
      if (this.current.length === 0) this.currentSince = performance.now();
      this.current.push(d);
      this.currentBytes += size;
      this.budget.take(size);
      if (this.current.length >= bulkMaxDocs) this.seal(); // full: no need to wait for the next document
    }
    if (tooLarge) this.settleNow(tooLarge);
    if (this.current.length > 0 && !this.timer) {
      this.timer = setTimeout(() => {
        this.timer = undefined;
        this.pump();
      }, this.settings.flushIntervalMs);
    }
    this.pump();
  }

  /** Resolves when pending bytes are under the bound (or on shutdown). */
  async waitForRoom(): Promise<void> {
    await this.budget.waitForRoom();
  }

  /** Sends everything queued, partial bulk included, and resolves when nothing is left in flight. */
  drain(): Promise<void> {
    this.draining = true;
    this.pump();
    if (this.isIdle() || (this.signal.aborted && this.inFlight === 0)) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  private isIdle(): boolean {
    return this.inFlight === 0 && this.sealed.length === 0 && this.current.length === 0;
  }

  private seal(): void {
    this.sealed.push({ docs: this.current, bytes: this.currentBytes });
    this.current = [];
    this.currentBytes = 0;
  }

  private pump(): void {
    while (this.inFlight < this.settings.bulkConcurrency && !this.signal.aborted) {
      if (this.sealed.length === 0) {
        if (this.current.length === 0) break;
        const due = this.draining || this.inFlight === 0 || performance.now() - this.currentSince >= this.settings.flushIntervalMs;
        if (!due) break;
        this.seal();
      }
      this.start(this.sealed.shift()!);
    }
    if (this.current.length > 0 && !this.timer) {
      // The partial bulk was not due yet: look again when it is.
      const wait = Math.max(1, this.settings.flushIntervalMs - (performance.now() - this.currentSince));
      this.timer = setTimeout(() => {
        this.timer = undefined;
        this.pump();
      }, wait);
    }
    this.gauges.inFlight?.set(this.inFlight);
  }

  private start(bulk: Bulk): void {
    this.inFlight++;
    void (async () => {
      try {
        const { durable, poison } = await this.writer.writeBulk(bulk.docs, this.signal);
        await this.onSettled(durable, poison);
      } catch (err) {
        // Cancelled by shutdown, or the settle callback failed: the documents stay unsettled, so
        // their records are never committed and are read again.
        if (!(err instanceof CancelledError))
          this.logger.error({ err, docs: bulk.docs.length }, 'bulk could not be settled; its records stay uncommitted');
      } finally {
        this.inFlight--;
        this.budget.give(bulk.bytes);
        this.pump();
        if (this.isIdle() || (this.signal.aborted && this.inFlight === 0)) this.wake();
      }
    })();
  }

  /** Documents settled without a bulk (too large for any): straight to the settle callback. */
  private settleNow(poison: PoisonDoc[]): void {
    void (async () => {
      try {
        await this.onSettled([], poison);
      } catch (err) {
        if (!(err instanceof CancelledError))
          this.logger.error({ err, docs: poison.length }, 'oversized documents could not be dead-lettered; their records stay uncommitted');
      }
    })();
  }

  private wake(): void {
    const waiters = this.idleWaiters;
    this.idleWaiters = [];
    for (const w of waiters) w();
  }

  /** Stops the flush timer (after drain or abort). */
  close(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    this.budget.close();
    this.wake();
  }
}
