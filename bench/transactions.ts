/**
 * npm run bench:transactions — what a Kafka transaction per output batch costs, measured before
 * choosing a design (issue 14). The same records (1 KB values, random keys, 6 partitions — the
 * size of a validated batch) are produced, per round, by:
 *   (a) kafkajs, idempotent, no transaction: one awaited send (acks=all) per chunk;
 *   (b) kafkajs, transactional: per chunk send + sendOffsets (6 input partitions) + commit;
 *   (c) librdkafka (@confluentinc/kafka-javascript, native API), idempotent (reference) and
 *       transactional: per chunk produce + sendOffsetsToTransaction + commitTransaction;
 * at 250 and 1,000 records per chunk, each transactional one also with a short retry backoff
 * (both clients back off after CONCURRENT_TRANSACTIONS: the broker still writing the previous
 * commit's markers). Prints records/s (median of MPLP_BENCH_ROUNDS rounds), ms per chunk (mean
 * at that median; p50 and p99 over every chunk of every round) and records/s relative to (a) at
 * the same chunk size.
 */
import { randomBytes } from 'node:crypto';
import { Partitioners } from 'kafkajs';
import type { Producer } from 'kafkajs';
import { createKafka, ensureTopics, loadConfig, sharedSchema } from '../shared/src';
import { uniqueName } from '../shared/testing';
import { librdkafkaConfig, loadLibrdkafka } from '../shared/src/output-producer';
import { fmt, median, percentile } from './util';
import { loadBenchSettings } from './settings';

const RECORDS = 15_000;
const SIZES = [250, 1000];
const PARTITIONS = 6;
const bench = loadBenchSettings({ rounds: 3 });
const shared = loadConfig(sharedSchema, process.env);
const kafka = createKafka(shared, 'bench');

interface Topics {
  out: string;
  input: string;
  group: string;
}
/** One way to write a chunk of records; `chunk` is called RECORDS / size times per round. */
interface Writer {
  chunk(records: Buffer[], keys: string[], txn: number): Promise<void>;
  close(): Promise<void>;
}
interface Result {
  label: string;
  size: number;
  perSec: number[];
  chunkMs: number[];
}

const VALUES = Array.from({ length: RECORDS }, () => randomBytes(1024));
const KEYS = Array.from({ length: RECORDS }, () => randomBytes(16).toString('hex'));

/** Offsets of the 6 input partitions this chunk "consumed" (what ingest would commit with it). */
function inputOffsets(txn: number, size: number): { partition: number; offset: string }[] {
  return Array.from({ length: PARTITIONS }, (_, partition) => ({ partition, offset: String((txn + 1) * Math.ceil(size / PARTITIONS)) }));
}

/** retryMs: the producer's first retry delay, which is also its backoff after CONCURRENT_TRANSACTIONS (the client's default here: 200 ms). */
async function kafkajsWriter(t: Topics, size: number, transactional: boolean, retryMs?: number): Promise<Writer> {
  const producer: Producer = kafka.producer({
    createPartitioner: Partitioners.DefaultPartitioner,
    allowAutoTopicCreation: false,
    idempotent: true,
    maxInFlightRequests: 1,
    ...(retryMs ? { retry: { initialRetryTime: retryMs, retries: 8, maxRetryTime: 10_000 } } : {}),
    ...(transactional ? { transactionalId: uniqueName('bench-txn') } : {}),
  });
  await producer.connect();
  return {
    async chunk(values, keys, txn) {
      const messages = values.map((value, i) => ({ key: keys[i], value }));
      if (!transactional) {
        await producer.send({ topic: t.out, acks: -1, messages });
        return;
      }
      const tx = await producer.transaction();
      try {
        await tx.send({ topic: t.out, acks: -1, messages });
        await tx.sendOffsets({ consumerGroupId: t.group, topics: [{ topic: t.input, partitions: inputOffsets(txn, size) }] });
        await tx.commit();
      } catch (err) {
        await tx.abort().catch(() => undefined);
        throw err;
      }
    },
    close: () => producer.disconnect(),
  };
}

/* The node-rdkafka-style API of @confluentinc/kafka-javascript, as far as used here. */
type Cb = (err: Error | null) => void;
interface RdProducer {
  connect(o: unknown, cb: Cb): void;
  disconnect(cb: Cb): void;
  flush(ms: number, cb: Cb): void;
  setPollInterval(ms: number): void;
  produce(topic: string, partition: number | null, value: Buffer, key: string): boolean;
  initTransactions(ms: number, cb: Cb): void;
  beginTransaction(cb: Cb): void;
  commitTransaction(ms: number, cb: Cb): void;
  abortTransaction(ms: number, cb: Cb): void;
  sendOffsetsToTransaction(offsets: { topic: string; partition: number; offset: number }[], consumer: RdConsumer, ms: number, cb: Cb): void;
}
interface RdConsumer {
  connect(o: unknown, cb: Cb): void;
  disconnect(cb: Cb): void;
}
interface RdNative {
  Producer: new (conf: Record<string, unknown>) => RdProducer;
  KafkaConsumer: new (conf: Record<string, unknown>, topicConf: Record<string, unknown>) => RdConsumer;
  features: string[];
  librdkafkaVersion: string;
}
const call = (f: (cb: Cb) => void) => new Promise<void>((resolve, reject) => f((err) => (err ? reject(err) : resolve())));

/** backoffMs: retry.backoff.ms (librdkafka's default: 100 ms), which paces its retries of CONCURRENT_TRANSACTIONS too. */
async function librdkafkaWriter(rd: RdNative, t: Topics, size: number, transactional: boolean, backoffMs?: number): Promise<Writer> {
  const base = librdkafkaConfig(shared, rd.features);
  const conf: Record<string, unknown> = {
    ...base,
    dr_cb: false,
    ...(transactional ? { 'transactional.id': uniqueName('bench-rdtxn') } : {}),
    ...(backoffMs ? { 'retry.backoff.ms': backoffMs } : {}),
  };
  const producer = new rd.Producer(conf);
  await call((cb) => producer.connect({}, cb));
  producer.setPollInterval(5);
  // sendOffsetsToTransaction takes a librdkafka consumer, for its group metadata (KIP-447). This
  // one never subscribes: generation -1, which the broker accepts for a group with no members.
  const consumer = new rd.KafkaConsumer(
    { 'bootstrap.servers': base['bootstrap.servers'], 'group.id': t.group, 'enable.auto.commit': false },
    {},
  );
  if (transactional) {
    await call((cb) => consumer.connect({}, cb));
    await call((cb) => producer.initTransactions(10_000, cb));
  }
  return {
    async chunk(values, keys, txn) {
      if (transactional) await call((cb) => producer.beginTransaction(cb));
      try {
        for (let i = 0; i < values.length; i++) producer.produce(t.out, null, values[i], keys[i]);
        if (!transactional) {
          await call((cb) => producer.flush(10_000, cb));
          return;
        }
        const offsets = inputOffsets(txn, size).map((o) => ({ topic: t.input, partition: o.partition, offset: Number(o.offset) }));
        await call((cb) => producer.sendOffsetsToTransaction(offsets, consumer, 10_000, cb));
        await call((cb) => producer.commitTransaction(10_000, cb));
      } catch (err) {
        if (transactional) await call((cb) => producer.abortTransaction(10_000, cb)).catch(() => undefined);
        throw err;
      }
    },
    async close() {
      if (transactional) await call((cb) => consumer.disconnect(cb));
      await call((cb) => producer.disconnect(cb));
    },
  };
}

async function measure(label: string, size: number, make: () => Promise<Writer>): Promise<Result> {
  const w = await make();
  const res: Result = { label, size, perSec: [], chunkMs: [] };
  let txn = 0;
  try {
    await w.chunk(VALUES.slice(0, size), KEYS.slice(0, size), txn++); // warm-up: connections, metadata, InitProducerId
    for (let r = 0; r < bench.rounds; r++) {
      const t0 = performance.now();
      for (let i = 0; i < RECORDS; i += size) {
        const c0 = performance.now();
        await w.chunk(VALUES.slice(i, i + size), KEYS.slice(i, i + size), txn++);
        res.chunkMs.push(performance.now() - c0);
      }
      res.perSec.push(RECORDS / ((performance.now() - t0) / 1000));
    }
  } finally {
    await w.close();
  }
  return res;
}

async function main(): Promise<void> {
  const admin = kafka.admin();
  await admin.connect();
  const t: Topics = { out: uniqueName('bench.txn.out'), input: uniqueName('bench.txn.in'), group: uniqueName('bench-txn-group') };
  await ensureTopics(
    admin,
    [t.out, t.input].map((topic) => ({ topic, numPartitions: PARTITIONS, replicationFactor: shared.topicReplication })),
  );
  const rdLoad = loadLibrdkafka();
  const rd = rdLoad.module as unknown as RdNative | undefined;
  console.log(
    `bench:transactions — ${fmt(RECORDS)} records of 1 KB per round, ${PARTITIONS} partitions, ${bench.rounds} rounds; librdkafka ${rd ? rd.librdkafkaVersion : `unavailable (${rdLoad.error})`}`,
  );
  const results: Result[] = [];
  try {
    for (const size of SIZES) {
      results.push(await measure('(a) kafkajs idempotent', size, () => kafkajsWriter(t, size, false)));
      results.push(await measure('(b) kafkajs transactional + sendOffsets', size, () => kafkajsWriter(t, size, true)));
      results.push(await measure('(b) kafkajs transactional + sendOffsets, retry 20 ms', size, () => kafkajsWriter(t, size, true, 20)));
      if (!rd) continue;
      results.push(await measure('    librdkafka idempotent (reference)', size, () => librdkafkaWriter(rd, t, size, false)));
      try {
        results.push(await measure('(c) librdkafka transactional + sendOffsets', size, () => librdkafkaWriter(rd, t, size, true)));
        results.push(
          await measure('(c) librdkafka transactional + sendOffsets, retry.backoff.ms 10', size, () =>
            librdkafkaWriter(rd, t, size, true, 10),
          ),
        );
      } catch (err) {
        console.log(`(c) librdkafka transactional at ${size}: failed: ${(err as Error).message}`);
      }
    }
  } finally {
    await admin.deleteTopics({ topics: [t.out, t.input] }).catch(() => undefined);
    await admin.deleteGroups([t.group]).catch(() => undefined);
    await admin.disconnect();
  }
  console.log(
    '\n| producer | records/chunk | records/s (median) | vs (a) | ms/chunk mean | ms/chunk p50 | ms/chunk p99 |\n| --- | ---: | ---: | ---: | ---: | ---: | ---: |',
  );
  for (const r of results) {
    const base = results.find((x) => x.size === r.size && x.label.startsWith('(a)'))!;
    console.log(
      `| ${r.label.trim()} | ${fmt(r.size)} | ${fmt(median(r.perSec))} | ${fmt(median(r.perSec) / median(base.perSec), 2)} | ${fmt((1000 * r.size) / median(r.perSec), 1)} | ${fmt(median(r.chunkMs), 1)} | ${fmt(percentile(r.chunkMs, 99), 1)} |`,
    );
  }
}

main().then(
  () => process.exit(0),
  (err) => {
    console.error(err);
    process.exit(1);
  },
);
