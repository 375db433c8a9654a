import { OVERFLOW_OPERATION, SeriesId, seriesKey } from './partial';

/**
 * The live-series cap of one process. A series seen within `expiryMs` is live; a new series
 * arriving while `max` are live folds into `<service>|__overflow__|INTERNAL` (overflow series are
 * live too, so the set is bounded by max + services). Series not seen for `expiryMs` expire and
 * free their place. Pure: the caller passes the clock.
 */
export class SeriesCap {
  private readonly live = new Map<string, number>();

  constructor(private readonly max: number, private readonly expiryMs: number) {}

  /** The series to count a group under, and whether it was folded into its service's overflow. */
  admit(key: string, series: SeriesId, now: number): { key: string; series: SeriesId; overflow: boolean } {
    let overflow = false;
    if (!this.live.has(key) && this.live.size >= this.max) {
      series = { service: series.service, operation: OVERFLOW_OPERATION, kind: 'INTERNAL' };
      key = seriesKey(series);
      overflow = true;
    }
    this.live.set(key, now);
    return { key, series, overflow };
  }

  /** Forgets series with no spans for expiryMs; returns how many. */
  expire(now: number): number {
    let n = 0;
    for (const [key, at] of this.live) if (now - at > this.expiryMs) { this.live.delete(key); n++; }
    return n;
  }

  get size(): number { return this.live.size; }
}
