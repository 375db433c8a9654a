import { HdrCounts } from './hdr-counts';

/**
 * Histogram helpers of the pane worker. Latencies are recorded in integer microseconds. Each
 * thread keeps one HdrCounts per precision and reuses it for every histogram it builds: a task
 * is synchronous, so the scratch is never shared, and no 17k-slot array is allocated per
 * histogram (there are tens per fetch).
 */
const scratch = new Map<number, HdrCounts>();

/** The thread's empty scratch histogram of `digits` precision, valid until the next call. */
export function scratchHistogram(digits: number): HdrCounts {
  let h = scratch.get(digits);
  if (!h) {
    h = new HdrCounts(digits);
    scratch.set(digits, h);
  }
  return h.reset();
}

/** Merges encoded histograms into the scratch histogram (see scratchHistogram). */
export function mergeEncoded(pieces: readonly string[], digits: number): HdrCounts {
  const h = scratchHistogram(digits);
  for (const p of pieces) h.addEncoded(p);
  return h;
}

/** Nanoseconds to the recorded unit (µs, rounded). */
export function nanosToMicros(ns: number): number {
  return Math.round(ns / 1000);
}
