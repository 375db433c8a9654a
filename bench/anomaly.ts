/**
 * npm run bench:anomaly — false positives of anomaly rules on steady demo traffic. Publishes
 * MPLP_BENCH_STEADY_MINUTES (default 60) of the load generator's traces, stamped in event time
 * from that long ago up to now, through a real ingest and aggregator on fresh topics, with anomaly
 * rules (default settings) on p50, p99 and error rate of every series, and counts the anomalies
 * that fire: on steady traffic each one is a false positive. Event time lets an hour of windows
 * pass in minutes; the rules judge windows, not the wall clock.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Partitioners } from 'kafkajs';
import { TestContext, uniqueName, waitFor } from '../shared/testing';
import { createIngest } from '../ingest/src';
import { encodeTraces, TraceGenerator } from '../ingest/src/loadgen/trace-generator';
import { createAggregator } from '../aggregator/src';
import type { AlertChange } from '../aggregator/src/alert-evaluator';
import type { WindowRecord } from '../aggregator/src/window-record';
import { fmt } from './util';
import { loadBenchSettings } from './settings';

const bench = loadBenchSettings({ rounds: 1 });

function rulesFile(): string {
  const file = path.join(mkdtempSync(path.join(tmpdir(), 'mplp-bench-anomaly-')), 'rules.json');
  const rule = (id: string, metric: string) => ({ id, type: 'anomaly', selector: {}, metric });
  const rules = [rule('p50', 'latencyMs.p50'), rule('p99', 'latencyMs.p99'), rule('errors', 'errorRate')];
  writeFileSync(file, JSON.stringify({ rules }));
  return file;
}

/** The demo's traces, `perSecond` a second of event time from `fromMs` to `toMs`, in 10-trace OTLP requests. */
async function publish(ctx: TestContext, topic: string, fromMs: number, toMs: number, perSecond: number): Promise<number> {
  const producer = ctx.kafka('bench-anomaly').producer({ createPartitioner: Partitioners.DefaultPartitioner });
  await producer.connect();
  ctx.defer(() => producer.disconnect());
  const gen = new TraceGenerator({ errorRate: 0.02 });
  let spans = 0;
  let batch: { value: Buffer }[] = [];
  for (let at = fromMs; at < toMs; at += 1000 / perSecond) {
    const traces = [gen.trace(at)];
    spans += traces[0].length;
    batch.push({ value: encodeTraces(traces, 'protobuf') });
    if (batch.length >= 200) {
      await producer.send({ topic, messages: batch, acks: -1 });
      batch = [];
    }
  }
  if (batch.length) await producer.send({ topic, messages: batch, acks: -1 });
  return spans;
}

async function main(): Promise<void> {
  const ctx = new TestContext();
  try {
    const [raw, validated, dlq, metrics, alerts] = await ctx.topics(['raw', 'validated', 'dlq', 'metrics', 'alerts'], 3);
    const ingestGroup = uniqueName('bench-ingest');
    const group = uniqueName('bench-agg');
    const env = {
      ...process.env,
      MPLP_TOPIC_RAW: raw,
      MPLP_TOPIC_VALIDATED: validated,
      MPLP_TOPIC_DLQ: dlq,
      MPLP_TOPIC_METRICS: metrics,
      MPLP_TOPIC_ALERTS: alerts,
      MPLP_LOG_LEVEL: 'warn',
      MPLP_INGEST_GROUP_ID: ingestGroup,
      MPLP_INGEST_HTTP_PORT: '0',
      MPLP_AGGREGATOR_GROUP_ID: group,
      MPLP_AGGREGATOR_PARTIALS_TOPIC: `${group}.partials`,
      MPLP_AGGREGATOR_UPSTREAM_GROUP: ingestGroup,
      MPLP_AGGREGATOR_HTTP_PORT: '0',
      MPLP_AGGREGATOR_RULES_FILE: rulesFile(),
    };
    const ingest = createIngest(env).service;
    await ingest.start();
    ctx.defer(() => ingest.stop());
    const aggregator = createAggregator(env).service;
    await aggregator.start();
    ctx.defer(() => aggregator.stop());
    const windows = await ctx.collect(metrics);
    const changes = await ctx.collect(alerts);

    const end = Date.now() - 60_000;
    const start = end - bench.steadyMinutes * 60_000;
    const t0 = Date.now();
    const spans = await publish(ctx, raw, start, end, bench.steadyRate);
    const lastEnd = Math.floor((end - 30_000) / 5000) * 5000;
    await waitFor(
      `windows up to ${new Date(lastEnd).toISOString()}`,
      () => windows.messages.some((m) => Date.parse((JSON.parse(m.value!.toString()) as WindowRecord).windowEnd) >= lastEnd),
      { timeoutMs: 30 * 60_000, intervalMs: 1000 },
    );
    const records = windows.messages.map((m) => JSON.parse(m.value!.toString()) as WindowRecord);
    const fired = changes.messages
      .map((m) => JSON.parse(m.value!.toString()) as AlertChange)
      .filter((c) => c.type === 'anomaly' && c.state === 'firing');
    const series = new Set(records.map((r) => r.seriesKey)).size;
    console.log(
      `steady demo traffic: ${bench.steadyMinutes} min of event time, ${fmt(spans)} spans, ${series} series, processed in ${fmt((Date.now() - t0) / 1000)} s`,
    );
    console.log(
      `window records judged: ${fmt(records.length)} × 3 anomaly rules (p50, p99, errorRate; default k, windows, minCount, minRatio, warmup)`,
    );
    console.log(`anomalies fired (false positives on steady traffic): ${fired.length}`);
    for (const f of fired)
      console.log(
        `  ${f.ruleId} ${f.series.key} at ${f.windowEnd}: value ${f.value}, baseline ${f.anomaly?.baseline}, deviation ${f.anomaly?.deviation}`,
      );
  } finally {
    await ctx.cleanup();
  }
}

main().then(
  () => process.exit(0),
  (err) => {
    console.error(err);
    process.exit(1);
  },
);
