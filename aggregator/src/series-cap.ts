import { OVERFLOW_OPERATION, SeriesId, seriesKey } from './partial';

/** The one series every span lands in once both caps are full, whatever its service. */
export const GLOBAL_OVERFLOW: SeriesId = { service: OVERFLOW_OPERATION, operation: OVERFLOW_OPERATION, kind: 'INTERNAL' };
export const GLOBAL_OVERFLOW_KEY = seriesKey(GLOBAL_OVERFLOW);

/** Where a group was counted: its own series, its service's overflow series, or the global one. */
export type Overflow = false | 'service' | 'global';

/**
 * The live-series cap of one process. A series seen within `expiryMs` is live. A new series
 * arriving while `max` own series are live folds into `<service>|__overflow__|INTERNAL`; a new
 * service overflow series arriving while `maxOverflow` of them are live folds into the one
 * global `__overflow__|__overflow__|INTERNAL` (so 100k services cannot make 100k series: the
 * set is bounded by max + maxOverflow + 1). Series not seen for `expiryMs` expire and free their
 * place. Pure: the caller passes the clock.
 */
export class SeriesCap {
  /** Last seen (clock) and kind of every live series. */
  private readonly live = new Map<string, { at: number; kind: Overflow }>();
  private own = 0;
  private overflowSeries = 0;

  constructor(
    private readonly max: number,
    private readonly expiryMs: number,
    private readonly maxOverflow = Number.POSITIVE_INFINITY,
  ) {}

  /** The series to count a group under, and whether (and where) it overflowed. */
  admit(key: string, series: SeriesId, now: number): { key: string; series: SeriesId; overflow: Overflow } {
    const seen = this.live.get(key);
    if (seen && seen.kind === false) {
      seen.at = now;
      return { key, series, overflow: false };
    }
    if (!seen && this.own < this.max) {
      this.track(key, false, now);
      return { key, series, overflow: false };
    }
    const svc: SeriesId = { service: series.service, operation: OVERFLOW_OPERATION, kind: 'INTERNAL' };
    const svcKey = seriesKey(svc);
    const svcSeen = this.live.get(svcKey);
    if (svcSeen) {
      svcSeen.at = now;
      return { key: svcKey, series: svc, overflow: svcSeen.kind || 'service' };
    }
    if (this.overflowSeries < this.maxOverflow) {
      this.track(svcKey, 'service', now);
      return { key: svcKey, series: svc, overflow: 'service' };
    }
    this.track(GLOBAL_OVERFLOW_KEY, 'global', now);
    return { key: GLOBAL_OVERFLOW_KEY, series: GLOBAL_OVERFLOW, overflow: 'global' };
  }

  private track(key: string, kind: Overflow, now: number): void {
    const prev = this.live.get(key);
    if (prev) {
      prev.at = now;
      return;
    }
    this.live.set(key, { at: now, kind });
    if (kind === false) this.own++;
    else if (kind === 'service') this.overflowSeries++;
  }

  /** Forgets series with no spans for expiryMs; returns how many. */
  expire(now: number): number {
    let n = 0;
    for (const [key, s] of this.live) {
      if (now - s.at <= this.expiryMs) continue;
      this.live.delete(key);
      if (s.kind === false) this.own--;
      else if (s.kind === 'service') this.overflowSeries--;
      n++;
    }
    return n;
  }

  get size(): number {
    return this.live.size;
  }
  /** Live per-service overflow series. */
  get overflowSize(): number {
    return this.overflowSeries;
  }
}
