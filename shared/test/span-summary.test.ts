import { eventMillis, eventMillisOfBytes, SpanSummaryCodec, SpanSummaryReader, SummaryFields, SummarySpan } from '../src/span-summary';

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

  it('eventMillis agrees with Date.parse of the first 23 characters: boundaries, leap days, 100k random times, bad fields', () => {
    const parse = (iso: string) => Date.parse(iso.length > 24 ? `${iso.slice(0, 23)}Z` : iso);
    const fixed = [
      '2026-12-31T23:59:59.999999999Z',
      '2027-01-01T00:00:00.000000001Z',
      '2026-11-30T01:02:03.050000000Z',
      '2026-11-30T01:02:03Z',
      '2024-02-29T12:00:00.000000000Z',
      '2000-02-29T12:00:00.000000000Z',
      '1900-03-01T00:00:00.000000000Z',
      '1969-12-31T23:59:59.999000000Z',
      '0001-01-01T00:00:00.000000000Z',
      '9999-12-31T23:59:59.999999999Z',
      '2026-02-29T00:00:00.000000000Z',
      '2026-13-01T00:00:00.000000000Z',
      '2026-04-31T00:00:00.000000000Z',
      '2026-01-01T24:00:00.000000000Z',
      '2026-01-01T23:60:00.000000000Z',
      '2026-01-01T23:00:00.0x0000000Z',
      '2026-01-01 23:00:00.000000000Z',
      '2026-01-01T23:00:00.000000000+',
    ];
    for (const iso of fixed) expect([iso, eventMillis(iso)]).toEqual([iso, parse(iso)]);
    for (let i = 0; i < 100_000; i++) {
      const ms = Math.floor(Math.random() * 253402300800000); // 1970 to 9999
      const iso = `${new Date(ms).toISOString().slice(0, 23)}${String(Math.floor(Math.random() * 1e6)).padStart(6, '0')}Z`;
      if (eventMillis(iso) !== parse(iso)) expect([iso, eventMillis(iso)]).toEqual([iso, parse(iso)]);
    }
  });

  it('eventMillisOfBytes gives eventMillis of the decoded bytes: the same times, other forms, non-ASCII bytes', () => {
    /** The time's bytes between others, as a span line holds them. */
    const ofBytes = (iso: string) => {
      const b = Buffer.from(`"startTime":"${iso}","x":1`);
      const start = Buffer.byteLength('"startTime":"');
      return eventMillisOfBytes(b, start, start + Buffer.byteLength(iso));
    };
    const times = [
      '2026-12-31T23:59:59.999999999Z',
      '2024-02-29T12:00:00.000000000Z',
      '1969-12-31T23:59:59.999000000Z',
      '2026-02-29T00:00:00.000000000Z',
      '2026-01-01T23:60:00.000000000Z',
      '2026-01-01T23:00:00.0x0000000Z',
      '2026-01-01 23:00:00.000000000Z',
      '2026-11-30T01:02:03Z',
      '2026-11-30T01:02:03.123456€Z', // 30 bytes, 28 characters
      '2026-11-30T01:02:03.1234567ü', // 30 characters, 31 bytes
      '2026-11-30T01:02:0€.12345678Z',
      '',
    ];
    for (const iso of times) expect([iso, ofBytes(iso)]).toEqual([iso, eventMillis(iso)]);
    for (let i = 0; i < 20_000; i++) {
      const ms = Math.floor(Math.random() * 253402300800000);
      const iso = `${new Date(ms).toISOString().slice(0, 23)}${String(Math.floor(Math.random() * 1e6)).padStart(6, '0')}Z`;
      if (ofBytes(iso) !== eventMillis(iso)) expect([iso, ofBytes(iso)]).toEqual([iso, eventMillis(iso)]);
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
