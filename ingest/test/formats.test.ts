import { loadConfig } from '../../shared/src';
import { ingestSchema } from '../src/config';
import { MessageProcessor, ProcessorLimits } from '../src/message-processor';
import { encodeRequestProtobuf } from '../src/otlp-decoder';
import { FORMATS, formatOf, MessageView } from '../src/formats';
import { JAEGER_PROTO_CONTENT_TYPE, JaegerSpanType } from '../src/formats/jaeger-proto';
import { JAEGER_JSON_CONTENT_TYPE } from '../src/formats/jaeger-json';
import { sharedServerSpanId } from '../src/formats/zipkin-json';

const NOW = Date.UTC(2024, 4, 1, 12, 0, 0);
const nowSec = NOW / 1000;
const limits: ProcessorLimits = {
  maxAttributes: 128,
  maxAttributeValueLength: 8192,
  maxEvents: 128,
  maxLinks: 128,
  maxPastMs: 86400e3,
  maxFutureMs: 3600e3,
  maxMessageBytes: 64 * 1024,
  maxDlqValueBytes: 4096,
  maxAttributeKeyBytes: 1024,
  maxAttributeDepth: 16,
  maxDurationMs: 86400e3,
  maxOutputBytesPerMessage: 32 << 20,
};
const auto = new MessageProcessor(limits, () => NOW);
const forced = (encoding: ProcessorLimits['encoding']) => new MessageProcessor({ ...limits, encoding }, () => NOW);

const TRACE = '5b8efff798038103d269b633813fc60c';
const SPAN = 'eee19b7ec3c1b174';
const PARENT = 'eee19b7ec3c1b175';
const OTHER_TRACE = '0af7651916cd43dd8448eb211c80319c';
const LINKED = 'b7ad6b7169203331';
const hexBytes = (h: string) => Buffer.from(h, 'hex');
const b64 = (h: string) => hexBytes(h).toString('base64');

/** A jaeger.api_v2.Span as plain JS, fromObject's input: every field the mapping reads. */
function jaegerObject(over: Record<string, unknown> = {}) {
  return {
    traceId: hexBytes(TRACE),
    spanId: hexBytes(SPAN),
    operationName: 'GET /users',
    references: [
      { traceId: hexBytes(TRACE), spanId: hexBytes(PARENT), refType: 0 },
      { traceId: hexBytes(OTHER_TRACE), spanId: hexBytes(LINKED), refType: 1 },
    ],
    flags: 1,
    startTime: { seconds: nowSec, nanos: 123 },
    duration: { seconds: 0, nanos: 1500 },
    tags: [
      { key: 'span.kind', vStr: 'client' },
      { key: 'otel.status_code', vStr: 'ERROR' },
      { key: 'otel.status_description', vStr: 'boom' },
      { key: 'otel.scope.name', vStr: 'io.lib' },
      { key: 'otel.scope.version', vStr: '1.2' },
      { key: 'http.method', vStr: 'GET' },
      { key: 'retry', vType: 1, vBool: true },
      { key: 'big', vType: 2, vInt64: '9007199254740993' },
      { key: 'small', vType: 2, vInt64: 42 },
      { key: 'ratio', vType: 3, vFloat64: 0.25 },
      { key: 'blob', vType: 4, vBinary: Buffer.from('hi') },
    ],
    logs: [
      {
        timestamp: { seconds: nowSec, nanos: 1000 },
        fields: [
          { key: 'event', vStr: 'retrying' },
          { key: 'attempt', vType: 2, vInt64: 2 },
        ],
      },
    ],
    process: {
      serviceName: 'users',
      tags: [
        { key: 'hostname', vStr: 'h1' },
        { key: 'jaeger.version', vStr: 'Go-2.30' },
      ],
    },
    ...over,
  };
}
const jaegerProto = (over: Record<string, unknown> = {}) =>
  Buffer.from(JaegerSpanType.encode(JaegerSpanType.fromObject(jaegerObject(over))).finish());

/** The same span as the Jaeger collector's Kafka writer writes it with encoding json (jsonpb). */
function jaegerJsonObject(over: Record<string, unknown> = {}) {
  return {
    traceId: b64(TRACE),
    spanId: b64(SPAN),
    operationName: 'GET /users',
    references: [
      { traceId: b64(TRACE), spanId: b64(PARENT) },
      { traceId: b64(OTHER_TRACE), spanId: b64(LINKED), refType: 'FOLLOWS_FROM' },
    ],
    flags: 1,
    startTime: '2024-05-01T12:00:00.000000123Z',
    duration: '0.000001500s',
    tags: [
      { key: 'span.kind', vStr: 'client' },
      { key: 'otel.status_code', vStr: 'ERROR' },
      { key: 'otel.status_description', vStr: 'boom' },
      { key: 'otel.scope.name', vStr: 'io.lib' },
      { key: 'otel.scope.version', vStr: '1.2' },
      { key: 'http.method', vStr: 'GET' },
      { key: 'retry', vType: 'BOOL', vBool: true },
      { key: 'big', vType: 'INT64', vInt64: '9007199254740993' },
      { key: 'small', vType: 'INT64', vInt64: '42' },
      { key: 'ratio', vType: 'FLOAT64', vFloat64: 0.25 },
      { key: 'blob', vType: 'BINARY', vBinary: Buffer.from('hi').toString('base64') },
    ],
    logs: [
      {
        timestamp: '2024-05-01T12:00:00.000001Z',
        fields: [
          { key: 'event', vStr: 'retrying' },
          { key: 'attempt', vType: 'INT64', vInt64: '2' },
        ],
      },
    ],
    process: {
      serviceName: 'users',
      tags: [
        { key: 'hostname', vStr: 'h1' },
        { key: 'jaeger.version', vStr: 'Go-2.30' },
      ],
    },
    ...over,
  };
}

const EXPECTED_JAEGER = {
  traceId: TRACE,
  spanId: SPAN,
  parentSpanId: PARENT,
  name: 'GET /users',
  kind: 'CLIENT',
  service: 'users',
  startTime: '2024-05-01T12:00:00.000000123Z',
  endTime: '2024-05-01T12:00:00.000001623Z',
  durationNanos: 1500,
  status: { code: 'ERROR', message: 'boom' },
  attributes: { 'http.method': 'GET', retry: true, big: '9007199254740993', small: 42, ratio: 0.25, blob: 'aGk=' },
  resource: { 'service.name': 'users', hostname: 'h1', 'jaeger.version': 'Go-2.30' },
  scope: { name: 'io.lib', version: '1.2' },
  events: [{ time: '2024-05-01T12:00:00.000001000Z', name: 'retrying', attributes: { attempt: 2 } }],
  links: [{ traceId: OTHER_TRACE, spanId: LINKED, attributes: {} }],
};

function zipkinSpan(over: Record<string, unknown> = {}) {
  return {
    traceId: TRACE,
    id: SPAN,
    parentId: PARENT,
    name: 'get /users',
    kind: 'SERVER',
    timestamp: NOW * 1000 + 7,
    duration: 1500,
    localEndpoint: { serviceName: 'frontend', ipv4: '10.0.0.1', port: 8080 },
    remoteEndpoint: { serviceName: 'backend', ipv4: '10.0.0.2', port: 9000 },
    annotations: [{ timestamp: NOW * 1000 + 100, value: 'ws' }],
    tags: { 'http.path': '/users', error: 'timeout', 'otel.library.name': 'brave', 'otel.library.version': '5.13' },
    ...over,
  };
}

describe('input formats: Jaeger api_v2 protobuf', () => {
  it("maps every field the way Jaeger's OTLP translator does (content-type names Jaeger)", () => {
    const r = auto.process(jaegerProto(), JAEGER_PROTO_CONTENT_TYPE, 't/0/1');
    expect(r.format).toBe('jaeger_proto');
    expect(r.dlq).toEqual([]);
    expect(r.spans).toEqual([EXPECTED_JAEGER]);
  });

  it('is read when forced by MPLP_INGEST_ENCODING=jaeger_proto, without a content-type', () => {
    const r = forced('jaeger_proto').process(jaegerProto(), undefined, 't/0/1');
    expect(r.spans).toEqual([EXPECTED_JAEGER]);
  });

  it('an error tag without otel.status_code is status ERROR; span.kind server/producer/consumer; the error tag leaves the attributes', () => {
    for (const [kind, want] of [
      ['server', 'SERVER'],
      ['producer', 'PRODUCER'],
      ['consumer', 'CONSUMER'],
      ['internal', 'INTERNAL'],
    ]) {
      const r = forced('jaeger_proto').process(
        jaegerProto({
          references: [],
          tags: [
            { key: 'span.kind', vStr: kind },
            { key: 'error', vType: 1, vBool: true },
          ],
        }),
        undefined,
        't/0/1',
      );
      expect(r.spans[0]).toMatchObject({ kind: want, status: { code: 'ERROR' }, attributes: {}, links: [] });
      expect(r.spans[0].parentSpanId).toBeUndefined();
    }
  });

  it('a CHILD_OF reference into another trace is a link, not the parent', () => {
    const r = forced('jaeger_proto').process(
      jaegerProto({ references: [{ traceId: hexBytes(OTHER_TRACE), spanId: hexBytes(LINKED) }] }),
      undefined,
      't/0/1',
    );
    expect(r.spans[0].parentSpanId).toBeUndefined();
    expect(r.spans[0].links).toEqual([{ traceId: OTHER_TRACE, spanId: LINKED, attributes: {} }]);
  });

  it('a rejected span goes to the DLQ alone as the message it came in (the Jaeger protobuf bytes), with its code', () => {
    const bad = jaegerProto({ operationName: '' });
    const r = auto.process(bad, JAEGER_PROTO_CONTENT_TYPE, 't/0/9');
    expect(r.spans).toEqual([]);
    expect(r.dlq).toEqual([
      {
        value: bad,
        code: 'name',
        reason: 'name is empty',
        source: 't/0/9',
        truncated: false,
        spans: 1,
        contentType: JAEGER_PROTO_CONTENT_TYPE,
      },
    ]);
    const short = jaegerProto({ spanId: hexBytes('0102') });
    expect(auto.process(short, JAEGER_PROTO_CONTENT_TYPE, 't/0/9').dlq[0]).toMatchObject({ value: short, code: 'span_id' });
  });

  it('bytes that are not a Jaeger span go whole to the DLQ as decode', () => {
    const r = forced('jaeger_proto').process(Buffer.from([0x0a, 0xff, 0xff]), undefined, 't/0/2');
    expect(r.dlq).toMatchObject([{ code: 'decode', spans: 0 }]);
    expect(r.dlq[0].reason).toMatch(/jaeger\.api_v2\.Span/);
  });
});

describe('input formats: Jaeger api_v2 JSON (jsonpb)', () => {
  it('maps every field like the protobuf form: base64 ids, RFC 3339 times, "1.5µs" durations, vType names', () => {
    const r = auto.process(Buffer.from(JSON.stringify(jaegerJsonObject())), 'application/json', 't/0/1');
    expect(r.format).toBe('jaeger_json');
    expect(r.spans).toEqual([EXPECTED_JAEGER]);
  });

  it('detected by content alone; traceID/spanID spelling and hex ids read too', () => {
    const o = jaegerJsonObject({
      traceId: undefined,
      spanId: undefined,
      traceID: TRACE,
      spanID: SPAN,
      references: [{ traceID: TRACE, spanID: PARENT, refType: 'CHILD_OF' }],
    });
    const r = auto.process(Buffer.from(JSON.stringify(o)), undefined, 't/0/1');
    expect(r.format).toBe('jaeger_json');
    expect(r.spans[0]).toMatchObject({ traceId: TRACE, spanId: SPAN, parentSpanId: PARENT, links: [] });
  });

  it('a bad start time: the message to the DLQ as it came, code timestamps, Jaeger JSON content type', () => {
    const bad = Buffer.from(JSON.stringify(jaegerJsonObject({ startTime: 'yesterday' })));
    const r = auto.process(bad, undefined, 't/0/3');
    expect(r.spans).toEqual([]);
    expect(r.dlq).toMatchObject([{ value: bad, code: 'timestamps', spans: 1, contentType: JAEGER_JSON_CONTENT_TYPE }]);
    // The dead letter's content type brings it back to the same format.
    expect(formatOf(bad, JAEGER_JSON_CONTENT_TYPE, 'auto', new MessageView(bad)).name).toBe('jaeger_json');
  });
});

describe('input formats: Zipkin v2 JSON', () => {
  it("maps every field like the Collector's zipkin receiver: service, kind, tags, error, scope, endpoints, annotations, µs times", () => {
    const r = auto.process(Buffer.from(JSON.stringify([zipkinSpan()])), undefined, 't/0/1');
    expect(r.format).toBe('zipkin_json');
    expect(r.dlq).toEqual([]);
    expect(r.spans).toEqual([
      {
        traceId: TRACE,
        spanId: SPAN,
        parentSpanId: PARENT,
        name: 'get /users',
        kind: 'SERVER',
        service: 'frontend',
        startTime: '2024-05-01T12:00:00.000007000Z',
        endTime: '2024-05-01T12:00:00.001507000Z',
        durationNanos: 1_500_000,
        status: { code: 'ERROR', message: 'timeout' },
        attributes: {
          'http.path': '/users',
          'net.host.ip': '10.0.0.1',
          'net.host.port': 8080,
          'peer.service': 'backend',
          'net.peer.ip': '10.0.0.2',
          'net.peer.port': 9000,
        },
        resource: { 'service.name': 'frontend' },
        scope: { name: 'brave', version: '5.13' },
        events: [{ time: '2024-05-01T12:00:00.000100000Z', name: 'ws', attributes: {} }],
        links: [],
      },
    ]);
  });

  it('64-bit trace ids are widened to 128; no kind is INTERNAL; no duration ends at the start; otel.status_code OK', () => {
    const z = zipkinSpan({
      traceId: 'D269B633813FC60C',
      kind: undefined,
      duration: undefined,
      tags: { 'otel.status_code': 'OK' },
      parentId: undefined,
      remoteEndpoint: undefined,
      localEndpoint: { serviceName: 'a' },
    });
    const s = auto.process(Buffer.from(JSON.stringify([z])), 'application/json', 't/0/1').spans[0];
    expect(s).toMatchObject({
      traceId: '0000000000000000d269b633813fc60c',
      kind: 'INTERNAL',
      durationNanos: 0,
      status: { code: 'OK' },
      attributes: {},
    });
    expect(s.parentSpanId).toBeUndefined();
  });

  it('the server half of a shared span gets its own deterministic id, child of the client half', () => {
    const client = zipkinSpan({ kind: 'CLIENT', tags: {} });
    const server = zipkinSpan({ kind: 'SERVER', shared: true, tags: {}, localEndpoint: { serviceName: 'backend' } });
    const r = auto.process(Buffer.from(JSON.stringify([client, server])), undefined, 't/0/1');
    const byService = Object.fromEntries(r.spans.map((s) => [s.service, s]));
    expect(byService.frontend).toMatchObject({ spanId: SPAN, parentSpanId: PARENT, kind: 'CLIENT' });
    expect(byService.backend).toMatchObject({ spanId: sharedServerSpanId(TRACE, SPAN), parentSpanId: SPAN, kind: 'SERVER' });
    expect(byService.backend.spanId).toMatch(/^[0-9a-f]{16}$/);
  });

  it('a bad span goes to the DLQ alone as a one-span Zipkin list of it as it came; the good one goes on', () => {
    const bad = zipkinSpan({ id: 'xyz', name: 'bad one' });
    const r = auto.process(Buffer.from(JSON.stringify([zipkinSpan(), bad])), undefined, 't/0/4');
    expect(r.spans.map((s) => s.name)).toEqual(['get /users']);
    expect(r.dlq).toHaveLength(1);
    expect(r.dlq[0]).toMatchObject({ code: 'span_id', spans: 1, contentType: 'application/json', source: 't/0/4' });
    expect(JSON.parse(r.dlq[0].value.toString())).toEqual([bad]);
  });

  it('an object where a list is due is a decode error when forced', () => {
    const r = forced('zipkin_json').process(Buffer.from('{"traceId":"x"}'), undefined, 't/0/1');
    expect(r.dlq).toMatchObject([{ code: 'decode', spans: 0 }]);
  });
});

describe('input formats: detection', () => {
  const otlpJson = Buffer.from(JSON.stringify({ resourceSpans: [] }));
  const otlpProto = encodeRequestProtobuf({ resourceSpans: [] });
  const cases: [string, Buffer, string | undefined, string][] = [
    ['OTLP JSON by content', otlpJson, undefined, 'otlp_json'],
    ['OTLP JSON by content-type', otlpJson, 'application/json', 'otlp_json'],
    ['OTLP protobuf by content', Buffer.from([0x0a, 0x00]), undefined, 'otlp_proto'],
    ['OTLP protobuf by content-type', otlpProto, 'application/x-protobuf', 'otlp_proto'],
    ['Zipkin by content', Buffer.from(' [ ]'), undefined, 'zipkin_json'],
    ['Zipkin list with content-type application/json', Buffer.from('[]'), 'application/json', 'zipkin_json'],
    ['Zipkin by a content-type naming it', Buffer.from('[]'), 'application/x-zipkin+json', 'zipkin_json'],
    ['Jaeger JSON by content', Buffer.from('{"traceID":"a","spanID":"b"}'), undefined, 'jaeger_json'],
    ['Jaeger protobuf by content-type', jaegerProto(), JAEGER_PROTO_CONTENT_TYPE, 'jaeger_proto'],
    ['Jaeger protobuf without a content-type is read as OTLP (protobuf carries no type)', jaegerProto(), undefined, 'otlp_proto'],
  ];
  it.each(cases)('%s', (_what, value, ct, want) => {
    expect(formatOf(value, ct, 'auto', new MessageView(value)).name).toBe(want);
  });

  it('a forced setting wins over the content and the content-type', () => {
    for (const name of Object.keys(FORMATS) as (keyof typeof FORMATS)[]) {
      expect(formatOf(otlpJson, 'application/json', name, new MessageView(otlpJson)).name).toBe(name);
    }
  });

  it('OTLP messages keep their metric label (protobuf / json)', () => {
    expect(auto.process(otlpJson, undefined, 't/0/1').encoding).toBe('json');
    expect(auto.process(otlpProto, 'application/x-protobuf', 't/0/1').encoding).toBe('protobuf');
  });
});

describe('input formats: limits and settings', () => {
  it('a rejected Zipkin span larger than MPLP_INGEST_MAX_DLQ_VALUE_BYTES becomes a reference (source, ids, sizes)', () => {
    const bad = zipkinSpan({ name: '', tags: { big: 'x'.repeat(5000) } });
    const r = auto.process(Buffer.from(JSON.stringify([bad])), undefined, 't/1/5');
    expect(r.dlq).toHaveLength(1);
    expect(r.dlq[0]).toMatchObject({ code: 'name', truncated: true, spans: 1 });
    const ref = JSON.parse(r.dlq[0].value.toString()).mplpReference;
    expect(ref).toMatchObject({ source: 't/1/5', traceId: TRACE, spanId: SPAN, limitBytes: 4096 });
    expect(ref.bytes).toBeGreaterThan(5000);
  });

  it('MPLP_INGEST_ENCODING outside its values stops the configuration, naming it', () => {
    expect(() => loadConfig(ingestSchema, { MPLP_INGEST_ENCODING: 'thrift' })).toThrow(/MPLP_INGEST_ENCODING/);
    expect(loadConfig(ingestSchema, {}).encoding).toBe('auto');
    expect(loadConfig(ingestSchema, { MPLP_INGEST_ENCODING: 'zipkin_json' }).encoding).toBe('zipkin_json');
  });
});

describe('input formats: Zipkin ids', () => {
  it('short hex ids are left-padded as zipkin2 reads them; a 17-digit span id is rejected', () => {
    const s = auto.process(Buffer.from(JSON.stringify([zipkinSpan({ traceId: 'ABC', id: '1f', parentId: '2' })])), undefined, 't/0/1')
      .spans[0];
    expect(s).toMatchObject({ traceId: '0'.repeat(29) + 'abc', spanId: '000000000000001f', parentSpanId: '0000000000000002' });
    const r = auto.process(Buffer.from(JSON.stringify([zipkinSpan({ id: '1'.repeat(17) })])), undefined, 't/0/1');
    expect(r.dlq).toMatchObject([{ code: 'span_id' }]);
  });
});
