/**
 * Aggregator benchmark. (1) Spans/s through the Piscina pool's `aggregate` task (lz4 decode,
 * JSON parse, HDR recording) with 1, 2 and 4 threads, speedup over 1 thread. (2) The full
 * aggregator on real Kafka, live and catching up: p50/p99 from a window becoming closable (every source watermark past its end + allowed
 * lateness) to its record acked in mplp.metrics, with the time spent in each stage.
 */
import { spawn } from 'node:child_process';
import path from 'node:path';
import Piscina from 'piscina';
import * as hdr from 'hdr-histogram-js';
import { createKafka, ensureTopics, loadConfig, sharedSchema } from '../shared/src';
import { createAggregator } from '../aggregator/src';
import type { AggregateTask } from '../aggregator/src/pane-worker';
import type { WindowTiming } from '../aggregator/src/merge-stage';
import { HdrCounts } from '../aggregator/src/hdr-counts';
import { makeFixture, produceSpans } from '../aggregator/test/helpers';
import { SpanBatchCodec } from '../shared/src';
import { fmt, median, percentile, until } from './util';
import { loadBenchSettings } from './settings';

const SPANS = 200_000;
const PER_MESSAGE = 200;
const MESSAGES_PER_TASK = 25;
// Live run default 120 s: 24 closes, so the p99 is not just the worst of a handful.
const bench = loadBenchSettings({ rounds: 3 });
const LIVE_RATE = bench.liveRate;
const LIVE_SECONDS = bench.liveSeconds;
const LIVE_SERIES = bench.liveSeries;

async function poolThroughput(threads: number, frames: Buffer[]): Promise<number> {
  const pool = new Piscina({
    filename: path.join(__dirname, '..', 'aggregator', 'src', 'pane-worker.js'),
    minThreads: threads,
    maxThreads: threads,
  });
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
      chunk.forEach((f, j) => {
        bounds[2 * j] = pos;
        view.set(f, pos);
        pos += f.length;
        bounds[2 * j + 1] = pos;
      });
      const task: AggregateTask = {
        kind: 'aggregate',
        buf: ab,
        bounds,
        offsets: chunk.map((_, j) => String(i + j)),
        clocks: chunk.map(() => Date.now()),
        maxSkewMs: 1000,
        watermark: 0,
        skipThrough: 0,
        latenessMs: 10_000,
        paneMs: 5000,
        digits: 3,
        exemplars: 5,
        dimensions: [],
        maxBytes: 64 << 20,
      };
      tasks.push(pool.run(task, { transferList: [ab] }));
    }
    await Promise.all(tasks);
    runs.push(SPANS / (Number(process.hrtime.bigint() - t0) / 1e9));
  }
  await pool.destroy();
  return median(runs);
}

/**
 * The work of one window at close, on one thread: merge a pre-merge of 15,000 values and six
 * 200-value pieces, five percentiles, encode. Ours (`HdrCounts`) against the same work done the
 * plain way with hdr-histogram-js (decode each piece, add, getValueAtPercentile, encode).
 */
function windowMergeMicros(): { ours: number; library: number } {
  let seed = 7;
  const rnd = () => {
    seed = (seed * 1103515245 + 12345) % 2147483648;
    return seed / 2147483648;
  };
  const piece = (n: number) => {
    const h = new HdrCounts(3);
    for (let i = 0; i < n; i++) h.record(Math.round(Math.exp(5 + 6 * rnd() * rnd() + 2 * rnd())));
    return h.encode();
  };
  const pieces = [piece(15_000), ...Array.from({ length: 6 }, () => piece(200))];
  const pcts = [50, 90, 95, 99, 99.9];
  const acc = new HdrCounts(3);
  const ours = () => {
    acc.reset();
    for (const p of pieces) acc.addEncoded(p);
    acc.valuesAtPercentiles(pcts);
    acc.encode();
  };
  const library = () => {
    const m = hdr.build({
      lowestDiscernibleValue: 1,
      highestTrackableValue: 60_000_000,
      autoResize: true,
      numberOfSignificantValueDigits: 3,
    });
    for (const p of pieces) {
      const h = hdr.decodeFromCompressedBase64(p);
      m.add(h);
      h.destroy();
    }
    for (const p of pcts) m.getValueAtPercentile(p);
    hdr.encodeIntoCompressedBase64(m);
    m.destroy();
  };
  const time = (f: () => void) => {
    const runs: number[] = [];
    for (let r = 0; r < 7; r++) {
      const t0 = process.hrtime.bigint();
      for (let i = 0; i < 300; i++) f();
      runs.push(Number(process.hrtime.bigint() - t0) / 300 / 1000);
    }
    return median(runs);
  };
  time(ours);
  time(library); // warm both
  return { ours: time(ours), library: time(library) };
}

interface Run {
  timings: WindowTiming[];
  spans: number;
}

/**
 * Runs the full aggregator on real Kafka. `live`: spans stamped with the current time are
 * produced at a steady rate while it runs (the steady state the target is about); otherwise a
 * 4-minute backlog is produced first and the aggregator catches up (a burst).
 * Close = the moment the window became closable: the batch that moved the last source
 * partition's watermark (newest event time - allowed lateness) past the window end was in hand.
 */
async function closeToPublish(live: boolean): Promise<Run> {
  const shared = loadConfig(sharedSchema, process.env);
  const id = `bench-agg-${Date.now().toString(36)}`;
  const kafka = createKafka(shared, 'bench');
  const admin = kafka.admin();
  await admin.connect();
  const topics = [`${id}.validated`, `${id}.metrics`, `${id}.alerts`];
  await ensureTopics(
    admin,
    topics.map((topic) => ({ topic, numPartitions: 3, replicationFactor: 1 })),
  );
  const producer = kafka.producer();
  await producer.connect();
  let spans = 0;
  if (!live) {
    const fx = makeFixture(60_000, 4);
    await produceSpans(producer, topics[0], fx.spans, PER_MESSAGE);
    spans = fx.spans.length;
  }
  const { service } = createAggregator({
    ...process.env,
    MPLP_TOPIC_VALIDATED: topics[0],
    MPLP_TOPIC_METRICS: topics[1],
    MPLP_TOPIC_ALERTS: topics[2],
    MPLP_LOG_LEVEL: 'warn',
    MPLP_AGGREGATOR_GROUP_ID: id,
    MPLP_AGGREGATOR_PARTIALS_TOPIC: `${id}.partials`,
    MPLP_AGGREGATOR_ALLOWED_LATENESS: '2s',
    MPLP_AGGREGATOR_IDLE_TIMEOUT: '1s',
    MPLP_AGGREGATOR_UPSTREAM_GROUP: '',
    MPLP_AGGREGATOR_HEARTBEAT_INTERVAL: '200ms',
    MPLP_AGGREGATOR_HTTP_PORT: '0',
  });
  const timings: WindowTiming[] = [];
  service.merger.onPublished = (t) => {
    timings.push(t);
  };
  await service.start();
  if (live) {
    // The traffic comes from its own process (bench/live-producer.ts), as in production: in this
    // process its span building and GC stalled the aggregator's main thread being measured.
    const child = spawn(process.execPath, [path.join(__dirname, 'live-producer.js'), topics[0], String(LIVE_SECONDS)], {
      env: { ...process.env, MPLP_BENCH_LIVE_RATE: String(LIVE_RATE), MPLP_BENCH_LIVE_SERIES: String(LIVE_SERIES) },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let out = '';
    child.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
    });
    const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
    if (code !== 0) throw new Error(`live producer exited with ${code}`);
    spans = Number(out.trim());
    // Let the last windows close (watermarks advance by the idle timeout).
    const lastEnd = Math.floor(Date.now() / 5000) * 5000;
    await until(
      () => timings.some((t) => t.end >= lastEnd),
      30_000,
      `the last live window (${lastEnd}; have ${timings.map((t) => t.end).join(',')})`,
    );
  } else {
    const windowsExpected = 4 * 12 + 11; // window ends per partials partition, roughly
    await until(() => timings.length >= windowsExpected, 120_000, 'the backlog windows');
  }
  await service.stop();
  await producer.disconnect();
  await admin.deleteTopics({ topics: [...topics, `${id}.partials`] }).catch(() => undefined);
  await admin.disconnect();
  return { timings, spans };
}

function report(label: string, r: Run): void {
  const t = r.timings;
  const stat = (f: (x: WindowTiming) => number) => {
    const v = t.map(f);
    return `p50 ${fmt(median(v), 0)} / p99 ${fmt(percentile(v, 99), 0)}`;
  };
  console.log(
    `${label}: ${fmt(r.spans)} spans, ${t.length} window batches; window close -> record acked in mplp.metrics: ${stat((x) => x.publishedAt - x.closableAt)} ms (target p99 < 100 ms)`,
  );
  console.log(
    `  stages (ms): close->partials sent ${stat((x) => x.sentAt - x.closableAt)}; sent->merge received ${stat((x) => x.receivedAt - x.sentAt)}; ` +
      `received->window computed ${stat((x) => x.computedAt - x.receivedAt)}; computed->acked ${stat((x) => x.publishedAt - x.computedAt)}`,
  );
}

async function main() {
  if (bench.only === 'live') {
    report(`live (${fmt(LIVE_RATE)} spans/s for ${LIVE_SECONDS} s, ${LIVE_SERIES} series)`, await closeToPublish(true));
    return;
  }
  const fx = makeFixture(SPANS, 4);
  const frames: Buffer[] = [];
  for (let i = 0; i < fx.spans.length; i += PER_MESSAGE) frames.push(SpanBatchCodec.encode(fx.spans.slice(i, i + PER_MESSAGE)));
  console.log(`${fmt(SPANS)} spans, ${PER_MESSAGE} per lz4 message, ${MESSAGES_PER_TASK} messages per task, median of 3 runs`);
  const one = await poolThroughput(1, frames);
  console.log(`threads 1: ${fmt(one)} spans/s (speedup 1.00)`);
  for (const t of [2, 4]) {
    const r = await poolThroughput(t, frames);
    console.log(`threads ${t}: ${fmt(r)} spans/s (speedup ${fmt(r / one, 2)})`);
  }
  const w = windowMergeMicros();
  console.log(
    `window at close (pre-merge of 15k values + 6 pieces of 200, 5 percentiles, encode), one thread, median of 7: ` +
      `HdrCounts ${fmt(w.ours, 0)} µs, hdr-histogram-js ${fmt(w.library, 0)} µs (ratio ${fmt(w.library / w.ours, 1)}x)`,
  );
  // The pool fixture is not needed any more: it must not sit in the heap of the latency runs.
  frames.length = 0;
  fx.spans.length = 0;
  report(`live (${fmt(LIVE_RATE)} spans/s for ${LIVE_SECONDS} s, ${LIVE_SERIES} series)`, await closeToPublish(true));
  report('catch-up (4-minute backlog)', await closeToPublish(false));
}

main().then(
  () => process.exit(0),
  (err) => {
    console.error(err);
    process.exit(1);
  },
);
