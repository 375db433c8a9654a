/**
 * npm run bench:indexer — documents/s from the validated topic into Elasticsearch by the
 * indexer, against the ceiling in the same run: the same documents bulk-loaded straight from
 * memory with the best bulk size × concurrency found. Then the produced→searchable latency
 * p50/p99 at a steady rate. Medians over MPLP_BENCH_ROUNDS (default 5).
 */
import { Partitioners } from 'kafkajs';
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
} from '../shared/src';
import { uniqueName } from '../shared/testing';
import { createIndexer } from '../indexer/src';
import { makeSpans } from '../indexer/test/helpers';
import { fmt, median, percentile, until } from './util';
import { loadBenchSettings } from './settings';

const bench = loadBenchSettings({ rounds: 5, docs: 60_000 });
const N = bench.docs;
const ROUNDS = bench.rounds;
const shared = loadConfig(sharedSchema, process.env);
const kafka = createKafka(shared, 'bench');
const es = createElasticsearch(shared, { requestTimeout: 120_000 });

async function count(prefix: string): Promise<number> {
  await es.indices.refresh({ index: `${prefix}-*`, ignore_unavailable: true, allow_no_indices: true } as never);
  return (await es.count({ index: `${prefix}-traces-*`, ignore_unavailable: true, allow_no_indices: true } as never)).count;
}

async function dropPrefix(prefix: string) {
  await es.indices.delete({ index: `${prefix}-*`, ignore_unavailable: true, allow_no_indices: true } as never).catch(() => undefined);
  await es.indices.deleteIndexTemplate({ name: `${prefix}-*` }).catch(() => undefined);
}

async function publish(topic: string, spans: ReturnType<typeof makeSpans>) {
  const producer = kafka.producer({ createPartitioner: Partitioners.DefaultPartitioner });
  await producer.connect();
  const byTrace = new Map<string, string[]>();
  for (const s of spans) byTrace.set(s.traceId, [...(byTrace.get(s.traceId) ?? []), JSON.stringify(s)]);
  const msgs = [...byTrace].map(([k, lines]) => ({
    key: k,
    value: SpanBatchCodec.encodeLines(Buffer.from(lines.join('\n') + '\n')),
    headers: { [HEADER_FORMAT]: FORMAT_NDJSON_V1 },
  }));
  for (let i = 0; i < msgs.length; i += 500) await producer.send({ topic, acks: -1, messages: msgs.slice(i, i + 500) });
  await producer.disconnect();
}

async function runIndexer(topic: string): Promise<number> {
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
  const reg = service.worker as unknown as { deps: { metrics: { indexed: { get(): Promise<{ values: { value: number }[] }> } } } };
  await until(async () => ((await reg.deps.metrics.indexed.get()).values[0]?.value ?? 0) >= N, 600_000, 'indexer');
  const secs = (performance.now() - t0) / 1000;
  const retries = await (
    service.worker as unknown as { deps: { metrics: { retries: { get(): Promise<{ values: { value: number; labels: object }[] }> } } } }
  ).deps.metrics.retries.get();
  if (retries.values.length)
    console.log(`  indexer retries: ${retries.values.map((v) => `${JSON.stringify(v.labels)}=${v.value}`).join(', ')}`);
  await service.stop();
  if ((await count(prefix)) !== N) throw new Error('indexer bench: wrong document count');
  await dropPrefix(prefix);
  return N / secs;
}

/**
 * The ceiling: the same documents bulk-loaded straight from memory, bodies built before the clock
 * starts, with the same request the indexer sends (one NDJSON string, the same filter_path), so
 * the only difference measured is Kafka and the indexer's own work.
 */
async function runCeiling(spans: ReturnType<typeof makeSpans>, bulkDocs: number, concurrency: number): Promise<number> {
  const prefix = uniqueName('bench-ceil');
  await ensureIndexTemplates(es, prefix);
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
  let next = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < bodies.length) {
        const b = bodies[next++];
        const r = await es.bulk({ operations: b as never, filter_path: 'errors,items.*.status,items.*.error' });
        if (r.errors) throw new Error('ceiling bulk errors');
      }
    }),
  );
  const secs = (performance.now() - t0) / 1000;
  await dropPrefix(prefix);
  return spans.length / secs;
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
  const poll = setInterval(async () => {
    const ids = [...sentAt.keys()];
    if (!ids.length) return;
    const r = await es
      .search({
        index: `${prefix}-traces-*`,
        size: ids.length,
        _source: ['traceId'],
        query: { terms: { traceId: ids } },
        ignore_unavailable: true,
      } as never)
      .catch(() => undefined);
    const now = performance.now();
    for (const h of r?.hits.hits ?? []) {
      const id = (h._source as { traceId: string }).traceId;
      const t = sentAt.get(id);
      if (t !== undefined) {
        lat.push(now - t);
        sentAt.delete(id);
      }
    }
  }, 20);
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
  clearInterval(poll);
  await producer.disconnect();
  await service.stop();
  await dropPrefix(prefix);
  return { p50: percentile(lat, 50), p99: percentile(lat, 99) };
}

async function main(): Promise<void> {
  console.log(`bench:indexer — ${fmt(N)} span documents, ${ROUNDS} rounds`);
  const ind: number[] = [],
    ceil: number[] = [];
  let best = { bulkDocs: 0, concurrency: 0 };
  const probe = makeSpans(N / 5, 5);
  let bestRate = 0;
  for (const bulkDocs of [1000, 2000, 5000])
    for (const concurrency of [1, 2, 4]) {
      const r = await runCeiling(probe, bulkDocs, concurrency);
      console.log(`  ceiling probe: bulk ${bulkDocs} docs × ${concurrency} at once: ${fmt(r)} docs/s`);
      if (r > bestRate) {
        bestRate = r;
        best = { bulkDocs, concurrency };
      }
    }
  for (let r = 0; r < ROUNDS; r++) {
    const spans = makeSpans(N / 5, 5);
    // Same documents for both, measured back to back in the same round; the order alternates so
    // neither always runs on a cluster still busy with the other's index.
    const topic = uniqueName('bench.validated');
    const admin = kafka.admin();
    await admin.connect();
    await ensureTopics(admin, [{ topic, numPartitions: 6, replicationFactor: 1 }]);
    await admin.disconnect();
    await publish(topic, spans);
    if (r % 2 === 0) {
      ind.push(await runIndexer(topic));
      ceil.push(await runCeiling(spans, best.bulkDocs, best.concurrency));
    } else {
      ceil.push(await runCeiling(spans, best.bulkDocs, best.concurrency));
      ind.push(await runIndexer(topic));
    }
    console.log(`  round ${r + 1}: indexer ${fmt(ind[r])} docs/s, ceiling ${fmt(ceil[r])} docs/s`);
  }
  console.log(
    `indexer ${fmt(median(ind))} docs/s | ceiling (bulk ${best.bulkDocs} × ${best.concurrency}) ${fmt(median(ceil))} docs/s | ratio ${fmt(median(ind) / median(ceil), 2)} (medians of ${ROUNDS} rounds)`,
  );
  const l = await latency();
  console.log(`produced→searchable at 2,000 spans/s: p50 ${fmt(l.p50)} ms, p99 ${fmt(l.p99)} ms (refresh_interval 1s)`);
}

main().then(
  () => process.exit(0),
  (err) => {
    console.error(err);
    process.exit(1);
  },
);
