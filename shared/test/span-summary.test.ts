import { eventMillis, SpanSummaryCodec, SpanSummaryReader, SummaryFields, SummarySpan } from '../src/span-summary';

function span(over: Partial<SummarySpan> = {}): SummarySpan {
  return {
    service: 'cart',
    name: 'GET /api/{id}',
    kind: 'SERVER',
    startTime: '2026-11-30T01:02:03.456789012Z',
    durationNanos: 100_000_000,
    traceId: 'a1b2c3d4e5f60718293a4b5c6d7e8f90',
    status: { code: 'ERROR' },
    ...over,
  };
}

function readAll(buf: Buffer) {
  const reader = new SpanSummaryReader();
  const slots: SummaryFields[] = [];
  const n = reader.read(buf, slots);
  return slots.slice(0, n).map((f) => {
    const { traceIdx: _idx, ...rest } = f;
    return { ...rest, traceId: reader.traceId(f) };
  });
}

describe('span summary', () => {
  it('reads back every field the windows use, strings shared, start as Date.parse of the millisecond', () => {
    const spans = [
      span(),
      span({ service: 'größe ✓', status: { code: 'OK' }, durationNanos: '1234567' }),
      span({ status: { code: 'UNSET' }, kind: 'CLIENT', startTime: '2026-11-30T01:02:04.999999999Z' }),
      span({ status: undefined, traceId: 'ffffffffffffffffffffffffffffffff' }),
      span({ startTime: 'not a time' }),
    ];
    const buf = SpanSummaryCodec.encode(spans)!;
    const got = readAll(buf);
    expect(got).toEqual(
      spans.map((s) => ({
        service: s.service,
        name: s.name,
        kind: s.kind,
        startMs: Date.parse(s.startTime.length > 24 ? `${s.startTime.slice(0, 23)}Z` : s.startTime),
        durationNanos: Number(s.durationNanos),
        statusCode: s.status?.code === 'OK' || s.status?.code === 'ERROR' ? s.status.code : undefined,
        traceId: s.traceId,
      })),
    );
    expect(Number.isNaN(got[4].startMs)).toBe(true);
    // One trace's record holds its trace id, service and operation once: 25 bytes a span beyond that.
    const one = SpanSummaryCodec.encode([span(), span(), span()])!;
    expect(one.length - SpanSummaryCodec.encode([span()])!.length).toBe(2 * 25);
  });

  it('eventMillis agrees with Date.parse of the first 23 characters across second and day boundaries', () => {
    for (const iso of [
      '2026-12-31T23:59:59.999999999Z',
      '2027-01-01T00:00:00.000000001Z',
      '2026-11-30T01:02:03.050000000Z',
      '2026-11-30T01:02:03Z',
    ]) {
      expect(eventMillis(iso)).toBe(Date.parse(iso.length > 24 ? `${iso.slice(0, 23)}Z` : iso));
    }
  });

  it('rejects a summary it cannot read whole: unknown version, truncation, trailing bytes, a bad index or status', () => {
    const good = SpanSummaryCodec.encode([span(), span({ service: 'search' })])!;
    const reader = new SpanSummaryReader();
    const versioned = Buffer.from(good);
    versioned[0] = 2;
    expect(() => reader.read(versioned, [])).toThrow(/unsupported version 2/);
    expect(() => reader.read(good.subarray(0, good.length - 1), [])).toThrow(/spans need/);
    expect(() => reader.read(Buffer.concat([good, Buffer.alloc(1)]), [])).toThrow(/spans need/);
    expect(() => reader.read(good.subarray(0, 10), [])).toThrow(/truncated/);
    const badStatus = Buffer.from(good);
    badStatus[badStatus.length - 1] = 7;
    expect(() => reader.read(badStatus, [])).toThrow(/status 7/);
    const badIndex = Buffer.from(good);
    badIndex.writeUInt16LE(99, badIndex.length - 25 + 16);
    expect(() => reader.read(badIndex, [])).toThrow(/past the table/);
  });

  it('is left out (undefined) when a string is over 65,535 bytes', () => {
    expect(SpanSummaryCodec.encode([span({ name: 'x'.repeat(70_000) })])).toBeUndefined();
    expect(SpanSummaryCodec.encode([span({ name: 'x'.repeat(65_535) })])).toBeDefined();
  });
});
