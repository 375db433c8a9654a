import { CommitTracker } from '../src/commit-tracker';

const settle = CommitTracker.settle;

describe('CommitTracker: commit only past input whose output is all settled', () => {
  it('commits the settled prefix, never past a slot with a part in flight', () => {
    const t = new CommitTracker('t', 0);
    const r10 = t.add('10', 2);
    const r11 = t.add('11', 1);
    t.add('12', 0); // a record with no documents is settled at once
    const r13 = t.add('13', 3);
    expect(t.toCommit()).toBeUndefined();
    // Later parts finish first: nothing may be committed yet.
    settle(r11);
    settle(r13, 3);
    expect(t.toCommit()).toBeUndefined();
    settle(r10);
    expect(t.toCommit()).toBeUndefined();
    settle(r10);
    // 10..13 settled: the committed offset is the next one to read.
    expect(t.toCommit()).toBe('14');
    expect(t.done).toBe(true);
  });

  it('keeps offering an offset until its commit is confirmed (a failed commit is made again)', () => {
    const t = new CommitTracker('raw', 1);
    settle(t.add('4'));
    expect(t.toCommit()).toBe('5');
    expect(t.toCommit()).toBe('5');
    t.confirmCommitted('5');
    expect(t.toCommit()).toBeUndefined();
    const b = t.add('19');
    expect(t.toCommit()).toBeUndefined();
    settle(b);
    expect(t.toCommit()).toBe('20');
    expect(t.outstanding).toBe(0);
  });

  it('advances across batches with gaps in the offsets (compaction, transaction markers)', () => {
    const t = new CommitTracker('t', 0);
    const a = t.add('0');
    const b = t.add('1');
    settle(a);
    expect(t.toCommit()).toBe('1');
    t.confirmCommitted('1');
    const c = t.add('7');
    settle(c);
    expect(t.toCommit()).toBeUndefined();
    settle(b);
    expect(t.toCommit()).toBe('8');
  });

  it('refuses to settle more parts than a slot has, and slots out of order', () => {
    const t = new CommitTracker('t', 0);
    const s = t.add('5', 1);
    settle(s);
    expect(() => settle(s)).toThrow(/more often/);
    expect(() => t.add('4', 1)).toThrow(/out of order/);
    expect(() => t.add('5', 1)).toThrow(/out of order/);
  });

  it('tells input that continues the partition from input that went back to an earlier offset', () => {
    const t = new CommitTracker('raw', 3);
    expect(t.accepts('0')).toBe(true);
    const a = t.add('9');
    expect(t.accepts('10')).toBe(true);
    expect(t.accepts('5')).toBe(false);
    settle(a);
    t.toCommit();
    expect(t.accepts('10')).toBe(true);
    expect(t.accepts('9')).toBe(false);
  });

  it('matches a brute-force model: in any settle order the offset never passes an unsettled part and ends past the last', () => {
    let seed = 42;
    const random = () => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      return seed / 2 ** 31;
    };
    for (let round = 0; round < 100; round++) {
      const t = new CommitTracker('t', 0);
      const slots = Array.from({ length: 1 + Math.floor(random() * 300) }, (_, i) => t.add(String(i * 2), Math.floor(random() * 4)));
      const parts = slots.flatMap((s) => Array.from({ length: s.left }, () => s));
      for (let i = parts.length - 1; i > 0; i--) {
        const j = Math.floor(random() * (i + 1));
        [parts[i], parts[j]] = [parts[j], parts[i]];
      }
      let committed = -1n;
      const check = () => {
        let prefix = 0;
        while (prefix < slots.length && slots[prefix].left === 0) prefix++;
        const expected = prefix === 0 ? undefined : BigInt(slots[prefix - 1].offset) + 1n;
        const next = t.toCommit();
        expect(next === undefined ? undefined : BigInt(next)).toBe(expected !== undefined && expected > committed ? expected : undefined);
        // Confirm only some commits: the others must be offered again.
        if (next !== undefined && random() < 0.5) {
          committed = BigInt(next);
          t.confirmCommitted(next);
        }
      };
      check();
      for (const s of parts) {
        settle(s);
        if (random() < 0.3) check();
      }
      const last = t.toCommit();
      if (last !== undefined) t.confirmCommitted(last);
      expect(t.toCommit()).toBeUndefined();
      expect(t.done).toBe(true);
    }
  });
});
