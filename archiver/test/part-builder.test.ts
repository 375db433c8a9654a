import { SpanBatchCodec } from '../../shared/src';
import { PartBuilder, SealedPart } from '../src/part-builder';

function split(lines: string[], maxBytes: number): SealedPart[] {
  const b = new PartBuilder(maxBytes);
  const out: SealedPart[] = [];
  for (const l of lines) {
    const p = b.add(l);
    if (p) out.push(p);
  }
  const last = b.finish();
  if (last) out.push(last);
  return out;
}

describe('PartBuilder', () => {
  it('never lets a part exceed maxBytes, keeps every line once and in order, numbers parts from 0', () => {
    const lines = Array.from({ length: 1000 }, (_, i) => JSON.stringify({ _id: `id-${i}`, _source: { n: i, pad: 'x'.repeat(i % 37) } }));
    const parts = split(lines, 1024);
    expect(parts.length).toBeGreaterThan(10);
    expect(parts.map((p) => p.n)).toEqual(parts.map((_, i) => i));
    for (const p of parts) expect(p.ndjson.length).toBeLessThanOrEqual(1024);
    // Full parts are nearly full: the next line would not have fitted.
    for (let i = 0; i < parts.length - 1; i++) {
      const nextLine = SpanBatchCodec.lines(parts[i + 1].ndjson)[0];
      expect(parts[i].ndjson.length + Buffer.byteLength(nextLine) + 1).toBeGreaterThan(1024);
    }
    const back = parts.flatMap((p) => SpanBatchCodec.lines(p.ndjson));
    expect(back).toEqual(lines);
    expect(parts.reduce((n, p) => n + p.docs, 0)).toBe(1000);
  });

  it('counts UTF-8 bytes, not characters', () => {
    const line = 'é'.repeat(100); // 200 bytes + newline
    const parts = split([line, line, line], 450);
    expect(parts.map((p) => p.docs)).toEqual([2, 1]);
    expect(parts[0].ndjson.length).toBe(402);
  });

  it('gives a line larger than maxBytes a part of its own instead of splitting a document', () => {
    const parts = split(['a', 'b'.repeat(5000), 'c'], 100);
    expect(parts.map((p) => p.ndjson.toString())).toEqual(['a\n', `${'b'.repeat(5000)}\n`, 'c\n']);
  });

  it('produces nothing for no lines, and the same parts for the same input', () => {
    expect(new PartBuilder(10).finish()).toBeUndefined();
    const lines = Array.from({ length: 50 }, (_, i) => `line ${i}`);
    expect(split(lines, 64)).toEqual(split(lines, 64));
  });
});
