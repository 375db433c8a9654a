import { ensureIndexTemplates, NormalizedSpan } from '../../shared/src';
import { TestContext, uniqueName, waitFor } from '../../shared/testing';
import { startIndexer } from '../../indexer/test/helpers';
import { JAEGER_PROTO_CONTENT_TYPE, JaegerSpanType } from '../src/formats/jaeger-proto';
import { JAEGER_JSON_CONTENT_TYPE } from '../src/formats/jaeger-json';
import { ingestTopics, spansOf, startIngest } from './helpers';

const hex = (n: number, bytes: number) => n.toString(16).padStart(bytes * 2, '0');
const iso = (ns: bigint) =>
  `${new Date(Number(ns / 1_000_000n)).toISOString().slice(0, 19)}.${String(ns % 1_000_000_000n).padStart(9, '0')}Z`;

/** A jaeger.api_v2.Span as the Jaeger collector's Kafka writer produces it: protobuf from the official model.proto, process inline. */
function jaegerSpan(traceId: string, spanId: string, startNs: bigint, over: Record<string, unknown> = {}): Buffer {
  const obj = {
    traceId: Buffer.from(traceId, 'hex'),
    spanId: Buffer.from(spanId, 'hex'),
    operationName: 'HTTP GET /dispatch',
    references: [{ traceId: Buffer.from(traceId, 'hex'), spanId: Buffer.from(hex(7, 8), 'hex'), refType: 0 }],
    flags: 1,
    startTime: { seconds: Number(startNs / 1_000_000_000n), nanos: Number(startNs % 1_000_000_000n) },
    duration: { seconds: 0, nanos: 2_500_000 },
    tags: [
      { key: 'span.kind', vStr: 'server' },
      { key: 'http.status_code', vType: 2, vInt64: 503 },
      { key: 'error', vType: 1, vBool: true },
    ],
    logs: [
      {
        timestamp: { seconds: Number(startNs / 1_000_000_000n), nanos: Number(startNs % 1_000_000_000n) },
        fields: [
          { key: 'event', vStr: 'dispatch' },
          { key: 'customer', vStr: '123' },
        ],
      },
    ],
    process: { serviceName: 'frontend', tags: [{ key: 'hostname', vStr: 'host-1' }] },
    ...over,
  };
  return Buffer.from(JaegerSpanType.encode(JaegerSpanType.fromObject(obj)).finish());
}

/** The same span in Jaeger's jsonpb JSON (ids base64, RFC 3339 start, seconds duration). */
function jaegerJson(traceId: string, spanId: string, startNs: bigint, over: Record<string, unknown> = {}): Buffer {
  return Buffer.from(
    JSON.stringify({
      traceId: Buffer.from(traceId, 'hex').toString('base64'),
      spanId: Buffer.from(spanId, 'hex').toString('base64'),
      operationName: 'redis GET',
      references: [{ traceId: Buffer.from(traceId, 'hex').toString('base64'), spanId: Buffer.from(hex(7, 8), 'hex').toString('base64') }],
      flags: 1,
      startTime: iso(startNs),
      duration: '0.000750s',
      tags: [
        { key: 'span.kind', vStr: 'client' },
        { key: 'otel.status_code', vStr: 'OK' },
        { key: 'db.system', vStr: 'redis' },
      ],
      process: { serviceName: 'redis', tags: [{ key: 'ip', vStr: '10.0.0.3' }] },
      ...over,
    }),
  );
}

/** A zipkin2 v2 JSON span, by zipkin-api's published format (µs times, hex ids, endpoints). */
function zipkinSpan(traceId: string, id: string, startNs: bigint, over: Record<string, unknown> = {}) {
  return {
    traceId,
    id,
    parentId: hex(7, 8),
    name: 'get /route',
    kind: 'CLIENT',
    timestamp: Number(startNs / 1000n),
    duration: 1200,
    localEndpoint: { serviceName: 'route', ipv4: '10.0.0.4' },
    remoteEndpoint: { serviceName: 'mysql', port: 3306 },
    annotations: [{ timestamp: Number(startNs / 1000n) + 10, value: 'cs' }],
    tags: { 'sql.query': 'select 1' },
    ...over,
  };
}

describe('input formats on the real Kafka', () => {
  const ctx = new TestContext();
  afterAll(() => ctx.cleanup());

  it('Jaeger protobuf and JSON and Zipkin v2 JSON (MPLP_INGEST_ENCODING=auto) arrive normalized with every field right, in the validated topic and in Elasticsearch; a bad span of each goes to the DLQ alone, as it came', async () => {
    const { raw, validated, dlq, env } = await ingestTopics(ctx);
    await startIngest(ctx, env);
    const now = BigInt(Date.now()) * 1_000_000n + 123n;
    const trace = hex(Date.now(), 16);
    const good = [
      { value: jaegerSpan(trace, hex(1, 8), now), headers: { 'content-type': JAEGER_PROTO_CONTENT_TYPE } },
      { value: jaegerJson(trace, hex(2, 8), now) },
      {
        value: Buffer.from(JSON.stringify([zipkinSpan(trace, hex(3, 8), now), zipkinSpan(trace, hex(4, 8), now, { name: '' })])),
        headers: { 'content-type': 'application/json' },
      },
    ];
    const badJaegerProto = jaegerSpan(trace, hex(5, 8), now, { traceId: Buffer.alloc(16) });
    const badJaegerJson = jaegerJson(trace, hex(6, 8), now, { startTime: '2000-01-01T00:00:00Z' });
    const producer = await ctx.producer();
    await producer.send({
      topic: raw,
      messages: [...good, { value: badJaegerProto, headers: { 'content-type': JAEGER_PROTO_CONTENT_TYPE } }, { value: badJaegerJson }],
    });
    const ok = await ctx.collect(validated);
    const dead = await ctx.collect(dlq);
    const spans = await waitFor(
      '3 normalized spans',
      () => {
        const s = spansOf(ok.messages);
        return s.length >= 3 ? s : undefined;
      },
      { timeoutMs: 60_000 },
    );
    await waitFor('3 dead letters', () => dead.messages.length >= 3, { timeoutMs: 60_000 });
    const byId = Object.fromEntries(spans.map((s) => [s.spanId, s]));
    expect(Object.keys(byId).sort()).toEqual([hex(1, 8), hex(2, 8), hex(3, 8)]);
    const events = (name: string, attributes: Record<string, unknown> = {}) => [{ time: iso(now), name, attributes }];
    expect(byId[hex(1, 8)]).toEqual({
      traceId: trace,
      spanId: hex(1, 8),
      parentSpanId: hex(7, 8),
      name: 'HTTP GET /dispatch',
      kind: 'SERVER',
      service: 'frontend',
      startTime: iso(now),
      endTime: iso(now + 2_500_000n),
      durationNanos: 2_500_000,
      status: { code: 'ERROR' },
      attributes: { 'http.status_code': 503 },
      resource: { 'service.name': 'frontend', hostname: 'host-1' },
      scope: { name: '' },
      events: events('dispatch', { customer: '123' }),
      links: [],
    });
    expect(byId[hex(2, 8)]).toEqual({
      traceId: trace,
      spanId: hex(2, 8),
      parentSpanId: hex(7, 8),
      name: 'redis GET',
      kind: 'CLIENT',
      service: 'redis',
      startTime: iso(now),
      endTime: iso(now + 750_000n),
      durationNanos: 750_000,
      status: { code: 'OK' },
      attributes: { 'db.system': 'redis' },
      resource: { 'service.name': 'redis', ip: '10.0.0.3' },
      scope: { name: '' },
      events: [],
      links: [],
    });
    const zipkinStart = (now / 1000n) * 1000n;
    expect(byId[hex(3, 8)]).toEqual({
      traceId: trace,
      spanId: hex(3, 8),
      parentSpanId: hex(7, 8),
      name: 'get /route',
      kind: 'CLIENT',
      service: 'route',
      startTime: iso(zipkinStart),
      endTime: iso(zipkinStart + 1_200_000n),
      durationNanos: 1_200_000,
      status: { code: 'UNSET' },
      attributes: { 'sql.query': 'select 1', 'net.host.ip': '10.0.0.4', 'peer.service': 'mysql', 'net.peer.port': 3306 },
      resource: { 'service.name': 'route' },
      scope: { name: '' },
      events: [{ time: iso(zipkinStart + 10_000n), name: 'cs', attributes: {} }],
      links: [],
    });
    for (const m of ok.messages) expect(m.key!.toString()).toBe(trace);
    // Indexed like any other span: Elasticsearch holds the same three documents.
    const prefix = ctx.indexPrefix('test-fmt');
    await ensureIndexTemplates(ctx.es(), prefix);
    await startIndexer(ctx, {
      ...env,
      MPLP_INDEXER_TOPICS: 'spans',
      MPLP_INDEX_PREFIX: prefix,
      MPLP_INDEXER_GROUP_ID: uniqueName('test-fmt-indexer'),
      MPLP_INDEXER_HTTP_PORT: '0',
      MPLP_INDEXER_QUERY_PORT: '0',
      MPLP_INDEXER_UI_LIVE: 'false',
    });
    const es = ctx.es();
    const docs = await waitFor(
      '3 spans in Elasticsearch',
      async () => {
        await es.indices.refresh({ index: `${prefix}-traces-*`, ignore_unavailable: true, allow_no_indices: true } as never);
        const r = await es.search<NormalizedSpan>({
          index: `${prefix}-traces-*`,
          size: 10,
          query: { term: { traceId: trace } },
          ignore_unavailable: true,
          allow_no_indices: true,
        } as never);
        const found = r.hits.hits.map((h) => h._source!);
        return found.length >= 3 ? found : undefined;
      },
      { timeoutMs: 60_000 },
    );
    expect(Object.fromEntries(docs.map((d) => [d.spanId, d]))).toEqual(byId);

    const letters = Object.fromEntries(
      dead.messages.map((m) => [m.headers!['mplp-error-code']!.toString() + ':' + (m.headers!['content-type']?.toString() ?? ''), m]),
    );
    expect(Object.keys(letters).sort()).toEqual(
      [`name:application/json`, `timestamps:${JAEGER_JSON_CONTENT_TYPE}`, `trace_id:${JAEGER_PROTO_CONTENT_TYPE}`].sort(),
    );
    for (const m of dead.messages) {
      expect(m.headers!['mplp-spans']!.toString()).toBe('1');
      expect(m.headers!['mplp-source']!.toString()).toMatch(new RegExp(`^${raw.replace(/\./g, '\\.')}/\\d+/\\d+$`));
      expect(m.headers!['mplp-error']!.toString().length).toBeGreaterThan(5);
    }
    expect(letters[`trace_id:${JAEGER_PROTO_CONTENT_TYPE}`].value).toEqual(badJaegerProto);
    expect(letters[`timestamps:${JAEGER_JSON_CONTENT_TYPE}`].value).toEqual(badJaegerJson);
    expect(JSON.parse(letters['name:application/json'].value!.toString())).toEqual([zipkinSpan(trace, hex(4, 8), now, { name: '' })]);
  });

  it('MPLP_INGEST_ENCODING=jaeger_proto reads Jaeger protobuf without a content-type header (as the Jaeger collector writes it), in a pool thread', async () => {
    const { raw, validated, env } = await ingestTopics(ctx, { MPLP_INGEST_ENCODING: 'jaeger_proto', MPLP_INGEST_WORKER_THREADS: '1' });
    await startIngest(ctx, env);
    const now = BigInt(Date.now()) * 1_000_000n;
    const trace = hex(Date.now() + 1, 16);
    const producer = await ctx.producer();
    await producer.send({ topic: raw, messages: [1, 2, 3].map((i) => ({ key: trace, value: jaegerSpan(trace, hex(i, 8), now) })) });
    const ok = await ctx.collect(validated);
    const spans = await waitFor(
      '3 spans',
      () => {
        const s = spansOf(ok.messages);
        return s.length >= 3 ? s : undefined;
      },
      { timeoutMs: 60_000 },
    );
    expect(spans.map((s) => s.spanId).sort()).toEqual([hex(1, 8), hex(2, 8), hex(3, 8)]);
    for (const s of spans)
      expect(s).toMatchObject({ traceId: trace, service: 'frontend', kind: 'SERVER', status: { code: 'ERROR' }, durationNanos: 2_500_000 });
  });
});
