/**
 * npm run bench — the whole pipeline on the local cluster. Ingest, aggregator, indexer and an
 * idle archiver run as separate OS processes (as `npm start` runs them) on topics, groups and an
 * index prefix of their own; load generator processes offer rising rates (steps) until
 * end-to-end lag starts to grow. Measures per step: spans/s through each stage, produced →
 * searchable p50/p99, window close → metrics record p50/p99, CPU-seconds per 10,000 spans of
 * every process including Kafka and Elasticsearch, the machine's busy share; then the stage
 * ceilings (bench:ingest's raw passthrough, bench:indexer's raw bulk load) in the same run.
 * Writes bench/results/ (JSON, markdown, SVG charts) and the README's "Whole pipeline" block.
 * Settings: MPLP_BENCH_* (bench/settings.ts); the workers take every MPLP_* setting as usual.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createElasticsearch, createKafka, loadConfig, sharedSchema, SharedConfig } from '../../shared/src';
import { fmt } from '../util';
import { loadBenchSettings } from '../settings';
import { measureCeilings } from './ceilings';
import { machineInfo, memoryMiB, scrape, total } from './probes';
import { freePort } from '../../shared/testing';
import { clusterPid, LoadFleet, Measured, ROOT, WorkerProcess } from './processes';
import { BenchResult, sustained, writeResults } from './report';
import { SearchableProbe } from './searchable';
import { fillSearchable, MemoryWatch, Pipeline, runSteps, STAGE_COUNTERS, StepPlan, StepResult, stepRate } from './steps';

const bench = loadBenchSettings({ rounds: 1 });
const env = process.env;
const shared = loadConfig(sharedSchema, env);
/** Steps shorter than this leave too little of a second half to judge a backlog's slope: such a run is an example. */
const MIN_REAL_STEP_SECONDS = 30;
const DRAIN_MS = 120_000;

const log = (line: string) => console.log(line);

/** Topic, group and index names of this run only, so nothing else on the cluster is touched. */
function runNames() {
  const id = `bench-pipe-${Date.now().toString(36)}`;
  return {
    id,
    topics: {
      MPLP_TOPIC_RAW: `${id}.spans.raw`,
      MPLP_TOPIC_VALIDATED: `${id}.spans.validated`,
      MPLP_TOPIC_DLQ: `${id}.spans.dlq`,
      MPLP_TOPIC_METRICS: `${id}.metrics`,
      MPLP_TOPIC_ALERTS: `${id}.alerts`,
    },
    partials: `${id}.aggregator.partials`,
    groups: { ingest: `${id}-ingest`, aggregator: `${id}-aggregator`, indexer: `${id}-indexer` },
    prefix: id,
  };
}
type Names = ReturnType<typeof runNames>;

async function runSetup(workerEnv: NodeJS.ProcessEnv): Promise<void> {
  const child = spawn(process.execPath, [path.join(ROOT, 'dist', 'scripts', 'setup.js')], {
    env: workerEnv,
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let err = '';
  child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
  const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
  if (code !== 0) throw new Error(`setup (topics, index templates) exited with ${code}: ${err.trim().split('\n').pop()}`);
}

async function startWorkers(names: Names, base: NodeJS.ProcessEnv, logDir: string): Promise<Record<string, WorkerProcess>> {
  const [ingestPort, aggPort, idxPort, queryPort, archPort] = await Promise.all(Array.from({ length: 5 }, freePort));
  const start = (w: string, port: number, own: Record<string, string>) =>
    WorkerProcess.start(w, { ...base, ...own }, port, path.join(logDir, `${w}.log`));
  const workers = {
    ingest: start('ingest', ingestPort, { MPLP_INGEST_GROUP_ID: names.groups.ingest, MPLP_INGEST_HTTP_PORT: String(ingestPort) }),
    aggregator: start('aggregator', aggPort, {
      MPLP_AGGREGATOR_GROUP_ID: names.groups.aggregator,
      MPLP_AGGREGATOR_HTTP_PORT: String(aggPort),
      MPLP_AGGREGATOR_PARTIALS_TOPIC: names.partials,
      MPLP_AGGREGATOR_UPSTREAM_GROUP: names.groups.ingest,
    }),
    indexer: start('indexer', idxPort, {
      MPLP_INDEXER_GROUP_ID: names.groups.indexer,
      MPLP_INDEXER_HTTP_PORT: String(idxPort),
      MPLP_INDEXER_QUERY_PORT: String(queryPort),
    }),
    // Idle (runs only on demand): here for its resident cost, as in a deployment.
    archiver: start('archiver', archPort, {
      MPLP_ARCHIVER_HTTP_PORT: String(archPort),
      MPLP_ARCHIVER_INTERVAL: '0',
      MPLP_S3_PREFIX: names.id,
    }),
  };
  await Promise.all(Object.values(workers).map((w) => w.ready(120_000)));
  return workers;
}

function kafkaVersion(clusterDir: string, pid: number | undefined): string {
  const file = path.join(clusterDir, 'kafka', 'version');
  if (existsSync(file)) return readFileSync(file, 'utf8').trim();
  try {
    const cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
    return /kafka-clients-(\d+\.\d+\.\d+)\.jar/.exec(cmdline)?.[1] ?? 'unknown';
  } catch {
    return 'unknown';
  }
}

/** Waits until every stage has caught up with what was produced and every sample was found or given up. */
async function drain(p: Pipeline): Promise<{ seconds: number; complete: boolean }> {
  const t0 = Date.now();
  while (Date.now() - t0 < DRAIN_MS) {
    const counts = await Promise.all(
      (Object.keys(STAGE_COUNTERS) as (keyof typeof STAGE_COUNTERS)[]).map(async (s) =>
        total(await scrape(p.workers[s].httpPort).catch(() => undefined), STAGE_COUNTERS[s]),
      ),
    );
    if (counts.every((c) => c >= p.load.ackedSpans) && p.searchable.pendingCount === 0)
      return { seconds: (Date.now() - t0) / 1000, complete: true };
    await new Promise((r) => setTimeout(r, 500));
  }
  return { seconds: (Date.now() - t0) / 1000, complete: false };
}

async function cleanup(names: Names, cfg: SharedConfig): Promise<void> {
  const admin = createKafka(cfg, 'bench-cleanup').admin();
  await admin.connect();
  await admin.deleteTopics({ topics: [...Object.values(names.topics), names.partials] }).catch(() => undefined);
  const groups = [...Object.values(names.groups), `${names.groups.aggregator}-merge`];
  await admin.deleteGroups(groups).catch(() => undefined);
  await admin.disconnect();
  const es = createElasticsearch(cfg);
  await es.indices.delete({ index: `${names.prefix}-*`, ignore_unavailable: true, allow_no_indices: true }).catch(() => undefined);
  await es.indices.deleteIndexTemplate({ name: `${names.prefix}-*` }).catch(() => undefined);
  await es.close();
}

function stepLine(r: StepResult, of: number): string {
  const s = r.spansPerSecond;
  const worst = (Object.keys(r.backlog) as (keyof StepResult['backlog'])[]).reduce((a, b) =>
    r.backlog[b].slope > r.backlog[a].slope ? b : a,
  );
  return (
    `step ${r.step}/${of} ${fmt(r.offered)} spans/s offered: produced ${fmt(s.produced)}, ingest ${fmt(s.ingest)}, aggregator ${fmt(s.aggregator)}, ` +
    `indexed ${fmt(s.indexer)} | searchable p50 ${fmt(r.searchable.p50 ?? NaN)} ms, p99 ${fmt(r.searchable.p99 ?? NaN)} ms (so far) | ` +
    `close → record p99 ${fmt(r.closeToPublish.p99 ?? NaN)} ms | worst backlog slope ${worst} ${fmt(r.backlog[worst].slope)} spans/s | ` +
    `machine ${fmt(r.machineBusy * 100)} % busy | ${r.limit ?? 'steady'}` +
    (r.recheck ? ` (rechecked for ${fmt(r.recheck.seconds)} s: ${r.recheck.limit ?? 'steady'})` : '')
  );
}

async function main(): Promise<void> {
  const startedAt = new Date().toISOString();
  const plan: StepPlan = {
    steps: bench.steps,
    stepSeconds: bench.stepSeconds,
    startRate: bench.startRate,
    growth: bench.growth,
    warmupSeconds: Math.min(15, bench.stepSeconds),
  };
  const names = runNames();
  const clusterDir = env.MPLP_CLUSTER_DIR ?? path.join(ROOT, '.cluster');
  const kafkaPid = clusterPid(clusterDir, 'kafka', Number(shared.kafkaBrokers[0].split(':').pop()));
  const esPid = clusterPid(clusterDir, 'elasticsearch', Number(new URL(shared.esNode).port || 9200));
  const es = createElasticsearch(shared);
  const esVersion = (await es.info()).version.number;
  const logDir = mkdtempSync(path.join(os.tmpdir(), `${names.id}-`));
  const longest = plan.warmupSeconds + plan.steps * plan.stepSeconds;
  log(
    `bench: the whole pipeline, up to ${plan.steps} steps of ${plan.stepSeconds} s from ${fmt(plan.startRate)} spans/s (×${plan.growth}) ` +
      `to ${fmt(stepRate(plan, plan.steps - 1))}: at most ~${Math.ceil(longest / 60)} min of traffic${bench.ceilings ? ', then the stage ceilings (~2-3 min)' : ''}`,
  );
  log(`bench: Kafka pid ${kafkaPid ?? 'not found'}, Elasticsearch ${esVersion} pid ${esPid ?? 'not found'}; worker logs in ${logDir}`);
  const base: NodeJS.ProcessEnv = {
    ...env,
    ...names.topics,
    MPLP_INDEX_PREFIX: names.prefix,
    MPLP_LOG_LEVEL: env.MPLP_LOG_LEVEL ?? 'info',
  };
  let workers: Record<string, WorkerProcess> = {};
  let load: LoadFleet | undefined;
  const probe = new SearchableProbe(es, `${names.prefix}-traces-*`, DRAIN_MS);
  let cleaned = false;
  /** Stops what this run started and deletes its topics, groups and indices; safe to call twice. */
  const teardown = async () => {
    probe.stop();
    if (load) await load.stop().catch(() => undefined);
    await Promise.all(Object.values(workers).map((w) => w.stop().catch(() => null)));
    if (!cleaned) {
      cleaned = true;
      await cleanup(names, shared).catch((err) => log(`bench: cleanup failed: ${(err as Error).message}`));
    }
  };
  process.once('SIGINT', () => {
    log("bench: interrupted, stopping the workers and deleting the run's topics and indices");
    void teardown().finally(() => process.exit(130));
  });
  try {
    await runSetup(base);
    workers = await startWorkers(names, base, logDir);
    load = await LoadFleet.start(bench.loadProcesses, base, (id, at) => probe.add(id, at));
    log(
      `bench: workers ready (${Object.values(workers)
        .map((w) => `${w.name} ${w.pid}`)
        .join(', ')}); warming up ${plan.warmupSeconds} s`,
    );
    const measured: Measured[] = [
      ...load.measured,
      ...Object.values(workers),
      ...(kafkaPid ? [{ name: 'kafka', pid: kafkaPid }] : []),
      ...(esPid ? [{ name: 'elasticsearch', pid: esPid }] : []),
      { name: 'bench driver', pid: process.pid },
    ];
    const p: Pipeline = {
      workers: { ingest: workers.ingest, aggregator: workers.aggregator, indexer: workers.indexer },
      load,
      searchable: probe,
      measured,
    };
    const memory = new MemoryWatch();
    probe.start();
    const { steps, stopReason } = await runSteps(p, plan, memory, (r) => log(stepLine(r, plan.steps)));
    log(`bench: ${stopReason}`);
    await load.stop();
    const drained = await drain(p);
    probe.stop();
    log(`bench: drained in ${fmt(drained.seconds, 1)} s${drained.complete ? '' : ' (gave up: some stage or sample never caught up)'}`);
    for (const s of steps) fillSearchable(s, probe);
    const peakRssMiB: Record<string, number> = {};
    for (const m of measured) {
      const own = m.name !== 'kafka' && m.name !== 'elasticsearch';
      peakRssMiB[m.name] = own ? (memoryMiB(m.pid)?.peak ?? memory.peakRss.get(m.name) ?? NaN) : (memory.peakRss.get(m.name) ?? NaN);
    }
    await teardown();
    const last = [...steps].reverse().find((s) => !s.limit);
    const result: BenchResult = {
      startedAt,
      finishedAt: '',
      example: plan.stepSeconds < MIN_REAL_STEP_SECONDS,
      machine: machineInfo(),
      cluster: { kafka: { version: kafkaVersion(clusterDir, kafkaPid), pid: kafkaPid }, elasticsearch: { version: esVersion, pid: esPid } },
      plan: { ...plan, loadProcesses: bench.loadProcesses },
      steps,
      stopReason,
      sustainedStep: last?.step,
      peakRssMiB,
      drain: drained,
    };
    if (bench.ceilings) {
      log('bench: stage ceilings (bench:ingest, bench:indexer)');
      result.ceilings = await measureCeilings(env, bench.rounds, log);
    }
    result.finishedAt = new Date().toISOString();
    const s = sustained(result);
    log(
      `bench: sustained end to end ${s ? `${fmt(s.spansPerSecond.indexer)} spans/s (step ${s.step}); searchable p50 ${fmt(s.searchable.p50 ?? NaN)} ms, p99 ${fmt(s.searchable.p99 ?? NaN)} ms; close → record p99 ${fmt(s.closeToPublish.p99 ?? NaN)} ms` : 'none (the first step already lagged)'}`,
    );
    for (const f of writeResults(result)) log(`bench: wrote ${f}`);
  } finally {
    await teardown();
    await es.close();
  }
}

/** `--report <file.json>`: writes the markdown, charts and README block again from a saved result (no run). */
async function rerender(file: string): Promise<void> {
  const result = JSON.parse(readFileSync(file, 'utf8')) as BenchResult;
  for (const f of writeResults(result)) log(`bench: wrote ${f}`);
}

(process.argv[2] === '--report' ? rerender(process.argv[3]) : main()).then(
  () => process.exit(0),
  (err) => {
    console.error(`bench: ${(err as Error).stack ?? err}`);
    process.exit(1);
  },
);
