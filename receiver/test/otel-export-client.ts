/**
 * Child process of the receiver tests: makes traces with the real OpenTelemetry SDK and exports
 * them with one of the official OTLP exporters, then prints the recorded spans and how many
 * exports failed as JSON. Argument: {"kind":"proto"|"http"|"grpc" (the exporter-trace-otlp-* package),"url","token","compression","traces"}.
 */
import * as grpc from '@grpc/grpc-js';
import { OTLPTraceExporter as ProtoExporter } from '@opentelemetry/exporter-trace-otlp-proto';
import { OTLPTraceExporter as JsonExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { OTLPTraceExporter as GrpcExporter } from '@opentelemetry/exporter-trace-otlp-grpc';
import type { ReadableSpan, SpanExporter } from '@opentelemetry/sdk-trace-base';
import type { ExportResult } from '@opentelemetry/core';
import { exportSdkTraces } from './helpers';

async function main() {
  const a = JSON.parse(process.argv[2]) as {
    kind: string;
    url: string;
    token?: string;
    compression: string;
    traces: number;
    timeoutMillis?: number;
  };
  const headers: Record<string, string> = a.token ? { Authorization: `Bearer ${a.token}` } : {};
  const common = { url: a.url, compression: a.compression as never, timeoutMillis: a.timeoutMillis ?? 10_000 };
  let inner: SpanExporter;
  if (a.kind === 'proto') inner = new ProtoExporter({ ...common, headers });
  else if (a.kind === 'http') inner = new JsonExporter({ ...common, headers });
  else {
    const metadata = new grpc.Metadata();
    if (a.token) metadata.set('authorization', headers.Authorization);
    inner = new GrpcExporter({ ...common, metadata });
  }
  let failed = 0;
  const counting: SpanExporter = {
    export: (spans: ReadableSpan[], cb: (r: ExportResult) => void) =>
      inner.export(spans, (r) => {
        if (r.code !== 0) failed++;
        cb(r);
      }),
    shutdown: () => inner.shutdown(),
    forceFlush: () => inner.forceFlush?.() ?? Promise.resolve(),
  };
  const spans = await exportSdkTraces(counting, a.traces);
  process.stdout.write(JSON.stringify({ spans, failed }));
}

main().then(
  () => process.exit(0),
  (err) => {
    process.stderr.write(`${(err as Error).stack}\n`);
    process.exit(1);
  },
);
