import { gzipSync } from 'node:zlib';
import { ExportTraceServiceRequestType } from '../../shared/src';
import { gunzipBounded, splitByTrace } from '../src/otlp-payload';
import { encodeRpcStatus } from '../src/rpc-status';
import { Reader } from 'protobufjs';

type Req = {
  resourceSpans: {
    resource?: { attributes: { key: string }[] };
    scopeSpans: { scope?: { name: string }; spans: { traceId: Uint8Array; name: string }[] }[];
  }[];
};

const T1 = 'aa'.repeat(16);
const T2 = 'bb'.repeat(16);
const span = (traceId: string, name: string) => ({ traceId: Buffer.from(traceId, 'hex'), spanId: Buffer.alloc(8, 1), name });
const proto = (o: unknown) => Buffer.from(ExportTraceServiceRequestType.encode(ExportTraceServiceRequestType.fromObject(o)).finish());

describe('splitByTrace', () => {
  it('splits a request mixing traces into one request per trace id, each with the resource and scope of its spans', () => {
    const body = proto({
      resourceSpans: [
        {
          resource: { attributes: [{ key: 'service.name', value: { stringValue: 'a' } }] },
          scopeSpans: [{ scope: { name: 's1' }, spans: [span(T1, 'x'), span(T2, 'y'), span(T1, 'z')] }],
        },
        {
          resource: { attributes: [{ key: 'service.name', value: { stringValue: 'b' } }] },
          scopeSpans: [{ scope: { name: 's2' }, spans: [span(T2, 'w')] }],
        },
      ],
    });
    const out = splitByTrace(body, 'protobuf');
    expect(out.spans).toBe(4);
    expect(out.rejectedSpans).toBe(0);
    const byKey = Object.fromEntries(out.records.map((r) => [r.key, ExportTraceServiceRequestType.decode(r.value) as Req]));
    expect(Object.keys(byKey).sort()).toEqual([T1, T2]);
    expect(byKey[T1].resourceSpans.map((rs) => rs.scopeSpans.map((ss) => [ss.scope!.name, ss.spans.map((s) => s.name)]))).toEqual([
      [['s1', ['x', 'z']]],
    ]);
    expect(byKey[T2].resourceSpans.map((rs) => rs.scopeSpans.map((ss) => [ss.scope!.name, ss.spans.map((s) => s.name)]))).toEqual([
      [['s1', ['y']]],
      [['s2', ['w']]],
    ]);
    expect(out.records.every((r) => r.contentType === 'application/x-protobuf')).toBe(true);
  });

  it('forwards a one-trace request as it came, without re-encoding', () => {
    const body = proto({ resourceSpans: [{ scopeSpans: [{ spans: [span(T1, 'x'), span(T1, 'y')] }] }] });
    const out = splitByTrace(body, 'protobuf');
    expect(out.records).toHaveLength(1);
    expect(out.records[0].value).toBe(body);
  });

  it('splits OTLP/JSON (hex ids, either field-name style) and drops spans without a valid trace id as partial success', () => {
    const body = Buffer.from(
      JSON.stringify({
        resource_spans: [
          {
            scope_spans: [
              {
                spans: [
                  { traceId: T1.toUpperCase(), name: 'x' },
                  { trace_id: T2, name: 'y' },
                  { traceId: '00'.repeat(16) },
                  { name: 'no id' },
                ],
              },
            ],
          },
        ],
      }),
    );
    const out = splitByTrace(body, 'json');
    expect(out.records.map((r) => r.key).sort()).toEqual([T1, T2]);
    expect(out.rejectedSpans).toBe(2);
    expect(out.rejectReason).toContain('trace id');
    expect(JSON.parse(out.records.find((r) => r.key === T2)!.value.toString()).resourceSpans[0].scopeSpans[0].spans).toEqual([
      { trace_id: T2, name: 'y' },
    ]);
  });

  it('refuses undecodable bodies with the code "decode" (400 / INVALID_ARGUMENT)', () => {
    expect(() => splitByTrace(Buffer.from([0x0a, 0xff, 0xff]), 'protobuf')).toThrow(expect.objectContaining({ code: 'decode' }));
    expect(() => splitByTrace(Buffer.from('[1]'), 'json')).toThrow(expect.objectContaining({ code: 'decode' }));
    expect(() => splitByTrace(Buffer.from('{"resourceSpans":{}}'), 'json')).toThrow(expect.objectContaining({ code: 'decode' }));
  });
});

describe('gunzipBounded', () => {
  it('inflates within the cap and refuses a body inflating past it as too_large', async () => {
    expect((await gunzipBounded(gzipSync(Buffer.alloc(1000, 7)), 1000)).length).toBe(1000);
    await expect(gunzipBounded(gzipSync(Buffer.alloc(64 * 1024 * 1024)), 1024 * 1024)).rejects.toMatchObject({ code: 'too_large' });
    await expect(gunzipBounded(Buffer.from('nope'), 1024)).rejects.toMatchObject({ code: 'bad_gzip' });
  });
});

describe('encodeRpcStatus', () => {
  it('encodes google.rpc.Status with a RetryInfo detail of the retry delay', () => {
    const r = Reader.create(encodeRpcStatus(14, 'down', 1500));
    const fields: Record<number, unknown> = {};
    while (r.pos < r.len) {
      const tag = r.uint32();
      if (tag >>> 3 === 1) fields[1] = r.int32();
      else fields[tag >>> 3] = r.bytes();
    }
    expect(fields[1]).toBe(14);
    expect(Buffer.from(fields[2] as Uint8Array).toString()).toBe('down');
    const any = Reader.create(fields[3] as Uint8Array);
    any.uint32();
    expect(any.string()).toBe('type.googleapis.com/google.rpc.RetryInfo');
    any.uint32();
    const retryInfo = Reader.create(any.bytes());
    retryInfo.uint32();
    const duration = Reader.create(retryInfo.bytes());
    duration.uint32();
    const seconds = duration.int64();
    duration.uint32();
    expect([Number(seconds), duration.int32()]).toEqual([1, 500_000_000]);
  });
});
