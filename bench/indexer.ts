/**
 * npm run bench:indexer — documents/s from the validated topic into Elasticsearch by the
 * indexer, and the CPU-seconds Elasticsearch spent per 10,000 of them, against the ceiling in
 * the same run: the same documents bulk-loaded straight from memory with the best bulk size ×
 * concurrency found, and the same again paced to the indexer's rate of the round (what
 * Elasticsearch spends per document at that rate whoever sends it). Then the produced→searchable
 * latency p50/p99 at a steady rate. Medians over
 * MPLP_BENCH_ROUNDS (default 5). The documents are shaped like an OpenTelemetry SDK's HTTP spans
 * (a dozen span attributes, the SDK's fifteen resource attributes), the load the cost was
 * measured on against Jaeger.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { Partitioners } from 'kafkajs';
import type { Message } from 'kafkajs';
import {
  createElasticsearch,
  createKafka,
  dailyIndex,
  ensureIndexTemplates,
  ensureTopics,
  loadConfig,
  sharedSchema,
  SpanBatchCodec,
  spanDocId,
  FORMAT_NDJSON_V1,
  HEADER_FORMAT,
  indexTemplates,
} from '../shared/src';
import type { NormalizedSpan } from '../shared/src';
import { uniqueName } from '../shared/testing';
import { createIndexer } from '../indexer/src';
import { makeSpans } from '../indexer/test/helpers';
import { fmt, median, percentile, until } from './util';
import { jaegerBinary, JaegerLoad, otlpMessages, runJaeger } from './jaeger';
import { cpuSeconds } from './pipeline/probes';
import { loadBenchSettings } from './settings';

const bench = loadBenchSettings({ rounds: 5, docs: 60_000 });
const N = bench.docs;
const ROUNDS = bench.rounds;
const shared = loadConfig(sharedSchema, process.env);
const kafka = createKafka(shared, 'bench');
const es = createElasticsearch(shared, { requestTimeout: 120_000 });

/**
 * The Elasticsearch process the cluster scripts started: its pid is in
 * `$MPLP_CLUSTER_DIR/elasticsearch/pid` (default `<repo>/.cluster`, and for a git worktree the
 * main checkout's, where the shared cluster was started). Undefined when Elasticsearch is not a
 * local process of ours (then the CPU columns read n/a).
 */
function elasticsearchPid(): number | undefined {
  const root = path.resolve(__dirname, '..', '..');
  const dirs = [process.env.MPLP_CLUSTER_DIR, path.join(root, '.cluster')];
  try {
    const common = execFileSync('git', ['rev-parse', '--path-format=absolute', '--git-common-dir'], { cwd: root, encoding: 'utf8' });
    dirs.push(path.join(path.dirname(common.trim()), '.cluster'));
  } catch {
    // not a git checkout: only the first two
  }
  for (const d of dirs) {
    const f = d && path.join(d, 'elasticsearch', 'pid');
    if (!f || !existsSync(f)) continue;
    const pid = Number(readFileSync(f, 'utf8').trim());
    if (pid > 0 && existsSync(`/proc/${pid}/stat`)) return pid;
  }
  return undefined;
}
const ES_PID = elasticsearchPid();
/** CPU-seconds (user + system) Elasticsearch has used since it started; NaN when it is not ours to read. */
function esCpuSeconds(): number {
  return ES_PID === undefined ? NaN : (cpuSeconds(ES_PID) ?? NaN);
}

/**
 * Waits until what a load left behind is done: a refresh, then no merge running on the load's
 * indices, so the CPU measured includes the merges the documents caused.
 */
async function settle(prefix: string, index = `${prefix}-traces-*`): Promise<void> {
  await es.indices.refresh({ index, ignore_unavailable: true, allow_no_indices: true } as never);
  // Polled every 100 ms, not every few: each poll is work for the node being measured.
  const deadline = Date.now() + 60_000;
  for (;;) {
    const s = await es.indices.stats({ index, metric: 'merge', ignore_unavailable: true, allow_no_indices: true } as never);
    if ((s._all.primaries?.merges?.current ?? 0) === 0) return;
    if (Date.now() > deadline) throw new Error('benchmark timed out waiting for merges to finish');
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** One measured load: documents/s, and Elasticsearch CPU-seconds per 10,000 documents. */
interface Load {
  rate: number;
  esCpuPer10k: number;
}

/** Spans shaped like an OpenTelemetry SDK's: an HTTP server span and its children, with the SDK's resource. */
function sdkSpans(traces: number, spansPerTrace: number): NormalizedSpan[] {
  const out: NormalizedSpan[] = [];
  const now = BigInt(Date.now() - 60_000) * 1_000_000n;
  const iso = (ns: bigint) =>
    `${new Date(Number(ns / 1_000_000n)).toISOString().slice(0, 19)}.${(ns % 1_000_000_000n).toString().padStart(9, '0')}Z`;
  for (let t = 0; t < traces; t++) {
    const traceId = randomBytes(16).toString('hex');
    const service = `svc-${t % 7}`;
    const resource = {
      'service.name': service,
      'telemetry.sdk.language': 'nodejs',
      'telemetry.sdk.name': 'opentelemetry',
      'telemetry.sdk.version': '2.12.1',
      'process.pid': 1200 + (t % 7),
      'process.executable.name': 'node',
      'process.executable.path': '/usr/local/bin/node',
      'process.command_args': ['/usr/local/bin/node', '/app/server.js'],
      'process.runtime.version': '20.19.0',
      'process.runtime.name': 'nodejs',
      'process.runtime.description': 'Node.js',
      'process.command': '/app/server.js',
      'process.owner': 'app',
      'host.name': `host-${t % 3}`,
      'host.arch': 'amd64',
    };
    let parent: string | undefined;
    for (let s = 0; s < spansPerTrace; s++) {
      const spanId = randomBytes(8).toString('hex');
      const start = now + BigInt(t) * 1_000_000n + BigInt(s * 1000 + 123);
      const durationNanos = 200_000 + ((t * 7919 + s * 104_729) % 5_000_000);
      out.push({
        traceId,
        spanId,
        ...(parent ? { parentSpanId: parent } : {}),
        name: s === 0 ? 'GET /api/orders/:id' : `SELECT orders ${s}`,
        kind: s === 0 ? 'SERVER' : 'CLIENT',
        service,
        startTime: iso(start),
        endTime: iso(start + BigInt(durationNanos)),
        durationNanos,
        status: { code: t % 50 === 0 && s === 1 ? 'ERROR' : 'UNSET' },
        attributes: {
          'http.method': 'GET',
          'http.url': `http://orders:8080/api/orders/${t}`,
          'http.target': `/api/orders/${t}`,
          'http.host': 'orders:8080',
          'http.scheme': 'http',
          'http.status_code': 200,
          'http.flavor': '1.1',
          'http.user_agent': 'node-fetch/1.0',
          'net.host.name': 'orders',
          'net.host.port': 8080,
          'net.peer.ip': '10.0.0.7',
          'net.peer.port': 40_000 + (t % 1000),
        },
        resource,
        scope: { name: '@opentelemetry/instrumentation-http', version: '0.223.1' },
        events: [],
        links: [],
      });
      parent = spanId;
    }
  }
  return out;
}

async function count(prefix: string): Promise<number> {
  await es.indices.refresh({ index: `${prefix}-*`, ignore_unavailable: true, allow_no_indices: true } as never);
  return (await es.count({ index: `${prefix}-traces-*`, ignore_unavailable: true, allow_no_indices: true } as never)).count;
}

async function dropPrefix(prefix: string) {
  await es.indices.delete({ index: `${prefix}-*`, ignore_unavailable: true, allow_no_indices: true } as never).catch(() => undefined);
  await es.indices.deleteIndexTemplate({ name: `${prefix}-*` }).catch(() => undefined);
}

/** Produces the messages (acks=all, 500 at a time) with one producer. */
async function sendAll(topic: string, messages: Message[]) {
  const producer = kafka.producer({ createPartitioner: Partitioners.DefaultPartitioner });
  await producer.connect();
  for (let i = 0; i < messages.length; i += 500) await producer.send({ topic, acks: -1, messages: messages.slice(i, i + 500) });
  await producer.disconnect();
}

/** The spans as ingest writes them to the validated topic: an lz4 NDJSON batch per trace, keyed by its id. */
async function publish(topic: string, spans: NormalizedSpan[]) {
  const byTrace = new Map<string, string[]>();
  for (const s of spans) byTrace.set(s.traceId, [...(byTrace.get(s.traceId) ?? []), JSON.stringify(s)]);
  const msgs = [...byTrace].map(([k, lines]) => ({
    key: k,
    value: SpanBatchCodec.encodeLines(Buffer.from(lines.join('\n') + '\n')),
    headers: { [HEADER_FORMAT]: FORMAT_NDJSON_V1 },
  }));
  await sendAll(topic, msgs);
}

/** The spans as an OpenTelemetry Collector's Kafka exporter writes them by default: OTLP/protobuf exports, unkeyed. */
async function publishOtlp(topic: string, spans: NormalizedSpan[]) {
  await sendAll(
    topic,
    otlpMessages(spans, 100).map((value) => ({ value })),
  );
}

/** Jaeger over the same spans, into its own indices on the same node (as many shards as ours). */
async function runJaegerOn(bin: string, topic: string, expected: number): Promise<JaegerLoad> {
  const prefix = uniqueName('bench-jaeger');
  const index = `${prefix}-jaeger-span-*`;
  try {
    return await runJaeger({
      bin,
      brokers: shared.kafkaBrokers,
      topic,
      esUrl: shared.esNode,
      prefix,
      tuned: bench.jaeger === 'tuned',
      shards: Number(indexTemplates('bench')[0].template.settings?.number_of_shards ?? 1),
      expected,
      // A just-created index answers no_shard_available until its shard starts: not yet counted.
      count: async () =>
        (await es.count({ index, ignore_unavailable: true, allow_no_indices: true } as never).catch(() => ({ count: 0 }))).count,
      settle: () => settle(prefix, index),
      esCpuSeconds,
    });
  } finally {
    await dropPrefix(prefix);
  }
}

async function runIndexer(topic: string): Promise<Load> {
  const prefix = uniqueName('bench-idx');
  await ensureIndexTemplates(es, prefix);
  const dlq = uniqueName('bench.dlq');
  const admin = kafka.admin();
  await admin.connect();
  await ensureTopics(admin, [{ topic: dlq, numPartitions: 1, replicationFactor: 1 }]);
  await admin.disconnect();
  const { service } = createIndexer({
    ...process.env,
    MPLP_TOPIC_VALIDATED: topic,
    MPLP_TOPIC_DLQ: dlq,
    MPLP_INDEX_PREFIX: prefix,
    MPLP_INDEXER_TOPICS: 'spans',
    MPLP_INDEXER_GROUP_ID: uniqueName('bench-indexer'),
    MPLP_INDEXER_HTTP_PORT: '0',
    MPLP_INDEXER_QUERY_PORT: '-1',
    MPLP_LOG_LEVEL: 'warn',
  });
  await service.start();
  // Measured from the group join, so the rebalance is not counted as indexing time.
  await until(() => service.worker.ready, 60_000, 'group join');
  const t0 = performance.now();
  const cpu0 = esCpuSeconds();
  const reg = service.worker as unknown as { deps: { metrics: { indexed: { get(): Promise<{ values: { value: number }[] }> } } } };
  await until(async () => ((await reg.deps.metrics.indexed.get()).values[0]?.value ?? 0) >= N, 600_000, 'indexer');
  const secs = (performance.now() - t0) / 1000;
  await settle(prefix);
  const esCpuPer10k = ((esCpuSeconds() - cpu0) / N) * 10_000;
  const retries = await (
    service.worker as unknown as { deps: { metrics: { retries: { get(): Promise<{ values: { value: number; labels: object }[] }> } } } }
  ).deps.metrics.retries.get();
  if (retries.values.length)
    console.log(`  indexer retries: ${retries.values.map((v) => `${JSON.stringify(v.labels)}=${v.value}`).join(', ')}`);
  await service.stop();
  if ((await count(prefix)) !== N) throw new Error('indexer bench: wrong document count');
  await dropPrefix(prefix);
  return { rate: N / secs, esCpuPer10k };
}

/**
 * The ceiling: the same documents bulk-loaded straight from memory, bodies built before the clock
 * starts, with the same request the indexer sends (one NDJSON string, the same filter_path), so
 * the only difference measured is Kafka and the indexer's own work. Paced, it sends them no faster
 * than the indexer did in the same round: Elasticsearch's cost per document grows with the time a
 * load takes (a refresh every second, flushes, merges of more, smaller segments), so this side
 * tells that part of the indexer's gap from the part its bulks and requests cause.
 */
async function runCeiling(
  spans: NormalizedSpan[],
  bulkDocs: number,
  concurrency: number,
  paceDocsPerSec = 0,
  refreshInterval?: string,
): Promise<Load> {
  const prefix = uniqueName('bench-ceil');
  await ensureIndexTemplates(es, prefix);
  if (refreshInterval)
    for (const t of indexTemplates(prefix))
      await es.indices.putIndexTemplate({
        name: t.name,
        index_patterns: t.index_patterns,
        priority: 200,
        template: { ...t.template, settings: { ...t.template.settings, refresh_interval: refreshInterval } } as never,
      });
  const bodies: string[] = [];
  for (let i = 0; i < spans.length; i += bulkDocs) {
    bodies.push(
      spans
        .slice(i, i + bulkDocs)
        .map(
          (s) =>
            `${JSON.stringify({ index: { _index: dailyIndex(prefix, 'traces', s.startTime), _id: spanDocId(s) } })}\n${JSON.stringify(s)}\n`,
        )
        .join(''),
    );
  }
  const t0 = performance.now();
  const cpu0 = esCpuSeconds();
  let next = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < bodies.length) {
        const k = next++;
        // Paced: bulk k leaves no earlier than its share of the time at that rate.
        if (paceDocsPerSec > 0) {
          const wait = t0 + ((k * bulkDocs) / paceDocsPerSec) * 1000 - performance.now();
          if (wait > 0) await new Promise((r) => setTimeout(r, wait));
        }
        const b = bodies[k];
        const r = await es.bulk({ operations: b as never, filter_path: 'errors,items.*.status,items.*.error' });
        if (r.errors) throw new Error('ceiling bulk errors');
      }
    }),
  );
  const secs = (performance.now() - t0) / 1000;
  await settle(prefix);
  const esCpuPer10k = ((esCpuSeconds() - cpu0) / spans.length) * 10_000;
  await dropPrefix(prefix);
  return { rate: spans.length / secs, esCpuPer10k };
}

async function latency(): Promise<{ p50: number; p99: number }> {
  const topic = uniqueName('bench.lat');
  const admin = kafka.admin();
  await admin.connect();
  await ensureTopics(admin, [{ topic, numPartitions: 6, replicationFactor: 1 }]);
  await admin.disconnect();
  const prefix = uniqueName('bench-lat');
  await ensureIndexTemplates(es, prefix);
  const { service } = createIndexer({
    ...process.env,
    MPLP_TOPIC_VALIDATED: topic,
    MPLP_INDEX_PREFIX: prefix,
    MPLP_INDEXER_TOPICS: 'spans',
    MPLP_INDEXER_GROUP_ID: uniqueName('bench-lat'),
    MPLP_INDEXER_HTTP_PORT: '0',
    MPLP_INDEXER_QUERY_PORT: '-1',
    MPLP_LOG_LEVEL: 'warn',
  });
  await service.start();
  await until(() => service.worker.ready, 60_000, 'join');
  const producer = kafka.producer({ createPartitioner: Partitioners.DefaultPartitioner });
  await producer.connect();
  const sentAt = new Map<string, number>();
  const lat: number[] = [];
  // One search at a time (never overlapping ones piling up on a busy node), for the traces
  // produced and not yet seen: a terms aggregation names each found trace once.
  let polling = true;
  const poll = (async () => {
    while (polling) {
      const ids = [...sentAt.keys()];
      const r = ids.length
        ? await es
            .search({
              index: `${prefix}-traces-*`,
              size: 0,
              query: { terms: { traceId: ids } },
              aggs: { t: { terms: { field: 'traceId', size: ids.length } } },
              ignore_unavailable: true,
            } as never)
            .catch(() => undefined)
        : undefined;
      const now = performance.now();
      for (const b of (r?.aggregations as { t?: { buckets: { key: string }[] } } | undefined)?.t?.buckets ?? []) {
        const t = sentAt.get(b.key);
        if (t !== undefined) {
          lat.push(now - t);
          sentAt.delete(b.key);
        }
      }
      await new Promise((res) => setTimeout(res, 20));
    }
  })();
  // 2,000 spans/s for 15 s: every 100 ms, 40 traces of 5 spans.
  for (let tick = 0; tick < 150; tick++) {
    const spans = makeSpans(40, 5);
    const byTrace = new Map<string, string[]>();
    for (const s of spans) byTrace.set(s.traceId, [...(byTrace.get(s.traceId) ?? []), JSON.stringify(s)]);
    const t = performance.now();
    await producer.send({
      topic,
      messages: [...byTrace].map(([k, l]) => ({ key: k, value: SpanBatchCodec.encodeLines(Buffer.from(l.join('\n') + '\n')) })),
    });
    for (const k of byTrace.keys()) sentAt.set(k, t);
    await new Promise((r) => setTimeout(r, Math.max(0, 100 - (performance.now() - t))));
  }
  await until(() => sentAt.size === 0, 60_000, 'all searchable');
  polling = false;
  await poll;
  await producer.disconnect();
  await service.stop();
  await dropPrefix(prefix);
  return { p50: percentile(lat, 50), p99: percentile(lat, 99) };
}

/**
 * `MPLP_BENCH_ONLY=idle`: what leaving refresh_interval unset saves. The same documents bulk-loaded
 * at a steady 2,000 docs/s for MPLP_BENCH_DOCS / 2,000 seconds (at least 90 s: a shard goes
 * search-idle after 30 s without a search) and not searched meanwhile, into indices with the
 * templates as they are (refresh_interval unset: scheduled refreshes skipped while search-idle)
 * and with refresh_interval: 1s set explicitly (as the templates had it), alternating.
 */
async function idleRefresh(): Promise<void> {
  const docs = Math.max(N, 180_000);
  console.log(`bench:indexer idle — ${fmt(docs)} documents at 2,000 docs/s, no searches, ${ROUNDS} rounds, Elasticsearch CPU-s per 10k`);
  const unset: number[] = [],
    explicit: number[] = [];
  for (let r = 0; r < ROUNDS; r++) {
    const spans = sdkSpans(docs / 5, 5);
    const sides = [
      async () => void unset.push((await runCeiling(spans, 1000, 1, 2000)).esCpuPer10k),
      async () => void explicit.push((await runCeiling(spans, 1000, 1, 2000, '1s')).esCpuPer10k),
    ];
    for (let k = 0; k < sides.length; k++) await sides[(k + r) % sides.length]();
    console.log(`  round ${r + 1}: unset (search-idle) ${fmt(unset[r], 3)} | refresh_interval 1s ${fmt(explicit[r], 3)}`);
  }
  const a = median(unset),
    b = median(explicit);
  console.log(
    `refresh_interval unset ${fmt(a, 3)} | 1s explicit ${fmt(b, 3)} ES CPU-s/10k | ratio ${fmt(a / b, 2)} (medians of ${ROUNDS})`,
  );
}

async function main(): Promise<void> {
  if (bench.only === 'idle') return idleRefresh();
  console.log(
    `bench:indexer — ${fmt(N)} SDK-shaped span documents, ${ROUNDS} rounds, Elasticsearch pid ${ES_PID ?? 'not found (CPU n/a)'}`,
  );
  const ind: Load[] = [],
    ceil: Load[] = [],
    paced: Load[] = [];
  let best = { bulkDocs: 0, concurrency: 0 };
  const probe = sdkSpans(N / 5, 5);
  let bestRate = 0;
  for (const bulkDocs of [1000, 2000, 5000])
    for (const concurrency of [1, 2, 4]) {
      const r = await runCeiling(probe, bulkDocs, concurrency);
      console.log(
        `  ceiling probe: bulk ${bulkDocs} docs × ${concurrency} at once: ${fmt(r.rate)} docs/s, ES ${fmt(r.esCpuPer10k, 3)} CPU-s/10k`,
      );
      if (r.rate > bestRate) {
        bestRate = r.rate;
        best = { bulkDocs, concurrency };
      }
    }
  const jaeger = bench.jaeger !== 'off' ? jaegerBinary() : undefined;
  const jae: JaegerLoad[] = [];
  for (let r = 0; r < ROUNDS; r++) {
    const spans = sdkSpans(N / 5, 5);
    // Same documents for every side, measured back to back in the same round; the order rotates so
    // none always runs on a cluster still busy with the other's index.
    const topic = uniqueName('bench.validated');
    const rawTopic = uniqueName('bench.otlp');
    const admin = kafka.admin();
    await admin.connect();
    await ensureTopics(admin, [
      { topic, numPartitions: 6, replicationFactor: 1 },
      ...(jaeger ? [{ topic: rawTopic, numPartitions: 6, replicationFactor: 1 }] : []),
    ]);
    await admin.disconnect();
    await publish(topic, spans);
    if (jaeger) await publishOtlp(rawTopic, spans);
    const sides: (() => Promise<void>)[] = [
      async () => void ind.push(await runIndexer(topic)),
      async () => void ceil.push(await runCeiling(spans, best.bulkDocs, best.concurrency)),
      ...(jaeger ? [async () => void jae.push(await runJaegerOn(jaeger, rawTopic, spans.length))] : []),
    ];
    for (let i = 0; i < sides.length; i++) await sides[(i + r) % sides.length]();
    // After the others: it needs this round's indexer rate.
    paced.push(await runCeiling(spans, best.bulkDocs, best.concurrency, ind[r].rate));
    console.log(
      `  round ${r + 1}: indexer ${fmt(ind[r].rate)} docs/s, ES ${fmt(ind[r].esCpuPer10k, 3)} CPU-s/10k | ceiling ${fmt(ceil[r].rate)} docs/s, ES ${fmt(ceil[r].esCpuPer10k, 3)} CPU-s/10k` +
        ` | ceiling paced to the indexer ${fmt(paced[r].rate)} docs/s, ES ${fmt(paced[r].esCpuPer10k, 3)} CPU-s/10k` +
        (jaeger
          ? ` | Jaeger ${fmt(jae[r].rate)} spans/s, ES ${fmt(jae[r].esCpuPer10k, 3)} CPU-s/10k, Jaeger ${fmt(jae[r].jaegerCpuPer10k, 3)} CPU-s/10k`
          : ''),
    );
  }
  const rate = { ind: median(ind.map((l) => l.rate)), ceil: median(ceil.map((l) => l.rate)) };
  const cpu = {
    ind: median(ind.map((l) => l.esCpuPer10k)),
    ceil: median(ceil.map((l) => l.esCpuPer10k)),
    paced: median(paced.map((l) => l.esCpuPer10k)),
  };
  console.log(
    `indexer ${fmt(rate.ind)} docs/s | ceiling (bulk ${best.bulkDocs} × ${best.concurrency}) ${fmt(rate.ceil)} docs/s | ratio ${fmt(rate.ind / rate.ceil, 2)} (medians of ${ROUNDS} rounds)`,
  );
  console.log(
    `Elasticsearch CPU-seconds per 10k documents: indexer ${fmt(cpu.ind, 3)} | ceiling ${fmt(cpu.ceil, 3)} | ratio ${fmt(cpu.ind / cpu.ceil, 2)} (medians of ${ROUNDS} rounds; load, refresh and merges, the whole node)`,
  );
  console.log(
    `  … ceiling paced to the indexer's rate ${fmt(cpu.paced, 3)} | indexer / paced ceiling ${fmt(cpu.ind / cpu.paced, 2)} (the part of the gap the load's duration does not explain)`,
  );
  if (jaeger) {
    const j = {
      rate: median(jae.map((l) => l.rate)),
      es: median(jae.map((l) => l.esCpuPer10k)),
      own: median(jae.map((l) => l.jaegerCpuPer10k)),
    };
    console.log(
      `Jaeger v2 (kafka receiver, otlp_proto → Elasticsearch; ${bench.jaeger}), same spans: ${fmt(j.rate)} spans/s, its own CPU ${fmt(j.own, 3)} CPU-s/10k | ` +
        `Elasticsearch CPU-seconds per 10k: indexer ${fmt(cpu.ind, 3)} | Jaeger ${fmt(j.es, 3)} | ratio ${fmt(cpu.ind / j.es, 2)} (medians of ${ROUNDS} rounds)`,
    );
  }
  const l = await latency();
  const refresh =
    (indexTemplates('bench')[0].template.settings as { refresh_interval?: string }).refresh_interval ?? 'default: 1s, search-idle';
  console.log(`produced→searchable at 2,000 spans/s: p50 ${fmt(l.p50)} ms, p99 ${fmt(l.p99)} ms (refresh_interval ${refresh})`);
}

main().then(
  () => process.exit(0),
  (err) => {
    console.error(err);
    process.exit(1);
  },
);
