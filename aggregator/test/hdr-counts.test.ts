import * as hdr from 'hdr-histogram-js';
import { HdrCounts, isCompressedEncoding } from '../src/hdr-counts';
import { mergeEncoded } from '../src/histograms';

/** Deterministic pseudo-random numbers (mulberry32), so a failure reproduces. */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Log-normal-ish latencies in µs, capped at `max`. */
function latencies(n: number, seed: number, max = 59_000_000): number[] {
  const r = rng(seed);
  return Array.from({ length: n }, () => Math.min(max, Math.round(Math.exp(4 + 7 * r() * r() + 3 * r()))));
}

function library(values: number[], digits = 3): hdr.Histogram {
  const h = hdr.build({
    lowestDiscernibleValue: 1,
    highestTrackableValue: 60_000_000,
    autoResize: true,
    numberOfSignificantValueDigits: digits as 3,
  });
  for (const v of values) h.recordValue(v);
  return h;
}

function ours(values: number[], digits = 3): HdrCounts {
  const h = new HdrCounts(digits);
  for (const v of values) h.record(v);
  return h;
}

const PCTS = [0.1, 1, 25, 50, 75, 90, 95, 99, 99.9, 99.99, 100];
const CASES: [string, number[]][] = [
  ['empty', []],
  ['one zero', [0]],
  ['one value', [1234]],
  ['small values only', [1, 2, 3, 2047, 2048, 2049]],
  ['200 latencies', latencies(200, 1)],
  ['20k latencies', latencies(20_000, 2)],
  ['near the 60 s range', [59_999_999, 60_000_000, 1]],
];

describe('HdrCounts (HDR histogram on one counts array, V2 compressed base64)', () => {
  it.each(CASES)('%s: encodes byte for byte as hdr-histogram-js at its compression level', (_name, values) => {
    expect(ours(values).encode(-1)).toBe(hdr.encodeIntoCompressedBase64(library(values)));
  });

  it.each(CASES)("%s: gives the library's percentiles, and the library reads its encoding back", (_name, values) => {
    const lib = library(values);
    const h = ours(values);
    const expected = PCTS.map((p) => lib.getValueAtPercentile(p));
    expect(h.valuesAtPercentiles(PCTS)).toEqual(expected);
    const back = hdr.decodeFromCompressedBase64(h.encode());
    expect(back.totalCount).toBe(values.length);
    expect(PCTS.map((p) => back.getValueAtPercentile(p))).toEqual(expected);
  });

  it("decodes the library's encoding into the same counts", () => {
    const values = latencies(5000, 3);
    const b64 = hdr.encodeIntoCompressedBase64(library(values));
    const h = new HdrCounts(3);
    h.addEncoded(b64);
    expect(h.total).toBe(5000);
    expect(h.encode(-1)).toBe(b64);
  });

  it('merges pieces exactly as the library adds histograms', () => {
    const parts = [latencies(300, 4), latencies(7000, 5), [], latencies(1, 6), latencies(40, 7)];
    const merged = library([]);
    for (const p of parts) merged.add(library(p));
    const h = mergeEncoded(
      parts.map((p) => ours(p).encode()),
      3,
    );
    expect(h.total).toBe(merged.totalCount);
    expect(h.valuesAtPercentiles(PCTS)).toEqual(PCTS.map((p) => merged.getValueAtPercentile(p)));
    expect(h.encode(-1)).toBe(hdr.encodeIntoCompressedBase64(merged));
  });

  it('writes the same bytes whether it tracked few slots or scanned them all, and resets either way', () => {
    const few = latencies(100, 9); // < 256 distinct slots: tracked
    const many = latencies(20_000, 10); // dense: scanned
    const h = new HdrCounts(3);
    for (const values of [few, many, few, [], many]) {
      h.reset();
      for (const v of values) h.record(v);
      expect(h.encode(-1)).toBe(hdr.encodeIntoCompressedBase64(library(values)));
      expect(h.total).toBe(values.length);
    }
  });

  it('writes small pieces uncompressed and large ones compressed, and reads both back', () => {
    const small = ours(latencies(20, 11));
    const large = ours(latencies(20_000, 12));
    expect(isCompressedEncoding(small.encodePiece())).toBe(false);
    expect(isCompressedEncoding(large.encodePiece())).toBe(true);
    expect(isCompressedEncoding(small.encode())).toBe(true);
    const h = mergeEncoded([small.encodePiece(), large.encodePiece(), small.encode()], 3);
    const expected = library([...latencies(20, 11), ...latencies(20_000, 12), ...latencies(20, 11)]);
    expect(h.encode(-1)).toBe(hdr.encodeIntoCompressedBase64(expected));
  });

  it('grows past the default range, and the library still reads every value', () => {
    const values = [10, 3_600_000_000, 90_000_000]; // up to an hour in µs
    const h = ours(values);
    const back = hdr.decodeFromCompressedBase64(h.encode());
    expect(back.totalCount).toBe(3);
    expect(back.maxValue).toBeGreaterThanOrEqual(3_600_000_000 * (1 - 1e-3));
    expect(h.valuesAtPercentiles([100])[0]).toBe(back.getValueAtPercentile(100));
    const again = new HdrCounts(3);
    again.addEncoded(h.encode());
    expect(again.encode()).toBe(h.encode());
  });

  it('keeps counts above 2^31 in one bucket', () => {
    const h = new HdrCounts(3);
    h.record(1000, 3e9);
    h.record(5, 1);
    const back = new HdrCounts(3);
    back.addEncoded(h.encode());
    expect(back.countAt(1000)).toBe(3e9);
    expect(back.total).toBe(3e9 + 1);
  });

  it.each([
    [2, 2000, true],
    [4, 60, false],
  ])('adds a %i-digit histogram of %i values (compressed: %s) within the coarser precision', (digits, n, compressed) => {
    const values = latencies(n, 8);
    // 2 digits: the library's encoding; 4 digits: a small piece of ours, written uncompressed.
    const b64 = digits === 2 ? hdr.encodeIntoCompressedBase64(library(values, 2)) : ours(values, digits).encodePiece();
    expect(isCompressedEncoding(b64)).toBe(compressed);
    const h = new HdrCounts(3);
    h.addEncoded(b64);
    expect(h.total).toBe(n);
    const sorted = values.slice().sort((a, b) => a - b);
    const exact = (p: number) => sorted[Math.ceil((p / 100) * sorted.length) - 1];
    const tolerance = 2 * 10 ** -Math.min(digits, 3); // the coarser of the two precisions
    const [p50, p99] = h.valuesAtPercentiles([50, 99]);
    expect(Math.abs(p50 - exact(50))).toBeLessThanOrEqual(exact(50) * tolerance + 1);
    expect(Math.abs(p99 - exact(99))).toBeLessThanOrEqual(exact(99) * tolerance + 1);
  });

  it('refuses what is not an encoded histogram', () => {
    const h = new HdrCounts(3);
    expect(() => h.addEncoded('AAAA')).toThrow(/not a V2 HDR histogram/);
    const coarse = hdr.build({ lowestDiscernibleValue: 1000, highestTrackableValue: 60_000_000, numberOfSignificantValueDigits: 3 });
    coarse.recordValue(5000);
    expect(() => h.addEncoded(hdr.encodeIntoCompressedBase64(coarse))).toThrow(/lowest discernible value 1000/);
    const piece = Buffer.from(ours([1, 2, 3000]).encodePiece(), 'base64');
    expect(() => h.addEncoded(piece.subarray(0, piece.length - 1).toString('base64'))).toThrow(/truncated/);
    const good = Buffer.from(ours([1, 2, 3]).encode(), 'base64');
    expect(() => h.addEncoded(good.subarray(0, good.length - 3).toString('base64'))).toThrow();
    // A zero run pointing far past any value must not allocate a giant array.
    const runaway = Buffer.from(ours([5]).encodePiece(), 'base64');
    const huge = Buffer.from([0xff, 0xff, 0xff, 0xff, 0x0f, 0x02]); // zigzag(-2^31), then a count of 1
    const forged = Buffer.concat([runaway.subarray(0, 40), huge]);
    forged.writeInt32BE(huge.length, 4);
    expect(() => h.addEncoded(forged.toString('base64'))).toThrow(/past any value/);
    expect(() => new HdrCounts(7)).toThrow(/1\.\.5/);
    expect(() => h.record(-1)).toThrow(/>= 0/);
  });
});
