/**
 * Aggregator benchmark. (1) Spans/s through the Piscina pool's `aggregate` task (lz4 decode,
 * JSON parse, HDR recording; pure-JS hdr-histogram-js unless MPLP_BENCH_HDR_WASM=1) with 1, 2
 * and 4 threads, speedup over 1 thread. (2) The full aggregator on real Kafka: p99 from a
 * window becoming complete (every source watermark past its end) to its record acked in mplp.metrics.
 */
import path from 'node:path';
import Piscina from 'piscina';
import { createKafka, ensureTopics, loadConfig, sharedSchema } from '../shared/src';
import { createAggregator } from '../aggregator/src';
import type { AggregateTask } from '../aggregator/src/pane-worker';
import { makeFixture, produceSpans } from '../aggregator/test/helpers';
import { SpanBatchCodec } from '../shared/src';
import { fmt, median, percentile } from './util';

const WASM = process.env.MPLP_BENCH_HDR_WASM === '1';
const SPANS = 200_000;
const PER_MESSAGE = 200;
const MESSAGES_PER_TASK = 25;

async function poolThroughput(threads: number, frames: Buffer[]): Promise<number> {
  const pool = new Piscina({ filename: path.join(__dirname, '..', 'aggregator', 'src', 'pane-worker.js'), minThreads: threads, maxThreads: threads });
  const runs: number[] = [];
  for (let r = 0; r < 3; r++) {
    const t0 = process.hrtime.bigint();
    const tasks: Promise<unknown>[] = [];
    for (let i = 0; i < frames.length; i += MESSAGES_PER_TASK) {
      const chunk = frames.slice(i, i + MESSAGES_PER_TASK);
      const total = chunk.reduce((a, b) => a + b.length, 0);
      const ab = new ArrayBuffer(total);
      const view = new Uint8Array(ab);
      const bounds = new Int32Array(chunk.length * 2);
      let pos = 0;
      chunk.forEach((f, j) => { bounds[2 * j] = pos; view.set(f, pos); pos += f.length; bounds[2 * j + 1] = pos; });
      const task: AggregateTask = {
        kind: 'aggregate', buf: ab, bounds, offsets: chunk.map((_, j) => String(i + j)), watermark: 0, skipThrough: 0, latenessMs: 10_000,
        paneMs: 5000, hdr: { digits: 3, wasm: WASM }, exemplars: 5, dimensions: [], maxBytes: 64 << 20,
      };
      tasks.push(pool.run(task, { transferList: [ab] }));
    }
    await Promise.all(tasks);
    runs.push(SPANS / (Number(process.hrtime.bigint() - t0) / 1e9));
  }
  await pool.destroy();
  return median(runs);
}

async function closeToPublish(): Promise<number[]> {
  const shared = loadConfig(sharedSchema, process.env);
  const id = `bench-agg-${Date.now().toString(36)}`;
  const kafka = createKafka(shared, 'bench');
  const admin = kafka.admin();
  await admin.connect();
  const topics = [`${id}.validated`, `${id}.metrics`, `${id}.alerts`];
  await ensureTopics(admin, topics.map((topic) => ({ topic, numPartitions: 3, replicationFactor: 1 })));
  const producer = kafka.producer();
  await producer.connect();
  const fx = makeFixture(60_000, 4);
  await produceSpans(producer, topics[0], fx.spans, PER_MESSAGE);
  const { service } = createAggregator({
    ...process.env, MPLP_TOPIC_VALIDATED: topics[0], MPLP_TOPIC_METRICS: topics[1], MPLP_TOPIC_ALERTS: topics[2], MPLP_LOG_LEVEL: 'warn',
    MPLP_AGGREGATOR_GROUP_ID: id, MPLP_AGGREGATOR_PARTIALS_TOPIC: `${id}.partials`, MPLP_AGGREGATOR_ALLOWED_LATENESS: '2s',
    MPLP_AGGREGATOR_IDLE_TIMEOUT: '1s', MPLP_AGGREGATOR_HEARTBEAT_INTERVAL: '200ms', MPLP_AGGREGATOR_HTTP_PORT: '0', MPLP_AGGREGATOR_HDR_WASM: WASM ? 'true' : 'false',
  });
  const delays: number[] = [];
  service.merger.onPublished = (_end, completedAt, publishedAt) => { delays.push(publishedAt - completedAt); };
  await service.start();
  const windowsExpected = 4 * 12 + 11; // window ends per partials partition, roughly
  const deadline = Date.now() + 120_000;
  while (delays.length < windowsExpected && Date.now() < deadline) await new Promise((r) => setTimeout(r, 200));
  await service.stop();
  await producer.disconnect();
  await admin.deleteTopics({ topics: [...topics, `${id}.partials`] }).catch(() => undefined);
  await admin.disconnect();
  return delays;
}

async function main() {
  const fx = makeFixture(SPANS, 4);
  const frames: Buffer[] = [];
  for (let i = 0; i < fx.spans.length; i += PER_MESSAGE) frames.push(SpanBatchCodec.encode(fx.spans.slice(i, i + PER_MESSAGE)));
  console.log(`hdr-histogram-js implementation: ${WASM ? 'WebAssembly (useWebAssembly: true)' : 'pure JS (useWebAssembly: false, the default)'}`);
  console.log(`${fmt(SPANS)} spans, ${PER_MESSAGE} per lz4 message, ${MESSAGES_PER_TASK} messages per task, median of 3 runs`);
  const one = await poolThroughput(1, frames);
  console.log(`threads 1: ${fmt(one)} spans/s (speedup 1.00)`);
  for (const t of [2, 4]) {
    const r = await poolThroughput(t, frames);
    console.log(`threads ${t}: ${fmt(r)} spans/s (speedup ${fmt(r / one, 2)})`);
  }
  const d = await closeToPublish();
  console.log(`window close -> publish (${d.length} window batches on real Kafka): p50 ${fmt(median(d), 1)} ms, p99 ${fmt(percentile(d, 99), 1)} ms (target < 100 ms)`);
}

main().then(() => process.exit(0), (err) => { console.error(err); process.exit(1); });
