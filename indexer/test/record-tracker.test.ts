import { RecordTracker } from '../src/record-tracker';

describe('RecordTracker: commit only past records whose documents are all settled', () => {
  it('commits the complete prefix, never past a record with a document in flight', () => {
    const t = new RecordTracker('t', 0);
    const r10 = t.add('10', 2);
    const r11 = t.add('11', 1);
    t.add('12', 0); // a record with no documents is complete at once
    const r13 = t.add('13', 3);
    expect(t.advance()).toBeUndefined();
    // Later bulks finish first: nothing may be committed yet.
    RecordTracker.settle(r11);
    RecordTracker.settle(r13, 3);
    expect(t.advance()).toBeUndefined();
    RecordTracker.settle(r10);
    expect(t.advance()).toBeUndefined();
    RecordTracker.settle(r10);
    // 10..13 complete: the committed offset is the next one to read.
    expect(t.advance()).toBe('14');
    expect(t.done).toBe(true);
    expect(t.advance()).toBeUndefined();
  });

  it('advances record by record as documents settle, across batches', () => {
    const t = new RecordTracker('t', 0);
    const a = t.add('0', 1);
    const b = t.add('1', 1);
    RecordTracker.settle(a);
    expect(t.advance()).toBe('1');
    expect(t.done).toBe(false);
    const c = t.add('7', 1); // the next fetched batch (offsets may have gaps: compaction, transactions)
    RecordTracker.settle(c);
    expect(t.advance()).toBeUndefined();
    RecordTracker.settle(b);
    expect(t.advance()).toBe('8');
  });

  it('refuses to settle more documents than a record has, and records out of order', () => {
    const t = new RecordTracker('t', 0);
    const s = t.add('5', 1);
    RecordTracker.settle(s);
    expect(() => RecordTracker.settle(s)).toThrow(/more often/);
    expect(t.accepts('5')).toBe(false);
    expect(t.accepts('6')).toBe(true);
    expect(() => t.add('4', 1)).toThrow(/out of order/);
  });

  it('in any settle order, the committed offset never passes an unsettled record and ends past the last', () => {
    let seed = 42;
    const random = () => { seed = (seed * 1103515245 + 12345) % 2 ** 31; return seed / 2 ** 31; };
    for (let round = 0; round < 50; round++) {
      const t = new RecordTracker('t', 0);
      const slots = Array.from({ length: 200 }, (_, i) => t.add(String(i * 2), Math.floor(random() * 4)));
      const docs = slots.flatMap((s) => Array.from({ length: s.left }, () => s));
      for (let i = docs.length - 1; i > 0; i--) { const j = Math.floor(random() * (i + 1)); [docs[i], docs[j]] = [docs[j], docs[i]]; }
      let committed = 0n;
      const check = () => {
        const next = t.advance();
        if (next === undefined) return;
        expect(BigInt(next)).toBeGreaterThan(committed);
        committed = BigInt(next);
        // Every record below the committed offset is complete.
        for (const s of slots) if (BigInt(s.offset) < committed) expect(s.left).toBe(0);
      };
      check();
      for (const s of docs) { RecordTracker.settle(s); if (random() < 0.3) check(); }
      check();
      expect(committed).toBe(BigInt(slots[slots.length - 1].offset) + 1n);
      expect(t.done).toBe(true);
    }
  });
});
