/**
 * Produced → searchable latency: span ids sampled by the load generators, each with the time its
 * request was acknowledged by Kafka, looked up in Elasticsearch (`spanId` term, the trace
 * indices of the run's prefix) every POLL_MS until found. Latency = found − acknowledged, so it
 * includes the poll interval (≤ POLL_MS) and the index refresh interval, as a user polling the
 * search would see it.
 */
import type { Client } from '@elastic/elasticsearch';

const POLL_MS = 100;
const MAX_IDS_PER_QUERY = 500;

export interface Sample {
  spanId: string;
  ackedAt: number; // epoch ms
  latencyMs?: number; // set once found
  missing?: boolean; // not found within the give-up age
}

export class SearchableProbe {
  readonly samples: Sample[] = [];
  private readonly pending = new Map<string, Sample>();
  private timer?: NodeJS.Timeout;
  private polling = false;
  errors = 0;

  constructor(
    private readonly es: Client,
    private readonly traceIndices: string,
    private readonly giveUpMs: number,
  ) {}

  add(spanId: string, ackedAt: number): void {
    const s: Sample = { spanId, ackedAt };
    this.samples.push(s);
    this.pending.set(spanId, s);
  }

  get pendingCount(): number {
    return this.pending.size;
  }

  start(): void {
    this.timer = setInterval(() => void this.poll(), POLL_MS);
  }

  stop(): void {
    clearInterval(this.timer);
  }

  /** Samples acknowledged in [from, to): latencies of those found, and how many were given up on. */
  between(from: number, to: number): { found: number[]; missing: number; pending: number } {
    const found: number[] = [];
    let missing = 0;
    let pending = 0;
    for (const s of this.samples) {
      if (s.ackedAt < from || s.ackedAt >= to) continue;
      if (s.latencyMs !== undefined) found.push(s.latencyMs);
      else if (s.missing) missing++;
      else pending++;
    }
    return { found, missing, pending };
  }

  private async poll(): Promise<void> {
    if (this.polling || this.pending.size === 0) return;
    this.polling = true;
    try {
      const now = Date.now();
      for (const s of this.pending.values()) {
        if (now - s.ackedAt > this.giveUpMs) {
          s.missing = true;
          this.pending.delete(s.spanId);
        }
      }
      // The oldest first (a Map iterates in insertion order).
      const ids = [...this.pending.keys()].slice(0, MAX_IDS_PER_QUERY);
      if (!ids.length) return;
      const r = await this.es.search({
        index: this.traceIndices,
        size: ids.length,
        _source: ['spanId'],
        query: { terms: { spanId: ids } },
        ignore_unavailable: true,
        allow_no_indices: true,
      });
      const foundAt = Date.now();
      for (const h of r.hits.hits) {
        const s = this.pending.get((h._source as { spanId: string }).spanId);
        if (!s) continue;
        s.latencyMs = foundAt - s.ackedAt;
        this.pending.delete(s.spanId);
      }
    } catch {
      this.errors++; // a slow or refused search is retried at the next poll
    } finally {
      this.polling = false;
    }
  }
}
