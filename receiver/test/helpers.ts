import path from 'node:path';
import { spawn } from 'node:child_process';
import { context, trace, SpanKind, SpanStatusCode, ROOT_CONTEXT } from '@opentelemetry/api';
import {
  BasicTracerProvider,
  BatchSpanProcessor,
  InMemorySpanExporter,
  ReadableSpan,
  SimpleSpanProcessor,
  SpanExporter,
} from '@opentelemetry/sdk-trace-base';
import { resourceFromAttributes } from '@opentelemetry/resources';
import type * as grpc from '@grpc/grpc-js';
import type { ISocketFactory } from 'kafkajs';
import { TestContext, uniqueName } from '../../shared/testing';
import type { NormalizedSpan } from '../../shared/src';
import { createReceiver, Receiver, TRACE_SERVICE } from '../src';

/** Starts a receiver in this process on free ports, writing to `raw`; stopped at cleanup. */
export async function startReceiver(
  ctx: TestContext,
  raw: string,
  env: Record<string, string> = {},
  socketFactory?: ISocketFactory,
): Promise<Receiver> {
  const { service } = createReceiver(
    {
      ...process.env,
      MPLP_TOPIC_RAW: raw,
      MPLP_RECEIVER_HTTP_PORT: '0',
      MPLP_RECEIVER_GRPC_PORT: '0',
      MPLP_RECEIVER_OPS_PORT: '0',
      MPLP_LOG_LEVEL: 'warn',
      ...env,
    },
    {},
    { kafkaSocketFactory: socketFactory },
  );
  await service.start();
  ctx.defer(() => service.stop());
  return service;
}

/**
 * Drives the real OpenTelemetry SDK: `traces` traces of 5 spans each (every attribute type,
 * events, links, status, the five kinds), exported through `exporter` by a BatchSpanProcessor;
 * returns the spans as the SDK recorded them, to compare with what comes out of the pipeline.
 */
export async function exportSdkTraces(exporter: SpanExporter, traces: number, service = uniqueName('svc')): Promise<SdkSpanView[]> {
  const memory = new InMemorySpanExporter();
  const provider = new BasicTracerProvider({
    resource: resourceFromAttributes({ 'service.name': service, 'service.version': '1.2.3', 'host.cores': 2 }),
    spanProcessors: [
      new SimpleSpanProcessor(memory),
      new BatchSpanProcessor(exporter, { maxExportBatchSize: 512, scheduledDelayMillis: 60_000 }),
    ],
  });
  const tracer = provider.getTracer('test-lib', '0.9.0');
  for (let i = 0; i < traces; i++) {
    const root = tracer.startSpan(
      `POST /checkout/${i}`,
      {
        kind: SpanKind.SERVER,
        attributes: { 'http.method': 'POST', 'http.status_code': 500, ratio: 0.25, ok: false, tags: ['a', 'b'], ports: [1, 2] },
      },
      ROOT_CONTEXT,
    );
    root.addEvent('exception', { 'exception.type': 'Boom' });
    root.setStatus({ code: SpanStatusCode.ERROR, message: 'payment failed' });
    const parent = trace.setSpan(context.active(), root);
    tracer
      .startSpan('charge', { kind: SpanKind.CLIENT, links: [{ context: root.spanContext(), attributes: { why: 'retry' } }] }, parent)
      .end();
    tracer.startSpan('publish', { kind: SpanKind.PRODUCER }, parent).end();
    tracer.startSpan('consume', { kind: SpanKind.CONSUMER }, parent).end();
    tracer.startSpan('internal', {}, parent).end();
    root.end();
  }
  await provider.forceFlush();
  await provider.shutdown();
  return memory.getFinishedSpans().map(spanView);
}

/** What the pipeline must reproduce of an SDK span (plain data, so a child process can print it). */
export interface SdkSpanView {
  traceId: string;
  spanId: string;
  parentSpanId?: string;
  name: string;
  kind: number;
  startTime: [number, number];
  endTime: [number, number];
  attributes: Record<string, unknown>;
  resource: Record<string, unknown>;
  status: { code: number; message?: string };
  events: { name: string; attributes: Record<string, unknown> }[];
  links: { traceId: string; spanId: string; attributes: Record<string, unknown> }[];
}

export function spanView(s: ReadableSpan): SdkSpanView {
  return {
    traceId: s.spanContext().traceId,
    spanId: s.spanContext().spanId,
    parentSpanId: s.parentSpanContext?.spanId,
    name: s.name,
    kind: s.kind,
    startTime: s.startTime,
    endTime: s.endTime,
    attributes: { ...s.attributes },
    resource: { ...s.resource.attributes },
    status: { code: s.status.code, message: s.status.message },
    events: s.events.map((e) => ({ name: e.name, attributes: { ...(e.attributes ?? {}) } })),
    links: s.links.map((l) => ({ traceId: l.context.traceId, spanId: l.context.spanId, attributes: { ...(l.attributes ?? {}) } })),
  };
}

const ns = (t: [number, number]) => BigInt(t[0]) * 1_000_000_000n + BigInt(t[1]);
const iso = (t: [number, number]) => `${new Date(t[0] * 1000).toISOString().slice(0, 19)}.${String(t[1]).padStart(9, '0')}Z`;
const KINDS = ['INTERNAL', 'SERVER', 'CLIENT', 'PRODUCER', 'CONSUMER'];

/** Every field of every SDK span, as the validated topic must carry it. */
export function expectSameSpans(out: NormalizedSpan[], sdk: SdkSpanView[]): void {
  expect(out).toHaveLength(sdk.length);
  const byId = new Map(out.map((s) => [s.spanId, s]));
  for (const s of sdk) {
    const got = byId.get(s.spanId);
    expect(got).toBeDefined();
    expect(got).toMatchObject({
      traceId: s.traceId,
      name: s.name,
      kind: KINDS[s.kind],
      service: s.resource['service.name'],
      startTime: iso(s.startTime),
      endTime: iso(s.endTime),
      durationNanos: Number(ns(s.endTime) - ns(s.startTime)),
      attributes: s.attributes,
      resource: s.resource,
      scope: { name: 'test-lib', version: '0.9.0' },
      status: s.status.code === SpanStatusCode.ERROR ? { code: 'ERROR', message: s.status.message } : { code: 'UNSET' },
      events: s.events,
      links: s.links,
    });
    expect(got!.parentSpanId).toBe(s.parentSpanId);
  }
}

/**
 * Runs an official OTLP exporter in a child node process (otel-export-client.js): the HTTP
 * exporters load node:http with a dynamic import(), which jest's module sandbox cannot run.
 * Resolves with the spans the SDK recorded and the export's result code.
 */
export function exportFromChild(
  ctx: TestContext,
  args: { kind: 'proto' | 'http' | 'grpc'; url: string; token?: string; compression: string; traces: number; timeoutMillis?: number },
): Promise<{ spans: SdkSpanView[]; failed: number }> {
  const child = spawn(process.execPath, [path.join(__dirname, 'otel-export-client.js'), JSON.stringify(args)], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  ctx.defer(() => {
    if (child.exitCode === null) child.kill('SIGKILL');
  });
  let out = '';
  let err = '';
  child.stdout!.on('data', (d) => {
    out += d;
  });
  child.stderr!.on('data', (d) => {
    err += d;
  });
  return new Promise((resolve, reject) =>
    child.on('exit', (code) => (code === 0 ? resolve(JSON.parse(out)) : reject(new Error(`export client exited ${code}: ${err}`)))),
  );
}

/** One raw TraceService/Export call (the body as bytes, no client-side encoding): the error, or the response bytes. */
export function grpcExport(
  client: grpc.Client,
  body: Buffer,
  metadata: grpc.Metadata,
): Promise<{ err: grpc.ServiceError | null; res?: Buffer }> {
  return new Promise((resolve) =>
    client.makeUnaryRequest(
      TRACE_SERVICE.Export.path,
      (b: Buffer) => b,
      (b: Buffer) => b,
      body,
      metadata,
      (err, res) => resolve({ err, res }),
    ),
  );
}
