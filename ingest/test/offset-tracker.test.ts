import { PartitionOffsetTracker } from '../src/offset-tracker';

describe('PartitionOffsetTracker', () => {
  it('never offers an offset past a chunk that is not finished, whatever order chunks finish in', () => {
    const t = new PartitionOffsetTracker('raw', 0);
    const a = t.add('9');
    const b = t.add('19');
    const c = t.add('29');
    t.markDone(c);
    expect(t.toCommit()).toBeUndefined();
    t.markDone(a);
    expect(t.toCommit()).toBe('10');
    t.confirmCommitted('10');
    expect(t.toCommit()).toBeUndefined();
    t.markDone(b);
    expect(t.toCommit()).toBe('30');
    expect(t.inFlight).toBe(0);
  });

  it('keeps offering an offset until its commit is confirmed (a failed commit is retried)', () => {
    const t = new PartitionOffsetTracker('raw', 1);
    t.markDone(t.add('4'));
    expect(t.toCommit()).toBe('5');
    expect(t.toCommit()).toBe('5');
    t.confirmCommitted('5');
    expect(t.toCommit()).toBeUndefined();
  });

  it('refuses chunks registered out of offset order', () => {
    const t = new PartitionOffsetTracker('raw', 2);
    t.add('10');
    expect(() => t.add('10')).toThrow(/registered after/);
  });

  it('tells a batch that continues the partition from one that went back to an earlier offset', () => {
    const t = new PartitionOffsetTracker('raw', 3);
    expect(t.accepts('0')).toBe(true);
    const a = t.add('9');
    expect(t.accepts('10')).toBe(true);
    expect(t.accepts('5')).toBe(false);
    t.markDone(a);
    expect(t.accepts('10')).toBe(true);
    expect(t.accepts('9')).toBe(false);
  });

  it('matches a brute-force model on random completion orders', () => {
    for (let round = 0; round < 200; round++) {
      const t = new PartitionOffsetTracker('raw', 0);
      const n = 1 + Math.floor(Math.random() * 12);
      const lasts = Array.from({ length: n }, (_, i) => (i + 1) * 10 - 1);
      const tokens = lasts.map((l) => t.add(String(l)));
      const done = new Set<number>();
      for (const i of [...tokens.keys()].sort(() => Math.random() - 0.5)) {
        t.markDone(tokens[i]);
        done.add(i);
        let prefix = 0;
        while (done.has(prefix)) prefix++;
        expect(t.toCommit()).toBe(prefix === 0 ? undefined : String(lasts[prefix - 1] + 1));
      }
    }
  });
});
