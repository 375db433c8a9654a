import { context, trace, SpanKind, SpanStatusCode, ROOT_CONTEXT } from '@opentelemetry/api';
import { BasicTracerProvider, InMemorySpanExporter, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { JsonTraceSerializer, ProtobufTraceSerializer } from '@opentelemetry/otlp-transformer';
import { TestContext, waitFor } from '../../shared/testing';
import { HEADER_SPAN_SUMMARY, SpanBatchCodec, SpanSummaryReader, SummaryFields } from '../../shared/src';
import { encodeRequestProtobuf } from '../src/otlp-decoder';
import { ingestTopics, librdkafkaForTests, spansOf, startIngest } from './helpers';

/** Spans made by the real OpenTelemetry JS SDK, with every attribute type, events, links, status and kinds. */
function sdkSpans() {
  const exporter = new InMemorySpanExporter();
  const provider = new BasicTracerProvider({
    resource: resourceFromAttributes({ 'service.name': 'checkout', 'service.version': '1.2.3', 'host.cores': 2 }),
    spanProcessors: [new SimpleSpanProcessor(exporter)],
  });
  const tracer = provider.getTracer('test-lib', '0.9.0');
  const root = tracer.startSpan(
    'POST /checkout',
    {
      kind: SpanKind.SERVER,
      attributes: { 'http.method': 'POST', 'http.status_code': 500, ratio: 0.25, ok: false, tags: ['a', 'b'], ports: [1, 2] },
    },
    ROOT_CONTEXT,
  );
  root.addEvent('exception', { 'exception.type': 'Boom' });
  root.setStatus({ code: SpanStatusCode.ERROR, message: 'payment failed' });
  const child = tracer.startSpan(
    'charge',
    { kind: SpanKind.CLIENT, links: [{ context: root.spanContext(), attributes: { why: 'retry' } }] },
    trace.setSpan(context.active(), root),
  );
  child.end();
  tracer.startSpan('publish', { kind: SpanKind.PRODUCER }, trace.setSpan(context.active(), root)).end();
  tracer.startSpan('consume', { kind: SpanKind.CONSUMER }, trace.setSpan(context.active(), root)).end();
  tracer.startSpan('internal', {}, trace.setSpan(context.active(), root)).end();
  root.end();
  return exporter.getFinishedSpans();
}

describe('ingest worker on the real Kafka', () => {
  const ctx = new TestContext();
  afterAll(() => ctx.cleanup());

  it.each([
    ['protobuf', 'application/x-protobuf', '0', 'librdkafka'],
    ['json', 'application/json', '0', 'kafkajs'],
    ['protobuf', 'application/x-protobuf', '1', 'librdkafka'],
    ['json', 'application/json', '1', 'kafkajs'],
  ])(
    'normalizes spans serialized by the OpenTelemetry SDK (%s, content-type %s, %s decode threads, produced with %s) with every field right',
    async (encoding, contentType, threads, producerKind) => {
      if (producerKind === 'librdkafka' && !librdkafkaForTests()) return;
      const { raw, validated, env } = await ingestTopics(ctx, {
        MPLP_INGEST_WORKER_THREADS: threads,
        MPLP_INGEST_SPAN_SUMMARY: 'true',
        MPLP_INGEST_PRODUCER: producerKind,
        // librdkafka produces only without transactions (they use kafkajs transactional producers).
        ...(producerKind === 'librdkafka' ? { MPLP_INGEST_TRANSACTIONS: 'false' } : {}),
      });
      const ingest = await startIngest(ctx, env);
      expect(ingest.worker.producerKind).toBe(producerKind);
      const spans = sdkSpans();
      const value = Buffer.from(
        encoding === 'protobuf' ? ProtobufTraceSerializer.serializeRequest(spans)! : JsonTraceSerializer.serializeRequest(spans)!,
      );
      const producer = await ctx.producer();
      await producer.send({ topic: raw, messages: [{ value, headers: { 'content-type': contentType } }] });
      const { messages } = await ctx.collect(validated);
      const out = await waitFor(
        '5 normalized spans',
        () => {
          const s = spansOf(messages);
          return s.length >= 5 ? s : undefined;
        },
        { timeoutMs: 60_000 },
      );
      expect(out).toHaveLength(5);
      const traceId = spans[0].spanContext().traceId;
      for (const m of messages) expect(m.key!.toString()).toBe(traceId);
      for (const m of messages) expect(m.headers!['mplp-format']!.toString()).toBe('ndjson/1');
      // Each record's span summary (what the aggregator counts) holds exactly its spans' window fields.
      for (const m of messages) {
        const reader = new SpanSummaryReader();
        const slots: SummaryFields[] = [];
        const n = reader.read(m.headers![HEADER_SPAN_SUMMARY] as Buffer, slots);
        expect(slots.slice(0, n).map((f) => [f.service, f.name, f.kind, f.durationNanos, reader.traceId(f)])).toEqual(
          SpanBatchCodec.decode(m.value!).map((s) => [s.service, s.name, s.kind, s.durationNanos, s.traceId]),
        );
      }

      const sdkRoot = spans.find((s) => s.name === 'POST /checkout')!;
      const root = out.find((s) => s.name === 'POST /checkout')!;
      const ns = (t: [number, number]) => BigInt(t[0]) * 1_000_000_000n + BigInt(t[1]);
      expect(root).toMatchObject({
        traceId,
        spanId: sdkRoot.spanContext().spanId,
        kind: 'SERVER',
        service: 'checkout',
        durationNanos: Number(ns(sdkRoot.endTime) - ns(sdkRoot.startTime)),
        status: { code: 'ERROR', message: 'payment failed' },
        attributes: { 'http.method': 'POST', 'http.status_code': 500, ratio: 0.25, ok: false, tags: ['a', 'b'], ports: [1, 2] },
        resource: { 'service.name': 'checkout', 'service.version': '1.2.3', 'host.cores': 2 },
        scope: { name: 'test-lib', version: '0.9.0' },
        events: [{ name: 'exception', attributes: { 'exception.type': 'Boom' } }],
      });
      expect(root.parentSpanId).toBeUndefined();
      const iso = (t: [number, number]) => `${new Date(t[0] * 1000).toISOString().slice(0, 19)}.${String(t[1]).padStart(9, '0')}Z`;
      expect(root.startTime).toBe(iso(sdkRoot.startTime));
      expect(root.endTime).toBe(iso(sdkRoot.endTime));
      const kinds = Object.fromEntries(out.map((s) => [s.name, s.kind]));
      expect(kinds).toEqual({
        'POST /checkout': 'SERVER',
        charge: 'CLIENT',
        publish: 'PRODUCER',
        consume: 'CONSUMER',
        internal: 'INTERNAL',
      });
      const charge = out.find((s) => s.name === 'charge')!;
      expect(charge.parentSpanId).toBe(root.spanId);
      expect(charge.links).toEqual([{ traceId, spanId: root.spanId, attributes: { why: 'retry' } }]);
      expect(charge.status).toEqual({ code: 'UNSET' });
    },
  );

  it('routes every class of bad input to the DLQ with its code and keeps consuming', async () => {
    const { raw, validated, dlq, env } = await ingestTopics(ctx, {
      MPLP_INGEST_MAX_MESSAGE_BYTES: '4096',
      MPLP_INGEST_MAX_ATTRIBUTE_VALUE_LENGTH: '100',
    });
    await startIngest(ctx, env);
    const now = BigInt(Date.now()) * 1_000_000n;
    const span = (over: Record<string, unknown>) => ({
      traceId: Buffer.from('5b8efff798038103d269b633813fc60c', 'hex'),
      spanId: Buffer.from('eee19b7ec3c1b174', 'hex'),
      name: 'op',
      startTimeUnixNano: String(now),
      endTimeUnixNano: String(now + 10n),
      ...over,
    });
    const req = (s: Record<string, unknown>) =>
      encodeRequestProtobuf({
        resourceSpans: [{ resource: { attributes: [{ key: 'service.name', value: { stringValue: 'x' } }] }, scopeSpans: [{ spans: [s] }] }],
      });
    const good = req(span({}));
    const bad: [string, Buffer][] = [
      ['decode', good.subarray(0, good.length - 5)],
      ['decode', Buffer.from('{"resourceSpans": [}')],
      ['trace_id', req(span({ traceId: Buffer.alloc(15, 1) }))],
      ['span_id', req(span({ spanId: Buffer.alloc(8) }))],
      ['timestamps', req(span({ endTimeUnixNano: String(now - 1n) }))],
      ['timestamps', req(span({ startTimeUnixNano: '1000', endTimeUnixNano: '2000' }))],
      ['timestamps', req(span({ startTimeUnixNano: String(now + 10n ** 15n), endTimeUnixNano: String(now + 10n ** 15n) }))],
      ['empty', Buffer.alloc(0)],
      ['too_large', Buffer.concat([Buffer.from('{"resourceSpans":[],"pad":"'), Buffer.alloc(8000, 0x61), Buffer.from('"}')])],
    ];
    const producer = await ctx.producer();
    await producer.send({ topic: raw, messages: bad.map(([, value]) => ({ value })) });
    await producer.send({
      topic: raw,
      messages: [
        {
          value: req(
            span({ spanId: Buffer.from('00000000000000aa', 'hex'), attributes: [{ key: '__proto__', value: { stringValue: 'x' } }] }),
          ),
        },
      ],
    });
    // Capped, not rejected: too many attributes, a too long value, and no service.name at all.
    const capped = encodeRequestProtobuf({
      resourceSpans: [
        {
          resource: { attributes: [] },
          scopeSpans: [
            {
              spans: [
                span({
                  spanId: Buffer.from('00000000000000bb', 'hex'),
                  attributes: [
                    { key: 'long', value: { stringValue: 'y'.repeat(150) } },
                    ...Array.from({ length: 130 }, (_, i) => ({ key: `k${i}`, value: { intValue: i } })),
                  ],
                }),
              ],
            },
          ],
        },
      ],
    });
    await producer.send({ topic: raw, messages: [{ value: capped }] });
    const dead = await ctx.collect(dlq);
    const ok = await ctx.collect(validated);
    await waitFor('all bad input in the DLQ', () => dead.messages.length >= bad.length, { timeoutMs: 60_000 });
    await waitFor('the good spans after them', () => spansOf(ok.messages).length >= 2, { timeoutMs: 60_000 });
    expect(dead.messages.map((m) => m.headers!['mplp-error-code']!.toString()).sort()).toEqual(bad.map(([c]) => c).sort());
    for (const m of dead.messages) {
      expect(m.headers!['mplp-error']!.toString().length).toBeGreaterThan(5);
      expect(m.headers!['mplp-source']!.toString()).toMatch(new RegExp(`^${raw.replace(/\./g, '\\.')}/\\d+/\\d+$`));
    }
    const kept = spansOf(ok.messages).find((s) => s.spanId === '00000000000000aa')!;
    const cappedSpan = spansOf(ok.messages).find((s) => s.spanId === '00000000000000bb')!;
    expect(kept.spanId).toBe('00000000000000aa');
    expect(Object.keys(kept.attributes)).toEqual(['__proto__']);
    expect(({} as Record<string, unknown>).x).toBeUndefined();
    expect(cappedSpan.spanId).toBe('00000000000000bb');
    expect(cappedSpan.service).toBe('unknown_service');
    expect(Object.keys(cappedSpan.attributes)).toHaveLength(128);
    expect(cappedSpan.attributes.long).toBe('y'.repeat(100));
    expect(cappedSpan.dropped).toEqual({ attributes: 3, events: 0, links: 0, truncatedValues: 1 });
  });
});
