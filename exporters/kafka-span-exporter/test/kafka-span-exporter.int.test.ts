import { ExportResult, ExportResultCode } from '@opentelemetry/core';
import { BasicTracerProvider, BatchSpanProcessor, InMemorySpanExporter, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base';
import { ROOT_CONTEXT } from '@opentelemetry/api';
import { Kafka, logLevel } from 'kafkajs';
import { TestContext, waitFor } from '../../../shared/testing';
import { ExportTraceServiceRequestType } from '../../../shared/src';
import { KafkaSpanExporter } from '../src';

type Req = { resourceSpans: { scopeSpans: { spans: { traceId: Uint8Array; spanId: Uint8Array }[] }[] }[] };

describe('KafkaSpanExporter on the real Kafka', () => {
  const ctx = new TestContext();
  afterAll(() => ctx.cleanup());

  it('flushes on shutdown(): every span of a BatchSpanProcessor in the topic once, one OTLP protobuf record per trace keyed by its id', async () => {
    const [topic] = await ctx.topics(['raw'], 3);
    const memory = new InMemorySpanExporter();
    const exporter = new KafkaSpanExporter({ kafka: ctx.kafka('kse'), topic });
    // A long schedule: nothing is exported before shutdown() flushes.
    const provider = new BasicTracerProvider({
      spanProcessors: [new SimpleSpanProcessor(memory), new BatchSpanProcessor(exporter, { scheduledDelayMillis: 600_000 })],
    });
    const tracer = provider.getTracer('t');
    for (let i = 0; i < 7; i++) {
      const root = tracer.startSpan(`root-${i}`, {}, ROOT_CONTEXT);
      tracer.startSpan('child', {}, ROOT_CONTEXT).end();
      root.end();
    }
    await provider.shutdown();
    const sdk = memory.getFinishedSpans();
    const { messages } = await ctx.collect(topic);
    const traces = new Set(sdk.map((s) => s.spanContext().traceId));
    await waitFor('one record per trace', () => messages.length >= traces.size);
    const seen: string[] = [];
    for (const m of messages) {
      expect(m.headers!['content-type']!.toString()).toBe('application/x-protobuf');
      const req = ExportTraceServiceRequestType.decode(m.value!) as Req;
      for (const s of req.resourceSpans.flatMap((r) => r.scopeSpans.flatMap((ss) => ss.spans))) {
        expect(Buffer.from(s.traceId).toString('hex')).toBe(m.key!.toString());
        seen.push(Buffer.from(s.spanId).toString('hex'));
      }
    }
    expect(messages.map((m) => m.key!.toString()).sort()).toEqual([...traces].sort());
    expect(seen.sort()).toEqual(sdk.map((s) => s.spanContext().spanId).sort());
  });

  it('forceFlush() resolves only once every export started has been acknowledged', async () => {
    const [topic] = await ctx.topics(['raw'], 1);
    const exporter = new KafkaSpanExporter({ kafka: ctx.kafka('kse-flush'), topic });
    ctx.defer(() => exporter.shutdown());
    const memory = new InMemorySpanExporter();
    const provider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(memory)] });
    for (let i = 0; i < 3; i++) provider.getTracer('t').startSpan(`s${i}`, {}, ROOT_CONTEXT).end();
    const results: ExportResult[] = [];
    for (const span of memory.getFinishedSpans()) exporter.export([span], (r) => results.push(r));
    expect(results).toHaveLength(0);
    await exporter.forceFlush();
    expect(results.map((r) => r.code)).toEqual([ExportResultCode.SUCCESS, ExportResultCode.SUCCESS, ExportResultCode.SUCCESS]);
    const admin = await ctx.admin();
    expect((await admin.fetchTopicOffsets(topic)).reduce((n, p) => n + Number(p.high), 0)).toBe(3);
  });

  it('reports a Kafka it cannot reach as FAILED through the result callback, and fails exports after shutdown', async () => {
    const unreachable = new Kafka({
      clientId: 'kse-down',
      brokers: ['127.0.0.1:1'],
      connectionTimeout: 300,
      retry: { retries: 1, initialRetryTime: 50 },
      logLevel: logLevel.NOTHING,
    });
    const exporter = new KafkaSpanExporter({ kafka: unreachable, topic: 'never', timeoutMillis: 5_000 });
    const memory = new InMemorySpanExporter();
    const provider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(memory)] });
    provider.getTracer('t').startSpan('s', {}, ROOT_CONTEXT).end();
    const spans = memory.getFinishedSpans();
    const result = await new Promise<ExportResult>((resolve) => exporter.export(spans, resolve));
    expect(result.code).toBe(ExportResultCode.FAILED);
    expect(result.error).toBeInstanceOf(Error);
    await exporter.forceFlush();
    await exporter.shutdown();
    const after = await new Promise<ExportResult>((resolve) => exporter.export(spans, resolve));
    expect(after.code).toBe(ExportResultCode.FAILED);
    expect(after.error!.message).toContain('shut down');
  });
});
