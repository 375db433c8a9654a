/**
 * npm run bench:ingest — spans/s and per-batch latency of the ingest worker for each encoding,
 * against its ceiling in the same run: a raw consume→produce passthrough of the same messages
 * with the same client settings (no decode, no normalize, no compress). Prints the ratio.
 * Runs each measurement MPLP_BENCH_ROUNDS times (default 3) and reports medians, for each output
 * producer in MPLP_BENCH_PRODUCERS (default: librdkafka and kafkajs when the native addon is
 * installed, else kafkajs); the passthrough produces with the same client as the ingest it is
 * compared with. Ingest runs without transactions with each producer (MPLP_INGEST_TRANSACTIONS=false)
 * and, in the same rounds, with them (kafkajs transactional producers, every other MPLP_INGEST_*
 * as set); the last lines give the ratio with/without.
 */
import { Partitioners } from 'kafkajs';
import { createKafka, createLogger, ensureTopics, loadConfig, sharedSchema, lz4Implementation } from '../shared/src';
import { uniqueName } from '../shared/testing';
import { createIngest } from '../ingest/src';
import { createOutputProducer, loadLibrdkafka } from '../shared/src/output-producer';
import { encodeTraces, TraceGenerator } from '../ingest/src/loadgen/trace-generator';
import { fmt, median, percentile, until } from './util';
import { loadBenchSettings } from './settings';

// 10,000 requests ≈ 525k spans, ~5 s per ingest run: long enough that warm-up (JIT, the pool's
// first tasks) is a small share; at 4,000 (~2 s) the same code measured ~17% lower.
const bench = loadBenchSettings({ rounds: 3, messages: 10_000 });
const MESSAGES = bench.messages;
const ROUNDS = bench.rounds;
const shared = loadConfig(sharedSchema, process.env);
const kafka = createKafka(shared, 'bench');
type ProducerKind = 'librdkafka' | 'kafkajs';
const PRODUCERS = (
  bench.producers ? bench.producers.split(',') : loadLibrdkafka().module ? ['librdkafka', 'kafkajs'] : ['kafkajs']
) as ProducerKind[];

async function prepare(encoding: 'protobuf' | 'json'): Promise<{ topic: string; spans: number }> {
  const topic = uniqueName('bench.raw');
  const admin = kafka.admin();
  await admin.connect();
  await ensureTopics(admin, [{ topic, numPartitions: 6, replicationFactor: 1 }]);
  await admin.disconnect();
  const producer = kafka.producer({ createPartitioner: Partitioners.DefaultPartitioner });
  await producer.connect();
  const gen = new TraceGenerator({ errorRate: 0.02 });
  let spans = 0;
  for (let i = 0; i < MESSAGES; i += 100) {
    const msgs = [];
    for (let j = 0; j < 100 && i + j < MESSAGES; j++) {
      const traces = Array.from({ length: 10 }, () => gen.trace(Date.now()));
      spans += traces.reduce((n, t) => n + t.length, 0);
      msgs.push({ value: encodeTraces(traces, encoding) });
    }
    await producer.send({ topic, acks: -1, messages: msgs });
  }
  await producer.disconnect();
  return { topic, spans };
}

async function runIngest(raw: string, spans: number, producer: ProducerKind, transactions: boolean, spanSummary = true) {
  const [validated, dlq] = [uniqueName('bench.validated'), uniqueName('bench.dlq')];
  const admin = kafka.admin();
  await admin.connect();
  await ensureTopics(
    admin,
    [validated, dlq].map((topic) => ({ topic, numPartitions: 6, replicationFactor: 1 })),
  );
  await admin.disconnect();
  const batches: number[] = [];
  let done = 0;
  let t0 = 0;
  const { service } = createIngest(
    {
      ...process.env,
      MPLP_TOPIC_RAW: raw,
      MPLP_TOPIC_VALIDATED: validated,
      MPLP_TOPIC_DLQ: dlq,
      MPLP_INGEST_GROUP_ID: uniqueName('bench-ingest'),
      MPLP_INGEST_HTTP_PORT: '0',
      MPLP_LOG_LEVEL: 'warn',
      MPLP_INGEST_PRODUCER: producer,
      MPLP_INGEST_TRANSACTIONS: String(transactions),
      MPLP_INGEST_SPAN_SUMMARY: String(spanSummary),
    },
    {},
    {
      onBatchCommitted: ({ seconds, spans: n }) => {
        if (!t0) t0 = performance.now() - seconds * 1000;
        batches.push(seconds * 1000);
        done += n;
      },
    },
  );
  const cpu0 = process.cpuUsage();
  await service.start();
  if (service.worker.producerKind !== producer)
    throw new Error(`asked for ${producer}, ingest produces with ${service.worker.producerKind}`);
  await until(() => done >= spans, 600_000, 'ingest to finish');
  const secs = (performance.now() - t0) / 1000;
  // This process runs nothing else meanwhile (the input was produced before): its CPU is ingest's, all threads.
  const cpu = process.cpuUsage(cpu0);
  await service.stop();
  return {
    spansPerSec: spans / secs,
    cpuMicrosPerSpan: (cpu.user + cpu.system) / spans,
    p50: percentile(batches, 50),
    p99: percentile(batches, 99),
  };
}

/** The ceiling: the same consumer settings, eachBatch, produce the raw bytes on, commit after ack. */
async function runPassthrough(raw: string, spans: number, kind: ProducerKind) {
  const out = uniqueName('bench.passthrough');
  const admin = kafka.admin();
  await admin.connect();
  await ensureTopics(admin, [{ topic: out, numPartitions: 6, replicationFactor: 1 }]);
  await admin.disconnect();
  const consumer = kafka.consumer({ groupId: uniqueName('bench-pass'), maxBytesPerPartition: 4 * 1024 * 1024, maxBytes: 16 * 1024 * 1024 });
  const producer = createOutputProducer(kind, kafka, shared, createLogger({ name: 'bench', level: 'warn' }));
  await producer.connect();
  await consumer.connect();
  await consumer.subscribe({ topic: raw, fromBeginning: true });
  let messages = 0;
  let t0 = 0;
  await consumer.run({
    autoCommit: false,
    eachBatchAutoResolve: false,
    partitionsConsumedConcurrently: 3,
    eachBatch: async ({ batch, resolveOffset }) => {
      if (!t0) t0 = performance.now();
      await producer.send([{ topic: out, messages: batch.messages.map((m) => ({ key: m.key, value: m.value })) }]);
      const last = batch.messages[batch.messages.length - 1].offset;
      resolveOffset(last);
      await consumer.commitOffsets([{ topic: batch.topic, partition: batch.partition, offset: (BigInt(last) + 1n).toString() }]);
      messages += batch.messages.length;
    },
  });
  await until(() => messages >= MESSAGES, 600_000, 'passthrough to finish');
  const secs = (performance.now() - t0) / 1000;
  await consumer.disconnect();
  await producer.disconnect();
  return { spansPerSec: spans / secs };
}

async function main(): Promise<void> {
  const rd = loadLibrdkafka().module;
  console.log(
    `bench:ingest — ${MESSAGES} messages of 10 traces per encoding, ${ROUNDS} rounds, lz4: ${lz4Implementation()}, node ${process.version}, producers: ${PRODUCERS.join(', ')}${rd ? ` (librdkafka ${rd.librdkafkaVersion})` : ''}`,
  );
  const summary: string[] = [];
  for (const encoding of ['protobuf', 'json'] as const) {
    const { topic, spans } = await prepare(encoding);
    const txn: number[] = [],
      txnP50: number[] = [],
      txnP99: number[] = [],
      noSummary: number[] = [],
      txnCpu: number[] = [],
      noSummaryCpu: number[] = [];
    const plain = new Map<ProducerKind, number[]>();
    for (const producer of PRODUCERS) {
      const ing: number[] = [],
        pass: number[] = [],
        p50: number[] = [],
        p99: number[] = [];
      for (let r = 0; r < ROUNDS; r++) {
        // Transactions in the same rounds, so both see the same box (once per round, before the first producer's run).
        if (producer === PRODUCERS[0]) {
          const t = await runIngest(topic, spans, 'kafkajs', true);
          txn.push(t.spansPerSec);
          txnP50.push(t.p50);
          txnP99.push(t.p99);
          txnCpu.push(t.cpuMicrosPerSpan);
          // What the span summary header (for the aggregator) costs ingest: the same run without it.
          const n = await runIngest(topic, spans, 'kafkajs', true, false);
          noSummary.push(n.spansPerSec);
          noSummaryCpu.push(n.cpuMicrosPerSpan);
        }
        const a = await runIngest(topic, spans, producer, false);
        ing.push(a.spansPerSec);
        p50.push(a.p50);
        p99.push(a.p99);
        const b = await runPassthrough(topic, spans, producer);
        pass.push(b.spansPerSec);
      }
      console.log(
        `${encoding.padEnd(9)} ${producer.padEnd(10)} ${fmt(spans)} spans: ingest, no transactions ${fmt(median(ing))} spans/s (chunk fetched → acknowledged p50 ${fmt(median(p50), 1)} ms, p99 ${fmt(median(p99), 1)} ms) | passthrough ceiling ${fmt(median(pass))} spans/s | ratio ${fmt(median(ing) / median(pass), 2)}`,
      );
      plain.set(producer, ing);
    }
    console.log(
      `${encoding.padEnd(9)} ${'kafkajs'.padEnd(10)} ${fmt(spans)} spans: ingest, transactions ${fmt(median(txn))} spans/s (chunk fetched → committed p50 ${fmt(median(txnP50), 1)} ms, p99 ${fmt(median(txnP99), 1)} ms)`,
    );
    summary.push(
      `${encoding.padEnd(9)} transactions ${fmt(median(txn))} spans/s, ${fmt(median(txnCpu), 2)} CPU-µs/span with the span summary header vs ${fmt(median(noSummary))} spans/s, ${fmt(median(noSummaryCpu), 2)} CPU-µs/span without (MPLP_INGEST_SPAN_SUMMARY=false): ratio ${fmt(median(txn) / median(noSummary), 2)}, CPU ${fmt(median(txnCpu) / median(noSummaryCpu), 2)}`,
    );
    for (const [producer, ing] of plain)
      summary.push(
        `${encoding.padEnd(9)} transactions ${fmt(median(txn))} spans/s vs no transactions (${producer}) ${fmt(median(ing))} spans/s: ratio ${fmt(median(txn) / median(ing), 2)}`,
      );
  }
  console.log(summary.join('\n'));
}

main().then(
  () => process.exit(0),
  (err) => {
    console.error(err);
    process.exit(1);
  },
);
