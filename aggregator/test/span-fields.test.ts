import { randomBytes } from 'node:crypto';
import { eventMillis, nanosToIso, SpanBatchCodec } from '../../shared/src';
import { emptySpanFields, SpanLineReader, traceIdOf } from '../src/span-fields';
import run, { AggregateResult, AggregateTask } from '../src/pane-worker';
import { topExemplars } from '../src/partial';
import { aggregateTask } from './helpers';

/** What the windows read from a line, the old way: JSON.parse of the whole line. */
function parsed(line: string) {
  const s = JSON.parse(line);
  return {
    service: s.service,
    name: s.name,
    kind: s.kind,
    startMs: typeof s.startTime === 'string' ? eventMillis(s.startTime) : Number.NaN,
    durationNanos: Number(s.durationNanos),
    statusCode: s.status?.code,
    traceId: s.traceId,
  };
}

/** The line read by the fast path, from its bytes inside a larger buffer (as a batch's lines are). */
function scanned(line: string, reader = new SpanLineReader()) {
  const f = emptySpanFields();
  const bytes = Buffer.from(`{"before":1}\n${line}\n{"after":2}`);
  const start = Buffer.byteLength('{"before":1}\n');
  if (!reader.read(bytes, start, start + Buffer.byteLength(line), f)) return undefined;
  const { service, name, kind, startMs, durationNanos, statusCode } = f;
  return { service, name, kind, startMs, durationNanos, statusCode, traceId: traceIdOf(f, bytes) };
}

const base = {
  traceId: 'a1b2c3d4e5f60718293a4b5c6d7e8f90',
  spanId: '0102030405060708',
  name: 'GET /api/{id}',
  kind: 'SERVER',
  service: 'cart',
  startTime: '2026-11-30T01:02:03.456789012Z',
  endTime: '2026-11-30T01:02:03.556789012Z',
  durationNanos: 100000000,
  status: { code: 'ERROR', message: 'bad "gateway" } {' },
  attributes: { 'http.route': '/api/{id}', 'a"b': 'x\\"}]', n: [1, { z: '}' }] },
  resource: { 'service.name': 'cart' },
  scope: { name: 'otel' },
  events: [],
  links: [],
};

describe('span line fast path', () => {
  it('reads the same fields as JSON.parse of the whole line, whatever the key order, escapes and nesting', () => {
    const lines = [
      JSON.stringify(base),
      // the needed fields last, behind nested values holding quotes, braces and brackets in strings
      JSON.stringify({
        attributes: base.attributes,
        events: [{ name: 'e', attributes: { '}': '{' } }],
        status: { message: 'x', code: 'OK' },
        durationNanos: 7,
        startTime: base.startTime,
        kind: 'CLIENT',
        service: 'svc',
        name: 'op',
        traceId: 'ff',
      }),
      // escaped and non-ASCII values in the fields themselves
      JSON.stringify({ ...base, service: 'caf\u00e9 "q" \\ \n', name: 'op\u2028\t/é', traceId: 'a\\b', kind: 'S\u0000' }),
      // whitespace between tokens, a status without code, an exponent duration
      `{ "traceId" : "t1" , "name":"n", "kind" : "INTERNAL", "service":"s", "startTime":"${base.startTime}", "durationNanos" : 1.5e3 , "status" : { "message": "m" } , "attributes": {} }  `,
      JSON.stringify({ ...base, status: {} }),
      JSON.stringify({ ...base, durationNanos: 0 }),
      // non-ASCII bytes, unescaped, in the fields and in values skipped before them
      JSON.stringify({ note: 'ü'.repeat(40), ...base, service: 'café-€', name: 'GET /straße/😀', kind: 'SERVER' }),
      // durations of 16 digits (past the digit loop), negative, and a fraction
      JSON.stringify({ ...base, durationNanos: 1234567890123456 }),
      JSON.stringify({ ...base, durationNanos: -5 }),
      JSON.stringify({ ...base, durationNanos: 2.25 }),
    ];
    for (const line of lines) expect(scanned(line)).toEqual(parsed(line));
  });

  it('gives each line its own values when thousands of distinct values share the reader (its string cache has 1,024 slots)', () => {
    const reader = new SpanLineReader();
    for (let i = 0; i < 5000; i++) {
      const line = JSON.stringify({ ...base, service: `svc-${i % 1500}`, name: `op ${(i * 7) % 2100}`, kind: i % 2 ? 'SERVER' : 'SERVEr' });
      expect(scanned(line, reader)).toEqual(parsed(line));
    }
  });

  it("reads right when one reader meets lines in ingest's key order and in others, one after the other", () => {
    const reader = new SpanLineReader();
    const { traceId, spanId, name, kind, service, startTime, endTime, durationNanos, status } = base;
    const lines = [
      JSON.stringify({ ...base, parentSpanId: '1112131415161718' }),
      JSON.stringify({ status, durationNanos, endTime, startTime, service, kind, name, spanId, traceId }),
      JSON.stringify({ traceId, name, service, kind, spanId, durationNanos: 3, startTime, status }),
      JSON.stringify(base),
      JSON.stringify({ spanId, traceId, kind, name: 'other', service, startTime, endTime, durationNanos, status }),
    ];
    for (const line of [...lines, ...lines]) expect(scanned(line, reader)).toEqual(parsed(line));
  });

  it('leaves to JSON.parse every line it does not fully understand (then the old result or error follows)', () => {
    const line = JSON.stringify(base);
    const refused = [
      line.slice(0, line.length - 1), // truncated
      line.slice(0, 120), // truncated before the needed fields are all read
      JSON.stringify({ ...base, status: null }),
      JSON.stringify({ ...base, durationNanos: '100' }),
      JSON.stringify({ ...base, service: 42 }),
      JSON.stringify({ ...base, startTime: undefined }),
      JSON.stringify([base]),
      'not json at all',
    ];
    for (const l of refused) expect(scanned(l)).toBeUndefined();
  });
});

function task(frames: Buffer[], exemplars = 5): AggregateTask {
  return aggregateTask(frames, { exemplars });
}

function spanAt(ms: number, durationNanos: number, service = 'cart') {
  return { ...base, traceId: randomBytes(16).toString('hex'), service, startTime: nanosToIso(BigInt(ms) * 1_000_000n + 7n), durationNanos };
}

describe('pane worker on the fast path', () => {
  it('counts nothing of a message with one bad line (the whole message is a bad message, as before)', () => {
    const good = [spanAt(1_700_000_000_000, 5e6), spanAt(1_700_000_000_001, 6e6)].map((s) => JSON.stringify(s));
    const bad = SpanBatchCodec.encodeLines(Buffer.from(`${good.join('\n')}\n${good[0].slice(0, 200)}\n`));
    const ok = SpanBatchCodec.encodeLines(Buffer.from(`${good.join('\n')}\n`));
    const r = run(task([bad, ok])) as AggregateResult;
    expect(r.badMessages).toBe(1);
    expect(r.spans).toBe(2);
    expect(r.groups.map((g) => g.stats.count)).toEqual([2]);
  });

  it('keeps exactly the slowest exemplars of thousands of spans (ties by trace id), as sorting them all does', () => {
    const spans = Array.from({ length: 5000 }, (_, i) => spanAt(1_700_000_000_000 + (i % 4000), 1e6 * (1 + ((i * 7919) % 300))));
    const frames = [];
    for (let i = 0; i < spans.length; i += 100) frames.push(SpanBatchCodec.encode(spans.slice(i, i + 100) as never));
    const r = run(task(frames)) as AggregateResult;
    const expected = topExemplars(
      spans.map((s) => ({ traceId: s.traceId, durationNanos: s.durationNanos })),
      5,
    );
    expect(r.groups).toHaveLength(1);
    expect(r.groups[0].stats.exemplars).toEqual(expected);
    expect(r.groups[0].stats.count).toBe(5000);
    expect(r.groups[0].stats.errorCount).toBe(5000);
  });
});

describe('pane worker lz4 frames', () => {
  const spans = [spanAt(1_700_000_000_000, 5e6), spanAt(1_700_000_000_001, 6e6, 'search')];
  const ndjson = Buffer.from(spans.map((s) => JSON.stringify(s)).join('\n') + '\n');
  const compressed = SpanBatchCodec.encodeLines(ndjson);
  // The same lines as one stored (uncompressed) block: the frame shape lz4 writes for incompressible input.
  const size = Buffer.alloc(4);
  size.writeUInt32LE((ndjson.length | 0x80000000) >>> 0, 0);
  const stored = Buffer.concat([compressed.subarray(0, 7), size, ndjson, Buffer.alloc(4)]);

  it('reads a compressed block and a stored block alike, and a corrupt or oversized frame is a bad message', () => {
    const a = run(task([compressed])) as AggregateResult;
    const b = run(task([stored])) as AggregateResult;
    expect(a.spans).toBe(2);
    expect(b).toEqual(a);
    const corrupt = Buffer.from(compressed);
    corrupt.writeUInt32LE(compressed.length, 7); // block size past the frame's end
    const tooBig = { ...task([compressed]), maxBytes: ndjson.length - 1 };
    expect((run(task([corrupt])) as AggregateResult).badMessages).toBe(1);
    expect((run(tooBig) as AggregateResult).badMessages).toBe(1);
  });
});
