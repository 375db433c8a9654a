/**
 * Jaeger v2's Kafka → Elasticsearch ingester (its `kafka` receiver with `otlp_proto`, the
 * `jaeger_storage_exporter` into an Elasticsearch backend), run by `bench:indexer` on the same
 * spans, Kafka and Elasticsearch as the indexer when MPLP_BENCH_JAEGER=1, so Elasticsearch's cost
 * per span is compared side by side instead of against a figure from another day.
 */
import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { NormalizedSpan } from '../shared/src';
import { encodeRequestProtobuf } from '../ingest/src/otlp-decoder';
import { freePort } from '../shared/testing';
import { cpuSeconds } from './pipeline/probes';

/** The binary scripts/cluster/jaeger.sh builds (once, from the Go module proxy) and caches. */
export function jaegerBinary(): string {
  const script = path.resolve(__dirname, '..', '..', 'scripts', 'cluster', 'jaeger.sh');
  return execFileSync('bash', [script, 'path'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] }).trim();
}

const KINDS: Record<string, number> = { INTERNAL: 1, SERVER: 2, CLIENT: 3, PRODUCER: 4, CONSUMER: 5 };
const STATUS: Record<string, number> = { UNSET: 0, OK: 1, ERROR: 2 };

function anyValue(v: unknown): Record<string, unknown> {
  if (typeof v === 'string') return { stringValue: v };
  if (typeof v === 'boolean') return { boolValue: v };
  if (typeof v === 'number') return Number.isInteger(v) ? { intValue: v } : { doubleValue: v };
  if (Array.isArray(v)) return { arrayValue: { values: v.map(anyValue) } };
  return { stringValue: JSON.stringify(v) };
}

const keyValues = (o: Record<string, unknown>) => Object.entries(o).map(([key, value]) => ({ key, value: anyValue(value) }));

/** Nanoseconds since the epoch of a normalized span's RFC 3339 time with nine fraction digits. */
function unixNanos(iso: string): string {
  const ms = Date.parse(`${iso.slice(0, 19)}Z`);
  return (BigInt(ms) * 1_000_000n + BigInt(iso.slice(20, 29).padEnd(9, '0'))).toString();
}

/** The spans as OTLP/protobuf export requests of about `spansPerMessage` spans, whole traces, one resource per service. */
export function otlpMessages(spans: NormalizedSpan[], spansPerMessage: number): Buffer[] {
  const out: Buffer[] = [];
  let batch: NormalizedSpan[] = [];
  const flush = () => {
    const byService = new Map<string, NormalizedSpan[]>();
    for (const s of batch) byService.set(s.service, [...(byService.get(s.service) ?? []), s]);
    const resourceSpans = [...byService.values()].map((list) => ({
      resource: { attributes: keyValues(list[0].resource) },
      scopeSpans: [
        {
          scope: list[0].scope,
          spans: list.map((s) => ({
            traceId: Buffer.from(s.traceId, 'hex'),
            spanId: Buffer.from(s.spanId, 'hex'),
            ...(s.parentSpanId ? { parentSpanId: Buffer.from(s.parentSpanId, 'hex') } : {}),
            name: s.name,
            kind: KINDS[s.kind] ?? 0,
            startTimeUnixNano: unixNanos(s.startTime),
            endTimeUnixNano: unixNanos(s.endTime),
            attributes: keyValues(s.attributes),
            status: { code: STATUS[s.status.code] ?? 0, ...(s.status.message ? { message: s.status.message } : {}) },
          })),
        },
      ],
    }));
    out.push(encodeRequestProtobuf({ resourceSpans }));
    batch = [];
  };
  for (let i = 0; i < spans.length; i++) {
    batch.push(spans[i]);
    const traceEnds = i + 1 === spans.length || spans[i + 1].traceId !== spans[i].traceId;
    if (traceEnds && batch.length >= spansPerMessage) flush();
  }
  if (batch.length) flush();
  return out;
}

/** Jaeger's configuration: the kafka receiver reads `topic` from the start, spans go to Elasticsearch under `prefix`. */
function config(o: {
  brokers: string[];
  topic: string;
  esUrl: string;
  prefix: string;
  shards: number;
  tuned: boolean;
  healthPort: number;
}) {
  const layout = `{ shards: ${o.shards}, replicas: 0, date_layout: "2006.01.02" }`;
  return `service:
  extensions: [jaeger_storage, healthcheckv2]
  pipelines:
    traces:
      receivers: [kafka]
      processors: [batch]
      exporters: [jaeger_storage_exporter]
  telemetry:
    metrics:
      level: none
    logs:
      level: warn
extensions:
  healthcheckv2:
    use_v2: true
    http:
      endpoint: 127.0.0.1:${o.healthPort}
  jaeger_storage:
    backends:
      es:
        elasticsearch:
          server_urls: [${o.esUrl}]
          indices:
            index_prefix: ${o.prefix}
            spans: ${layout}
            services: ${layout}${
              o.tuned
                ? `
          bulk_processing: { workers: 4, max_actions: 2000 }
          tags_as_fields: { all: true }`
                : ''
            }
receivers:
  kafka:
    brokers: [${o.brokers.join(', ')}]
    topic: ${o.topic}
    encoding: otlp_proto
    initial_offset: earliest
    group_id: ${o.prefix}
processors:
  batch:
exporters:
  jaeger_storage_exporter:
    trace_storage: es
`;
}

export interface JaegerLoad {
  /** Spans/s from Jaeger's start until Elasticsearch counted them all. */
  rate: number;
  /** Jaeger's own CPU-seconds per 10,000 spans. */
  jaegerCpuPer10k: number;
  /** Elasticsearch CPU-seconds per 10,000 spans, from Jaeger's start until its indices settled. */
  esCpuPer10k: number;
}

/**
 * Runs Jaeger over `topic` (OTLP/protobuf, `expected` spans) until Elasticsearch counts them all
 * under `prefix`, then waits for `settle` (refresh, merges) so both sides pay for their merges.
 */
export async function runJaeger(o: {
  bin: string;
  brokers: string[];
  topic: string;
  esUrl: string;
  prefix: string;
  /** Jaeger's documented throughput options: 4 bulk workers of 2,000 actions, tags as object fields instead of nested documents. */
  tuned: boolean;
  shards: number;
  expected: number;
  count: () => Promise<number>;
  settle: () => Promise<void>;
  esCpuSeconds: () => number;
}): Promise<JaegerLoad> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'mplp-jaeger-'));
  const file = path.join(dir, 'config.yaml');
  writeFileSync(file, config({ ...o, healthPort: await freePort() }));
  const es0 = o.esCpuSeconds();
  const t0 = performance.now();
  const child = spawn(o.bin, ['--config', file], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => (stderr = (stderr + d.toString()).slice(-4000)));
  let jaegerCpu = 0;
  try {
    // Polled every 250 ms without a refresh: each poll is work for the node being measured.
    for (const deadline = Date.now() + 600_000; ;) {
      if (child.exitCode !== null) throw new Error(`jaeger exited ${child.exitCode}: ${stderr}`);
      jaegerCpu = cpuSeconds(child.pid!) ?? jaegerCpu;
      if ((await o.count()) >= o.expected) break;
      if (Date.now() > deadline) throw new Error(`Jaeger did not index ${o.expected} spans in 600 s: ${stderr}`);
      await new Promise((r) => setTimeout(r, 250));
    }
    const seconds = (performance.now() - t0) / 1000;
    await o.settle();
    const esCpu = o.esCpuSeconds() - es0;
    return { rate: o.expected / seconds, jaegerCpuPer10k: (jaegerCpu / o.expected) * 10_000, esCpuPer10k: (esCpu / o.expected) * 10_000 };
  } finally {
    child.kill('SIGTERM');
    await new Promise((r) => (child.exitCode !== null ? r(undefined) : child.once('exit', r)));
    rmSync(dir, { recursive: true, force: true });
  }
}
