import { randomBytes } from 'node:crypto';
import { nanosToIso } from '../../shared/src';
import { compareNanos, diffNanos, fromDecimal, fromHalves, splitNanosToDecimal, splitNanosToIso, toSplitNanos } from '../src/split-nanos';

const MAX_NANOS = (1n << 64n) - 1n; // OTLP times are uint64

/** Random uint64 values in range, plus the edges where carries happen. */
function samples(): bigint[] {
  const out = [
    1n,
    999_999_999n,
    1_000_000_000n,
    1_000_000_001n,
    (1n << 32n) - 1n,
    1n << 32n,
    (1n << 48n) - 1n,
    1n << 48n,
    (1n << 53n) + 1n,
    1_700_000_000_123_456_789n,
    1_700_000_000_000_000_000n,
    4_102_444_800_000_000_007n,
    MAX_NANOS,
  ];
  while (out.length < 5000) {
    const v = randomBytes(8).readBigUInt64BE() % MAX_NANOS;
    if (v > 0n) out.push(v);
  }
  return out;
}

describe('split nanosecond timestamps', () => {
  it('reads a fixed64 from its 32-bit halves and a decimal string exactly, and formats them like nanosToIso', () => {
    for (const v of samples()) {
      const high = Number(v >> 32n) | 0; // protobufjs Long halves are signed 32-bit
      const low = Number(v & 0xffffffffn) | 0;
      const a = fromHalves(high, low)!;
      const b = fromDecimal(v.toString())!;
      const expected = { sec: Number(v / 1_000_000_000n), nano: Number(v % 1_000_000_000n) };
      expect(a).toEqual(expected);
      expect(b).toEqual(expected);
      expect(splitNanosToIso(a)).toBe(nanosToIso(v));
      expect(splitNanosToDecimal(a)).toBe(v.toString());
    }
  });

  it('refuses zero, negatives, non-integers and values past uint64', () => {
    for (const bad of [
      0,
      '0',
      '',
      '-5',
      '12a',
      '1.5',
      ' 1',
      null,
      undefined,
      {},
      0n,
      -3n,
      (MAX_NANOS + 1n).toString(),
      '99999999999999999999',
      2e19,
    ]) {
      expect(toSplitNanos(bad)).toBeUndefined();
    }
    expect(fromHalves(0, 0)).toBeUndefined();
    expect(fromHalves(-1, -1)).toEqual({ sec: 18446744073, nano: 709551615 }); // 2^64 − 1 ns: year 2554, in range
  });

  it('orders and subtracts exactly', () => {
    const a = fromDecimal('1700000000999999999')!;
    const b = fromDecimal('1700000001000000000')!;
    expect(compareNanos(a, b)).toBeLessThan(0);
    expect(compareNanos(b, a)).toBeGreaterThan(0);
    expect(compareNanos(a, a)).toBe(0);
    expect(diffNanos(a, b)).toBe(1);
    expect(diffNanos(fromDecimal('1700000000000000007')!, fromDecimal('1700000090000000000')!)).toBe(89_999_999_993);
  });
});
