import { MessageProcessor } from '../src/message-processor';
import { encodeRequestProtobuf } from '../src/otlp-decoder';

const NOW = Date.UTC(2024, 4, 1, 12, 0, 0);
const nowNs = BigInt(NOW) * 1_000_000n;
const limits = {
  maxAttributes: 128,
  maxAttributeValueLength: 8192,
  maxEvents: 128,
  maxLinks: 128,
  maxPastMs: 86400e3,
  maxFutureMs: 3600e3,
  maxMessageBytes: 64 * 1024,
  maxDlqValueBytes: 1024,
  maxAttributeKeyBytes: 1024,
  maxAttributeDepth: 16,
  maxDurationMs: 86400e3,
  maxRecordBytes: 8 << 20,
  maxOutputBytesPerMessage: 32 << 20,
};
const proc = new MessageProcessor(limits, () => NOW);

function jsonReq(span: Record<string, unknown>, resourceAttrs: unknown[] = [{ key: 'service.name', value: { stringValue: 'svc' } }]) {
  return Buffer.from(
    JSON.stringify({
      resourceSpans: [{ resource: { attributes: resourceAttrs }, scopeSpans: [{ scope: { name: 'lib', version: '1' }, spans: [span] }] }],
    }),
  );
}
const good = (over: Record<string, unknown> = {}) => ({
  traceId: '5b8efff798038103d269b633813fc60c',
  spanId: 'eee19b7ec3c1b174',
  name: 'op',
  kind: 2,
  startTimeUnixNano: String(nowNs),
  endTimeUnixNano: String(nowNs + 1500n),
  ...over,
});

describe('MessageProcessor (DESIGN.md input rules)', () => {
  it('normalizes a JSON span to the contract shape', () => {
    const r = proc.process(jsonReq(good({ status: { code: 2, message: 'boom' }, parentSpanId: 'eee19b7ec3c1b175' })), undefined, 't/0/1');
    expect(r.dlq).toEqual([]);
    expect(r.spans[0]).toEqual({
      traceId: '5b8efff798038103d269b633813fc60c',
      spanId: 'eee19b7ec3c1b174',
      parentSpanId: 'eee19b7ec3c1b175',
      name: 'op',
      kind: 'SERVER',
      service: 'svc',
      startTime: '2024-05-01T12:00:00.000000000Z',
      endTime: '2024-05-01T12:00:00.000001500Z',
      durationNanos: 1500,
      status: { code: 'ERROR', message: 'boom' },
      attributes: {},
      resource: { 'service.name': 'svc' },
      scope: { name: 'lib', version: '1' },
      events: [],
      links: [],
    });
  });

  it('decodes protobuf with the official definitions, keeping nanoseconds and 64-bit integers', () => {
    const buf = encodeRequestProtobuf({
      resourceSpans: [
        {
          resource: { attributes: [{ key: 'service.name', value: { stringValue: 'p' } }] },
          scopeSpans: [
            {
              scope: { name: 's' },
              spans: [
                {
                  traceId: Buffer.from('5b8efff798038103d269b633813fc60c', 'hex'),
                  spanId: Buffer.from('eee19b7ec3c1b174', 'hex'),
                  name: 'x',
                  kind: 3,
                  startTimeUnixNano: String(nowNs + 123n),
                  endTimeUnixNano: String(nowNs + 456n),
                  attributes: [
                    { key: 'big', value: { intValue: '9007199254740993' } },
                    { key: 'small', value: { intValue: 42 } },
                    { key: 'b', value: { bytesValue: Buffer.from('hi') } },
                    { key: 'arr', value: { arrayValue: { values: [{ stringValue: 'a' }, { intValue: 1 }, { boolValue: false }] } } },
                    { key: 'kv', value: { kvlistValue: { values: [{ key: 'inner', value: { doubleValue: 1.5 } }] } } },
                  ],
                },
              ],
            },
          ],
        },
      ],
    });
    const r = proc.process(buf, 'application/x-protobuf', 't/0/1');
    expect(r.encoding).toBe('protobuf');
    expect(r.spans[0]).toMatchObject({
      kind: 'CLIENT',
      startTime: '2024-05-01T12:00:00.000000123Z',
      durationNanos: 333,
      attributes: { big: '9007199254740993', small: 42, b: 'aGk=', arr: ['a', 1, false], 'kv.inner': 1.5 },
    });
  });

  it.each([
    ['truncated protobuf', Buffer.from([0x0a, 0x85, 0x01, 0x0a]), 'decode'],
    ['malformed JSON', Buffer.from('{"resourceSpans": ['), 'decode'],
    ['an empty message', Buffer.alloc(0), 'empty'],
    ['a message over the size cap', Buffer.alloc(70 * 1024, 0x20), 'too_large'],
  ])('sends %s whole to the DLQ with code %s', (_what, value, code) => {
    const r = proc.process(value, undefined, 'raw/2/7');
    expect(r.spans).toEqual([]);
    expect(r.dlq).toHaveLength(1);
    expect(r.dlq[0]).toMatchObject({ code, source: 'raw/2/7' });
    expect(r.dlq[0].value.length).toBeLessThanOrEqual(limits.maxDlqValueBytes);
  });

  it.each([
    ['a short trace id', { traceId: 'abcd' }, 'trace_id', /traceId has 2 bytes/],
    ['an all-zero trace id', { traceId: '00000000000000000000000000000000' }, 'trace_id', /all zero/],
    ['an all-zero span id', { spanId: '0000000000000000' }, 'span_id', /spanId is all zero/],
    ['a long span id', { spanId: 'eee19b7ec3c1b17400' }, 'span_id', /9 bytes/],
    ['an empty name', { name: '' }, 'name', /name is empty/],
    ['end before start', { endTimeUnixNano: String(nowNs - 1n) }, 'timestamps', /before/],
    [
      'a start far in the past',
      { startTimeUnixNano: String(nowNs - 3n * 86400n * 10n ** 9n), endTimeUnixNano: String(nowNs) },
      'timestamps',
      /MPLP_INGEST_MAX_PAST/,
    ],
    [
      'a start far in the future',
      { startTimeUnixNano: String(nowNs + 7200n * 10n ** 9n), endTimeUnixNano: String(nowNs + 7201n * 10n ** 9n) },
      'timestamps',
      /MPLP_INGEST_MAX_FUTURE/,
    ],
  ])('sends a span with %s alone to the DLQ (%s) and keeps the good one', (_w, over, code, reason) => {
    const req = JSON.parse(jsonReq(good()).toString());
    req.resourceSpans[0].scopeSpans[0].spans.push(good({ spanId: 'aaaaaaaaaaaaaaaa', ...over }));
    const r = proc.process(Buffer.from(JSON.stringify(req)), 'application/json', 'raw/0/9');
    expect(r.spans.map((s) => s.spanId)).toEqual(['eee19b7ec3c1b174']);
    expect(r.dlq).toHaveLength(1);
    expect(r.dlq[0].code).toBe(code);
    expect(r.dlq[0].reason).toMatch(reason);
    const dead = JSON.parse(r.dlq[0].value.toString());
    expect(dead.resourceSpans[0].scopeSpans[0].spans).toHaveLength(1);
  });

  it('caps attributes and truncates long values, recording what it dropped', () => {
    const attributes = Array.from({ length: 200 }, (_, i) => ({
      key: `k${i}`,
      value: { stringValue: i === 0 ? 'x'.repeat(10_000) : 'v' },
    }));
    const r = proc.process(jsonReq(good({ attributes })), undefined, 's');
    const span = r.spans[0];
    expect(Object.keys(span.attributes)).toHaveLength(128);
    expect((span.attributes.k0 as string).length).toBe(8192);
    expect(span.dropped).toEqual({ attributes: 72, events: 0, links: 0, truncatedValues: 1 });
  });

  it('names a span without service.name unknown_service', () => {
    const r = proc.process(jsonReq(good(), []), undefined, 's');
    expect(r.spans[0].service).toBe('unknown_service');
    expect(r.spans[0].resource['service.name']).toBe('unknown_service');
  });

  it('keeps keys like __proto__ as plain data, without polluting prototypes; drops empty keys', () => {
    const attributes = [
      { key: '__proto__', value: { stringValue: 'p' } },
      { key: 'constructor', value: { stringValue: 'c' } },
      { key: '', value: { stringValue: 'e' } },
    ];
    const r = proc.process(jsonReq(good({ attributes })), undefined, 's');
    const line = JSON.stringify(r.spans[0]);
    expect(JSON.parse(line).attributes).toEqual(JSON.parse('{"__proto__":"p","constructor":"c"}'));
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    expect(r.spans[0].dropped?.attributes).toBe(1);
  });

  it('caps events and links', () => {
    const p = new MessageProcessor({ ...limits, maxEvents: 2, maxLinks: 1 }, () => NOW);
    const events = Array.from({ length: 5 }, (_, i) => ({ timeUnixNano: String(nowNs + BigInt(i)), name: `e${i}` }));
    const links = Array.from({ length: 3 }, () => ({ traceId: '5b8efff798038103d269b633813fc60d', spanId: 'eee19b7ec3c1b179' }));
    const s = p.process(jsonReq(good({ events, links })), undefined, 's').spans[0];
    expect(s.events).toHaveLength(2);
    expect(s.links).toHaveLength(1);
    expect(s.dropped).toMatchObject({ events: 3, links: 2 });
  });
});
