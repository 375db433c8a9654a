import { HdrCounts } from '../src/hdr-counts';
import { mergeEncoded } from '../src/histograms';
import { emptyStats } from '../src/partial';
import { PaneCache, PanePartials, PreMerge, preMergePlan, StoredPartial, windowHists } from '../src/window-plan';

const END = 120_000;

/** An encoded histogram holding `n` values of `us` microseconds. */
function piece(us: number, n: number): string {
  const h = new HdrCounts(3);
  h.record(us, n);
  return h.encode();
}

function partial(pane: number, src: number, hists: string[]): StoredPartial {
  return { pane, src, stats: emptyStats(), hists, offset: 0n };
}

function put(panes: PanePartials, p: StoredPartial): void {
  let bySrc = panes.get(p.pane);
  if (!bySrc) {
    bySrc = new Map();
    panes.set(p.pane, bySrc);
  }
  bySrc.set(p.src, p);
}

/** Merges like the pool would, returning the count at each value. */
function merged(pieces: string[]): { total: number; at: (us: number) => number; b64: string } {
  const h = mergeEncoded(pieces, 3);
  const counts = new Map<number, number>();
  for (const us of [100, 200, 300, 400, 500]) counts.set(us, h.countAt(us));
  return { total: h.total, at: (us) => counts.get(us) ?? 0, b64: h.encode() };
}

/** Runs one background pre-merge step as the merge stage does. */
function step(panes: PanePartials, cache: Map<number, PaneCache>, pre?: PreMerge): PreMerge | undefined {
  const plan = preMergePlan(panes, cache, END, pre);
  if (!plan) return pre;
  return { end: END, hist: plan.pieces.length === 1 ? plan.pieces[0] : merged(plan.pieces).b64, of: plan.of };
}

describe('window plan (pre-merges)', () => {
  it('counts every current partial of the window exactly once, through pre-merges and late arrivals', () => {
    const panes: PanePartials = new Map();
    const cache = new Map<number, PaneCache>();
    put(panes, partial(END - 60_000 - 5000, 0, [piece(500, 99)])); // before the window: never counted
    put(panes, partial(END - 60_000, 0, [piece(100, 1), piece(100, 2)]));
    put(panes, partial(END - 10_000, 1, [piece(200, 4)]));
    let pre = step(panes, cache);
    expect(pre?.of.size).toBe(2);
    // The newest pane's partials arrive after the pre-merge: added at window time.
    put(panes, partial(END - 5000, 0, [piece(300, 8)]));
    put(panes, partial(END - 5000, 1, []));
    let w = merged(windowHists(panes, cache, END, pre));
    expect([w.total, w.at(100), w.at(200), w.at(300), w.at(500)]).toEqual([15, 3, 4, 8, 0]);
    // Extended in the background: same result, fewer pieces at close.
    pre = step(panes, cache, pre);
    expect(windowHists(panes, cache, END, pre)).toHaveLength(1);
    w = merged(windowHists(panes, cache, END, pre));
    expect(w.total).toBe(15);
    // A partial of a new (pane, source) arrives late: counted once, on top of the pre-merge.
    put(panes, partial(END - 10_000, 2, [piece(400, 16)]));
    w = merged(windowHists(panes, cache, END, pre));
    expect([w.total, w.at(400)]).toEqual([31, 16]);
  });

  it('never counts a replayed partial twice nor with its old value', () => {
    const panes: PanePartials = new Map();
    const cache = new Map<number, PaneCache>();
    put(panes, partial(END - 20_000, 0, [piece(100, 1)]));
    put(panes, partial(END - 5000, 0, [piece(200, 2)]));
    put(panes, partial(END - 5000, 1, [piece(300, 4)]));
    const pre = step(panes, cache)!;
    expect(merged(windowHists(panes, cache, END, pre)).total).toBe(7);
    // The replay of (END - 5000, src 1) replaces the object, with a different value.
    put(panes, partial(END - 5000, 1, [piece(300, 5), piece(400, 1)]));
    const w = merged(windowHists(panes, cache, END, pre));
    expect([w.total, w.at(100), w.at(200), w.at(300), w.at(400)]).toEqual([9, 1, 2, 5, 1]);
    // The background step rebuilds it rather than extending the stale one.
    const rebuilt = step(panes, cache, pre)!;
    expect(rebuilt).not.toBe(pre);
    expect(merged(windowHists(panes, cache, END, rebuilt)).total).toBe(9);
    // A stale pane cache is not used either.
    cache.set(END - 5000, { hist: piece(300, 1000), of: [partial(END - 5000, 0, []), partial(END - 5000, 1, [])] });
    expect(merged(windowHists(panes, cache, END)).total).toBe(9);
  });

  it('ignores a pre-merge made for another window end', () => {
    const panes: PanePartials = new Map();
    put(panes, partial(END - 5000, 0, [piece(100, 1)]));
    const other: PreMerge = { end: END - 5000, hist: piece(100, 50), of: new Set() };
    expect(merged(windowHists(panes, new Map(), END, other)).total).toBe(1);
  });
});
