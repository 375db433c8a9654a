import { execFileSync } from 'node:child_process';
import { dailyIndex, indexDate, isoToNanos, lz4Implementation, nanosToIso, NormalizedSpan, SpanBatchCodec, spanDocId } from '../src';

const span: NormalizedSpan = {
  traceId: '0af7651916cd43dd8448eb211c80319c',
  spanId: 'b7ad6b7169203331',
  name: 'GET /cart',
  kind: 'SERVER',
  service: 'cart',
  startTime: '2024-05-01T12:00:00.123456789Z',
  endTime: '2024-05-01T12:00:00.223456789Z',
  durationNanos: 100_000_000,
  status: { code: 'OK' },
  attributes: { 'http.status_code': 200, big: '9007199254740993' },
  resource: { 'service.name': 'cart' },
  scope: { name: 'test' },
  events: [],
  links: [],
};

describe('SpanBatchCodec', () => {
  it('round-trips a batch through one LZ4 frame', () => {
    const frame = SpanBatchCodec.encode([span, { ...span, spanId: '00000000000000aa' }]);
    expect(frame.readUInt32LE(0)).toBe(0x184d2204); // the standard LZ4 frame magic number
    expect(SpanBatchCodec.decode(frame)).toEqual([span, { ...span, spanId: '00000000000000aa' }]);
  });

  it('refuses a frame that expands past the cap', () => {
    const frame = SpanBatchCodec.encodeLines(Buffer.alloc(1024 * 1024, 'a'));
    expect(frame.length).toBeLessThan(16 * 1024);
    expect(() => SpanBatchCodec.decompress(frame, 64 * 1024)).toThrow(/over the 65536 cap/);
  });

  it('rejects bytes that are not an LZ4 frame with code decode', () => {
    expect(() => SpanBatchCodec.decode(Buffer.from('not lz4'))).toThrow(expect.objectContaining({ code: 'decode' }));
  });

  it('writes frames the lz4 command line tool can read', () => {
    const out = execFileSync('lz4', ['-dc'], { input: SpanBatchCodec.encode([span]) });
    expect(JSON.parse(out.toString().trim())).toEqual(span);
  });

  it('uses the native lz4 addon', () => {
    expect(lz4Implementation()).toBe('native');
  });
});

describe('span helpers', () => {
  it('keeps nanoseconds through ISO-8601', () => {
    const n = 1714564800123456789n;
    expect(nanosToIso(n)).toBe('2024-05-01T12:00:00.123456789Z');
    expect(isoToNanos(nanosToIso(n))).toBe(n);
    expect(isoToNanos('2024-05-01T12:00:00.1Z')).toBe(1714564800100000000n);
  });

  it('names daily indices by the UTC date and reads them back', () => {
    expect(dailyIndex('mplp', 'traces', span.startTime)).toBe('mplp-traces-2024.05.01');
    expect(indexDate('mplp', 'mplp-metrics-2024.05.01')).toEqual({ kind: 'metrics', date: new Date(Date.UTC(2024, 4, 1)) });
    expect(indexDate('mplp', 'other-traces-2024.05.01')).toBeUndefined();
    expect(spanDocId(span)).toBe('0af7651916cd43dd8448eb211c80319cb7ad6b7169203331');
  });
});

describe('LZ4 frame decoding', () => {
  it('reads frames written by the lz4 command line tool, multi-block and with checksums', () => {
    const big = Buffer.from(Array.from({ length: 200_000 }, (_, i) => `line ${i} ${i % 7 === 0 ? 'x'.repeat(i % 50) : ''}`).join('\n'));
    for (const args of [
      ['-c', '-B4'],
      ['-c', '-B4', '-BX', '--content-size'],
      ['-c', '-B7', '--no-frame-crc'],
    ]) {
      const frame = execFileSync('lz4', args, { input: big, maxBuffer: 64 * 1024 * 1024 });
      expect(SpanBatchCodec.decompress(frame).equals(big)).toBe(true);
    }
  });

  it('refuses linked-block frames with a clear reason', () => {
    const frame = execFileSync('lz4', ['-c', '-B4', '-BD'], { input: Buffer.alloc(300_000, 'abc') });
    expect(() => SpanBatchCodec.decompress(frame)).toThrow(/linked blocks/);
  });

  it('rejects a truncated frame', () => {
    const frame = SpanBatchCodec.encodeLines(Buffer.from('hello world\n'.repeat(100)));
    expect(() => SpanBatchCodec.decompress(frame.subarray(0, frame.length - 6))).toThrow(/truncated/);
  });
});
