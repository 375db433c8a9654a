/**
 * npm run bench:alerts — how long an alert state change takes from its record's produce to
 * mplp.alerts until Alertmanager has it (its `updatedAt`, stamped on receipt; same clock), p50/p99,
 * through the real notifier (in this process) and a real Alertmanager: the one at
 * MPLP_NOTIFIER_ALERTMANAGER_URL when it answers, else a private one started with
 * scripts/cluster/alertmanager.sh on a free port. MPLP_BENCH_MESSAGES alerts (default 200, one
 * series each) are produced one by one at 20/s, each firing record acknowledged before the next,
 * as the aggregator publishes them; MPLP_BENCH_ROUNDS rounds (default 3), medians reported.
 * Then the whole chain once: a real aggregator (allowed lateness 1 s) with a rule that fires on
 * every series' first window, live spans of MPLP_BENCH_LIVE_SERIES series (default 40) stamped
 * now for 15 s, and the notifier: window end → Alertmanager receipt and alert record produce
 * (its Kafka timestamp) → receipt, p50/p99.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { Partitioners } from 'kafkajs';
import { createKafka, ensureTopics, loadConfig, sharedSchema } from '../shared/src';
import { freePort, uniqueName } from '../shared/testing';
import { writeFileSync } from 'node:fs';
import { createNotifier } from '../notifier/src';
import { createAggregator } from '../aggregator/src';
import { produceSpans, span } from '../aggregator/test/helpers';
import { notifierSchema } from '../notifier/src/config';
import { alertRecord } from '../notifier/test/helpers';
import { loadBenchSettings } from './settings';
import { fmt, median, percentile, until } from './util';

const run = promisify(execFile);
const bench = loadBenchSettings({ rounds: 3, messages: 200 });
const RATE = 20;
const shared = loadConfig(sharedSchema, process.env);

/** The configured Alertmanager when it answers, else a private one (stopped at the end). */
async function alertmanager(): Promise<{ url: string; stop: () => Promise<void> }> {
  const url = loadConfig({ u: notifierSchema.alertmanagerUrl }, process.env).u;
  if (
    url &&
    (await fetch(`${url}/-/ready`).then(
      (r) => r.ok,
      () => false,
    ))
  )
    return { url, stop: async () => undefined };
  const dir = mkdtempSync(path.join(os.tmpdir(), 'mplp-bench-am-'));
  const env = { ...process.env, MPLP_CLUSTER_DIR: dir, MPLP_ALERTMANAGER_PORT: String(await freePort()) };
  const script = path.resolve(__dirname, '../../scripts/cluster/alertmanager.sh');
  await run('bash', [script, 'start'], { env });
  return {
    url: `http://127.0.0.1:${env.MPLP_ALERTMANAGER_PORT}`,
    stop: async () => {
      await run('bash', [script, 'stop'], { env });
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

type Listed = { annotations: Record<string, string>; updatedAt: string }[];

async function listed(url: string, rule: string): Promise<Listed> {
  const res = await fetch(`${url}/api/v2/alerts?filter=${encodeURIComponent(`rule="${rule}"`)}`);
  return (await res.json()) as Listed;
}

/** Aggregator → mplp.alerts → notifier → Alertmanager, on live spans: one firing per series. */
async function wholeChain(
  amUrl: string,
  kafka: ReturnType<typeof createKafka>,
  admin: ReturnType<ReturnType<typeof createKafka>['admin']>,
): Promise<void> {
  const series = bench.liveSeries;
  const group = uniqueName('bench-chain');
  const [validated, metrics, alerts] = [uniqueName('bench.validated'), uniqueName('bench.metrics'), uniqueName('bench.chain.alerts')];
  const topics = [validated, metrics, alerts, `${group}.partials`, `${group}.state`, `${group}.dlq`];
  await ensureTopics(
    admin,
    [validated, metrics, alerts].map((topic) => ({ topic, numPartitions: 3, replicationFactor: 1 })),
  );
  const dir = mkdtempSync(path.join(os.tmpdir(), 'mplp-bench-rules-'));
  const rule = uniqueName('chain');
  writeFileSync(
    path.join(dir, 'rules.json'),
    JSON.stringify({ rules: [{ id: rule, selector: { service: '*' }, metric: 'count', op: '>=', threshold: 1, for: '0s' }] }),
  );
  const env = {
    ...process.env,
    MPLP_TOPIC_VALIDATED: validated,
    MPLP_TOPIC_METRICS: metrics,
    MPLP_TOPIC_ALERTS: alerts,
    MPLP_LOG_LEVEL: 'warn',
    MPLP_AGGREGATOR_GROUP_ID: group,
    MPLP_AGGREGATOR_PARTIALS_TOPIC: `${group}.partials`,
    MPLP_AGGREGATOR_PARTIALS_PARTITIONS: '3',
    MPLP_AGGREGATOR_ALLOWED_LATENESS: '1s',
    MPLP_AGGREGATOR_IDLE_TIMEOUT: '1500ms',
    MPLP_AGGREGATOR_HEARTBEAT_INTERVAL: '300ms',
    MPLP_AGGREGATOR_HTTP_PORT: '0',
    MPLP_AGGREGATOR_WORKER_THREADS: '1',
    MPLP_AGGREGATOR_RULES_FILE: path.join(dir, 'rules.json'),
  };
  const aggregator = createAggregator(env).service;
  const notifier = createNotifier(env, {
    groupId: `${group}-notifier`,
    httpPort: 0,
    alertmanagerUrl: amUrl,
    webhookUrls: '',
    stateTopic: `${group}.state`,
    dlqTopic: `${group}.dlq`,
  }).service;
  await aggregator.start();
  await notifier.start();
  await until(() => notifier.notifier.ready && notifier.notifier.consumer.assigned(alerts).length > 0, 30_000, 'the notifier joined');
  const producedAt = new Map<string, number>();
  const reader = kafka.consumer({ groupId: `${group}-reader` });
  await reader.connect();
  await reader.subscribe({ topics: [alerts], fromBeginning: true });
  await reader.run({
    eachMessage: async ({ message }) => {
      producedAt.set((JSON.parse(message.value!.toString()) as { id: string }).id, Number(message.timestamp));
    },
  });
  const producer = kafka.producer({ allowAutoTopicCreation: false, createPartitioner: Partitioners.DefaultPartitioner });
  await producer.connect();
  try {
    const stopAt = Date.now() + 15_000;
    while (Date.now() < stopAt) {
      const tick = Date.now();
      await produceSpans(
        producer,
        validated,
        Array.from({ length: series }, (_, i) => span(`svc-${i}`, 'GET /x', Date.now(), 5, false)),
        series,
      );
      await new Promise((r) => setTimeout(r, Math.max(0, 100 - (Date.now() - tick))));
    }
    let got: Listed = [];
    await until(async () => (got = await listed(amUrl, rule)).length >= series, 60_000, 'a firing alert of every series in Alertmanager');
    const fromEnd = got.map((a) => Date.parse(a.updatedAt) - Date.parse(a.annotations.windowEnd));
    const fromProduce = got
      .filter((a) => producedAt.has(a.annotations.alertId))
      .map((a) => Date.parse(a.updatedAt) - producedAt.get(a.annotations.alertId)!);
    console.log(
      `whole chain (aggregator, allowed lateness 1 s → notifier → Alertmanager), ${series} alerts: window end → receipt p50 ${fmt(percentile(fromEnd, 50))} ms, p99 ${fmt(percentile(fromEnd, 99))} ms; record produce → receipt p50 ${fmt(percentile(fromProduce, 50))} ms, p99 ${fmt(percentile(fromProduce, 99))} ms (${fromProduce.length} matched)`,
    );
  } finally {
    await producer.disconnect();
    await reader.disconnect();
    await notifier.stop();
    await aggregator.stop();
    await admin.deleteTopics({ topics }).catch(() => undefined);
    rmSync(dir, { recursive: true, force: true });
  }
}

async function main(): Promise<void> {
  const am = await alertmanager();
  const kafka = createKafka(shared, 'bench-alerts');
  const admin = kafka.admin();
  await admin.connect();
  const alerts = uniqueName('bench.alerts');
  const stateTopic = uniqueName('bench.notifier.state');
  const dlqTopic = uniqueName('bench.notifier.dlq');
  await ensureTopics(admin, [{ topic: alerts, numPartitions: shared.topicOtherPartitions, replicationFactor: 1 }]);
  const { service } = createNotifier(
    { ...process.env, MPLP_TOPIC_ALERTS: alerts, MPLP_LOG_LEVEL: 'warn' },
    { groupId: uniqueName('bench-notifier'), httpPort: 0, alertmanagerUrl: am.url, webhookUrls: '', stateTopic, dlqTopic },
  );
  await service.start();
  const producer = kafka.producer({ allowAutoTopicCreation: false, createPartitioner: Partitioners.DefaultPartitioner });
  await producer.connect();
  const rounds: { p50: number; p99: number }[] = [];
  try {
    for (let round = 1; round <= bench.rounds; round++) {
      const rule = uniqueName('bench');
      const producedAt = new Map<string, number>();
      const t0 = Date.now();
      for (let i = 0; i < bench.messages; i++) {
        await new Promise((r) => setTimeout(r, Math.max(0, t0 + (i * 1000) / RATE - Date.now())));
        const now = Date.now();
        const r = alertRecord(rule, `svc-${i}`, 'firing', new Date(Math.floor(now / 5000) * 5000));
        producedAt.set(r.id, now);
        await producer.send({ topic: alerts, acks: -1, messages: [{ key: r.series.key, value: JSON.stringify(r) }] });
      }
      let got: Listed = [];
      await until(async () => (got = await listed(am.url, rule)).length >= bench.messages, 60_000, 'every alert in Alertmanager');
      const lat = got.map((a) => Date.parse(a.updatedAt) - producedAt.get(a.annotations.alertId)!);
      rounds.push({ p50: percentile(lat, 50), p99: percentile(lat, 99) });
      console.log(
        `round ${round}: ${bench.messages} firing alerts at ${RATE}/s; produce → Alertmanager p50 ${fmt(rounds[round - 1].p50)} ms, p99 ${fmt(rounds[round - 1].p99)} ms`,
      );
    }
    console.log(
      `\nmedian of ${bench.rounds} rounds: produce → Alertmanager receipt p50 ${fmt(median(rounds.map((r) => r.p50)))} ms, p99 ${fmt(median(rounds.map((r) => r.p99)))} ms (target < 2,000, aim < 500)`,
    );
    await service.stop();
    await wholeChain(am.url, kafka, admin);
  } finally {
    await producer.disconnect();
    await service.stop().catch(() => undefined);
    await admin.deleteTopics({ topics: [alerts, stateTopic, dlqTopic] }).catch(() => undefined);
    await admin.disconnect();
    await am.stop();
  }
}

main().then(
  () => process.exit(0),
  (err) => {
    console.error(err);
    process.exit(1);
  },
);
