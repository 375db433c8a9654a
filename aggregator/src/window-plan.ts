import { WINDOW_MS } from './config';
import type { Stats } from './partial';

/**
 * Which encoded histograms a window's histogram is merged from. Pure bookkeeping (no histogram
 * work), kept apart from the merge stage so its exactness rules can be unit-tested.
 */

/** One source partition's partial of one (series, pane). A replay replaces the object. */
export interface StoredPartial {
  pane: number;
  src: number;
  stats: Stats;
  /** Encoded histogram pieces, unmerged: the source stage sends them as recorded, so a close does no histogram work. */
  hists: string[];
  offset: bigint;
}

/** pane start → source partition → its current partial. */
export type PanePartials = Map<number, Map<number, StoredPartial>>;

/** A complete pane's histograms of every source merged into one, and the partials it was made of. */
export interface PaneCache {
  hist: string;
  of: StoredPartial[];
}

/**
 * An incremental merge of (a subset of) the partials of the window ending at `end`, built in
 * the background before the window closes. Valid only while every partial in `of` is still the
 * current one of its (pane, source): a replayed partial replaces the object and invalidates it.
 */
export interface PreMerge {
  end: number;
  hist: string;
  of: Set<StoredPartial>;
}

export function paneInWindow(pane: number, end: number): boolean {
  return pane >= end - WINDOW_MS && pane < end;
}

/** The partials of the window ending at `end`. */
export function windowPartials(panes: PanePartials, end: number): StoredPartial[] {
  const out: StoredPartial[] = [];
  for (const [pane, bySrc] of panes) if (paneInWindow(pane, end)) for (const p of bySrc.values()) out.push(p);
  return out;
}

/** The cached merge of a pane, if it was made of exactly the pane's current partials. */
export function cachedPane(cache: Map<number, PaneCache>, pane: number, bySrc: Map<number, StoredPartial>): string | undefined {
  const c = cache.get(pane);
  if (!c || c.of.length !== bySrc.size) return undefined;
  let i = 0;
  for (const p of bySrc.values()) if (c.of[i++] !== p) return undefined;
  return c.hist;
}

/** True when `pre` merges only partials of window `end` that are still current. */
export function preMergeValid(pre: PreMerge | undefined, panes: PanePartials, end: number): pre is PreMerge {
  if (!pre || pre.end !== end) return false;
  for (const p of pre.of) if (!paneInWindow(p.pane, end) || panes.get(p.pane)?.get(p.src) !== p) return false;
  return true;
}

/**
 * The encoded histograms whose merge is the histogram of window `end`: the pre-merge when valid
 * plus every window partial it does not cover; otherwise each pane's cache when valid, else its
 * partials' pieces. Either way every current partial of the window is counted exactly once.
 */
export function windowHists(panes: PanePartials, cache: Map<number, PaneCache>, end: number, pre?: PreMerge): string[] {
  const hists: string[] = [];
  const usePre = preMergeValid(pre, panes, end);
  if (usePre) hists.push(pre.hist);
  for (const [pane, bySrc] of panes) {
    if (!paneInWindow(pane, end)) continue;
    if (usePre) {
      for (const p of bySrc.values()) if (!pre.of.has(p)) hists.push(...p.hists);
      continue;
    }
    const c = cachedPane(cache, pane, bySrc);
    if (c !== undefined) {
      hists.push(c);
      continue;
    }
    for (const p of bySrc.values()) hists.push(...p.hists);
  }
  return hists;
}

/**
 * What the background pre-merge of window `end` should merge next: `pieces` to merge into the new
 * pre-merge covering `of`, or undefined when there is nothing worth doing. Extends a valid
 * pre-merge with the partials it lacks, otherwise rebuilds from the window's partials.
 */
export function preMergePlan(
  panes: PanePartials,
  cache: Map<number, PaneCache>,
  end: number,
  pre?: PreMerge,
): { pieces: string[]; of: Set<StoredPartial> } | undefined {
  const all = windowPartials(panes, end);
  if (preMergeValid(pre, panes, end)) {
    const fresh = all.filter((p) => !pre.of.has(p));
    if (!fresh.some((p) => p.hists.length)) {
      // Nothing new to merge (late-only partials at most): covering them costs nothing.
      if (fresh.length) for (const p of fresh) pre.of.add(p);
      return undefined;
    }
    return { pieces: [pre.hist, ...fresh.flatMap((p) => p.hists)], of: new Set([...pre.of, ...fresh]) };
  }
  const pieces = windowHists(panes, cache, end);
  return pieces.length ? { pieces, of: new Set(all) } : undefined;
}
