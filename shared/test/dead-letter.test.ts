import { dlqMessage, dlqMessageBytes, dlqSends, DLQ_MAX_ERROR_CHARS } from '../src';

describe('dead letters bounded for the DLQ topic', () => {
  const letter = {
    value: Buffer.alloc(5000, 0x61),
    code: 'index_too_large',
    reason: 'too big',
    source: 't/0/7',
    traceId: 'a'.repeat(32),
    spanId: 'b'.repeat(16),
  };

  it('keeps a value under the cap whole, with code, reason, source and ids', () => {
    const m = dlqMessage(letter, 8192);
    expect(m.value).toBe(letter.value);
    expect(m.headers).toEqual({
      'mplp-error': 'too big',
      'mplp-error-code': 'index_too_large',
      'mplp-source': 't/0/7',
      'mplp-trace-id': 'a'.repeat(32),
      'mplp-span-id': 'b'.repeat(16),
    });
  });

  it('cuts a value over the cap to its first bytes, marked truncated with the original size', () => {
    const m = dlqMessage({ ...letter, value: 'é'.repeat(3000) }, 1024);
    expect((m.value as Buffer).length).toBe(1024);
    expect(m.headers!['mplp-truncated']).toBe('true');
    expect(m.headers!['mplp-original-bytes']).toBe('6000');
  });

  it('a cap of 0 makes a reference: no value, the headers say what and where', () => {
    const m = dlqMessage(letter, 0);
    expect(m.value).toBeNull();
    expect(m.headers!['mplp-original-bytes']).toBe('5000');
    expect(m.headers!['mplp-source']).toBe('t/0/7');
  });

  it('bounds the reason', () => {
    expect(String(dlqMessage({ ...letter, reason: 'x'.repeat(10_000) }, 0).headers!['mplp-error']).length).toBe(DLQ_MAX_ERROR_CHARS);
  });

  it('splits sends by bytes, a larger single letter alone', () => {
    const small = dlqMessage({ ...letter, value: Buffer.alloc(300) }, 1 << 20);
    const big = dlqMessage({ ...letter, value: Buffer.alloc(5000) }, 1 << 20);
    const sends = dlqSends([small, small, small, big, small], 1500);
    expect(sends.map((s) => s.length)).toEqual([2, 1, 1, 1]);
    for (const s of sends) if (s.length > 1) expect(s.reduce((n, m) => n + dlqMessageBytes(m), 0)).toBeLessThanOrEqual(1500);
  });
});
