/**
 * The whole pipeline under churn: ingest, indexer and aggregator run as two OS processes each
 * (the archiver as one), the load generator publishes OTLP/JSON and OTLP/protobuf at a steady
 * rate, and meanwhile copies of each worker are killed with -9 and restarted or stopped with
 * SIGTERM and started again. Once the load has stopped and everything is consumed, the outputs
 * must be what a run without faults gives: every valid span once in the validated topic and in
 * Elasticsearch, every bad message once in the DLQ, every window equal to the one computed by an
 * aggregator that was never disturbed (and to the exact count of the spans in it), the same
 * alerts fired and resolved.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Admin } from 'kafkajs';
import { ListObjectsV2Command } from '@aws-sdk/client-s3';
import { ensureIndexTemplates, loadProcessConfig, SpanBatchCodec, DLQ_HEADER_SOURCE, NormalizedSpan } from '../../shared/src';
import { TestContext, uniqueName, waitFor } from '../../shared/testing';
import {
  consumedAll,
  groupOffsets,
  stableMembers,
  TopicReader,
  waitForGroups,
  waitForRejoin,
  WorkerProcess,
} from '../../shared/testing/processes';
import { ingestSchema, MessageProcessor } from '../../ingest/src';
import type { AlertRecord } from '../../shared/src';
import type { WindowRecord } from '../../aggregator/src/window-record';
import { expectedWindows, PANE } from '../../aggregator/test/helpers';
import { aggregatorEnv } from '../../aggregator/test/run-helpers';

const DIST = path.join(__dirname, '..', '..');
const MAIN = {
  ingest: path.join(DIST, 'ingest', 'src', 'main.js'),
  indexer: path.join(DIST, 'indexer', 'src', 'main.js'),
  aggregator: path.join(DIST, 'aggregator', 'src', 'main.js'),
  archiver: path.join(DIST, 'archiver', 'src', 'main.js'),
  loadgen: path.join(DIST, 'ingest', 'src', 'loadgen', 'main.js'),
};

const LOAD_MS = 60_000;
/** Spans/s of each of the two steady load generators (OTLP/JSON and OTLP/protobuf). */
const RATE = 300;
/** The error burst: a third generator, many errors, at the start of the load, so an alert fires and then resolves. */
const BURST_MS = 10_000;
const BURST_RATE = 600;
const BAD_EVERY_MS = 500;
/** Past the longest upstream stall a kill -9 causes here (ingest's 6 s session timeout, its rebalance and replay). */
const LATENESS = '15s';
/** Faults start no later than this into the load, so each has recovered before the load stops. */
const LAST_FAULT_MS = 45_000;

type Fault = 'kill' | 'term';

const RULES = {
  rules: [
    // The burst raises the error rate of frontend GET / to ~0.5 in the windows holding it: the alert
    // fires, and resolves once the windows hold ~20 s of the steady load (~0.02) besides.
    {
      id: 'frontend-errors',
      selector: { service: 'frontend', operation: 'GET /' },
      metric: 'errorRate',
      op: '>',
      threshold: 0.3,
      for: '5s',
    },
  ],
};

const spanKey = (s: { traceId: string; spanId: string }) => `${s.traceId}:${s.spanId}`;
const startMs = (s: NormalizedSpan) => Date.parse(s.startTime.slice(0, 23) + 'Z');
const pace = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Occurrences of each key. */
function tally<T>(items: T[], key: (t: T) => string): Map<string, number> {
  const out = new Map<string, number>();
  for (const i of items) out.set(key(i), (out.get(key(i)) ?? 0) + 1);
  return out;
}

/** The latest record of each window id. */
function latestWindows(messages: { value: Buffer | null }[]): Map<string, WindowRecord> {
  const out = new Map<string, WindowRecord>();
  for (const m of messages) {
    const r = JSON.parse(m.value!.toString()) as WindowRecord;
    out.set(r.id, r);
  }
  return out;
}

/** What a window must equal between runs: counts and the percentiles of its merged histogram. */
function measures(r: WindowRecord) {
  const { p50, p90, p95, p99, p999, min, max } = r.latencyMs;
  return { count: r.count, errorCount: r.errorCount, p50, p90, p95, p99, p999, min, max };
}

/** Every span document under the prefix: its span's key, and where it is. */
async function indexedSpans(ctx: TestContext, prefix: string): Promise<{ key: string; at: string }[]> {
  const es = ctx.es();
  await es.indices.refresh({ index: `${prefix}-traces-*`, ignore_unavailable: true, allow_no_indices: true } as never);
  const keys: { key: string; at: string }[] = [];
  let after: unknown[] | undefined;
  for (;;) {
    const res = await es.search<{ traceId: string; spanId: string }>({
      index: `${prefix}-traces-*`,
      size: 5000,
      _source: ['traceId', 'spanId'],
      // By the span's key alone: a date_nanos sort value comes back in milliseconds, and as a search_after
      // bound it would let the page's last document open the next page again.
      sort: [{ traceId: 'asc' }, { spanId: 'asc' }],
      track_total_hits: false,
      ...(after ? { search_after: after } : {}),
    } as never);
    for (const h of res.hits.hits) keys.push({ key: spanKey(h._source!), at: `${h._index}/${h._id}` });
    if (res.hits.hits.length < 5000) return keys;
    after = res.hits.hits[res.hits.hits.length - 1].sort as unknown[];
  }
}

/** The end of the last window the merge stage emitted, per partials partition (commit metadata). */
async function mergeCursors(admin: Admin, group: string): Promise<number[]> {
  const [res] = await admin.fetchOffsets({ groupId: `${group}-merge`, topics: [`${group}.partials`] });
  return res.partitions.map((p) => (p.metadata ? ((JSON.parse(p.metadata) as { cursor?: number }).cursor ?? 0) : 0));
}

/**
 * Faults on the two copies of one worker, in turn: kill -9 or SIGTERM, start again at once, and
 * wait until every group of the worker has rebalanced onto the new process before the next.
 */
async function churn(
  admin: Admin,
  copies: WorkerProcess[],
  groups: string[],
  plan: Fault[],
  lastStart: number,
  log: string[],
): Promise<void> {
  for (let i = 0; i < plan.length && Date.now() < lastStart; i++) {
    const before = await Promise.all(
      groups.map((g) =>
        waitFor(
          `group ${g} stable with 2 members`,
          async () => {
            const m = await stableMembers(admin, g);
            return m?.length === 2 && m;
          },
          { timeoutMs: 90_000, intervalMs: 250 },
        ),
      ),
    );
    const target = copies[i % copies.length];
    if (plan[i] === 'kill') await target.kill9();
    else await target.term();
    target.start();
    log.push(`${plan[i] === 'kill' ? 'kill -9' : 'SIGTERM'} ${target.name}`);
    try {
      await Promise.all(groups.map((g, j) => waitForRejoin(admin, g, 2, before[j])));
    } catch (err) {
      const { groups: described } = await admin.describeGroups(groups);
      const state = described.map((g) => `${g.groupId}: ${g.state}, ${g.members.length} members`).join('; ');
      const copiesNow = copies.map(
        (c) => `${c.name} ${c.running ? 'running' : `exited ${c.exitCode()}`}, output:\n${c.output().slice(-3000)}`,
      );
      throw new Error(`${(err as Error).message} after ${log[log.length - 1]} (${state})\n${copiesNow.join('\n')}`);
    }
    await pace(3000);
  }
}

/** The pipeline under test: its topics, groups, processes and the readers of its outputs. */
interface Pipeline {
  admin: Admin;
  topics: { raw: string; validated: string; dlq: string; metrics: string; alerts: string; refMetrics: string; refAlerts: string };
  groups: { ingest: string; indexer: string; agg: string; ref: string };
  prefix: string;
  s3Prefix: string;
  ingest: WorkerProcess[];
  indexer: WorkerProcess[];
  aggregator: WorkerProcess[];
  reference: WorkerProcess;
  archiver: WorkerProcess;
  readers: Record<'validated' | 'dlq' | 'metrics' | 'alerts' | 'refMetrics' | 'refAlerts', TopicReader>;
}

/** The settings of each worker: fresh topics, groups and index prefix, timers short enough for a test. */
function workerEnvs(
  p: Omit<Pipeline, 'admin' | 'ingest' | 'indexer' | 'aggregator' | 'reference' | 'archiver' | 'readers'>,
  rulesFile: string,
) {
  const { topics: t, groups } = p;
  const base = { MPLP_TOPIC_RAW: t.raw, MPLP_TOPIC_VALIDATED: t.validated, MPLP_TOPIC_DLQ: t.dlq, MPLP_LOG_LEVEL: 'warn' };
  const aggregator = (group: string, metrics: string, alerts: string) =>
    aggregatorEnv({ validated: t.validated, metrics, alerts }, group, {
      MPLP_TOPIC_RAW: t.raw,
      MPLP_AGGREGATOR_UPSTREAM_GROUP: groups.ingest,
      MPLP_AGGREGATOR_ALLOWED_LATENESS: LATENESS,
      MPLP_AGGREGATOR_IDLE_TIMEOUT: '2s',
      MPLP_AGGREGATOR_HEARTBEAT_INTERVAL: '500ms',
      MPLP_AGGREGATOR_SESSION_TIMEOUT: '6s',
      MPLP_AGGREGATOR_RULES_FILE: rulesFile,
    });
  return {
    ingest: {
      ...base,
      MPLP_INGEST_GROUP_ID: groups.ingest,
      MPLP_INGEST_HTTP_PORT: '0',
      MPLP_INGEST_WORKER_THREADS: '1',
      MPLP_INGEST_SESSION_TIMEOUT: '6s',
    },
    indexer: {
      ...base,
      MPLP_TOPIC_METRICS: t.metrics,
      MPLP_TOPIC_ALERTS: t.alerts,
      MPLP_INDEX_PREFIX: p.prefix,
      MPLP_INDEXER_GROUP_ID: groups.indexer,
      MPLP_INDEXER_HTTP_PORT: '0',
      MPLP_INDEXER_QUERY_PORT: '0',
      MPLP_INDEXER_SESSION_TIMEOUT: '6s',
      MPLP_INDEXER_RETRY_MAX: '2s',
    },
    aggregator: aggregator(groups.agg, t.metrics, t.alerts),
    reference: aggregator(groups.ref, t.refMetrics, t.refAlerts),
    archiver: {
      MPLP_INDEX_PREFIX: p.prefix,
      MPLP_S3_PREFIX: p.s3Prefix,
      MPLP_ARCHIVER_INTERVAL: '10s',
      MPLP_ARCHIVER_HTTP_PORT: '0',
      MPLP_LOG_LEVEL: 'warn',
    },
  };
}

/** Starts every worker as its own process and the readers of every output; resolves once each group has all its members. */
async function startPipeline(ctx: TestContext, rulesFile: string): Promise<Pipeline> {
  const admin = await ctx.admin();
  const [raw, validated, dlq] = await ctx.topics(['raw', 'validated', 'dlq'], 6);
  const [metrics, alerts, refMetrics, refAlerts] = await ctx.topics(['metrics', 'alerts', 'ref-metrics', 'ref-alerts'], 3);
  const prefix = ctx.indexPrefix('test-churn');
  await ensureIndexTemplates(ctx.es(), prefix);
  const groups = {
    ingest: uniqueName('test-churn-ingest'),
    indexer: uniqueName('test-churn-indexer'),
    agg: uniqueName('test-churn-agg'),
    ref: uniqueName('test-churn-ref'),
  };
  const partials = [groups.agg, groups.ref].map((g) => `${g}.partials`);
  ctx.defer(async () => {
    const a = ctx.kafka('cleanup').admin();
    await a.connect();
    await a.deleteTopics({ topics: partials }).catch(() => undefined);
    await a.disconnect();
  });
  const named = {
    topics: { raw, validated, dlq, metrics, alerts, refMetrics, refAlerts },
    groups,
    prefix,
    s3Prefix: uniqueName('test-churn'),
  };
  const env = workerEnvs(named, rulesFile);
  const copies = (kind: 'ingest' | 'indexer' | 'aggregator') =>
    [0, 1].map((i) => new WorkerProcess(ctx, `${kind}-${i}`, MAIN[kind], env[kind]));
  const p: Pipeline = {
    ...named,
    admin,
    ingest: copies('ingest'),
    indexer: copies('indexer'),
    aggregator: copies('aggregator'),
    reference: new WorkerProcess(ctx, 'aggregator-reference', MAIN.aggregator, env.reference),
    archiver: new WorkerProcess(ctx, 'archiver', MAIN.archiver, env.archiver),
    readers: {
      validated: await TopicReader.start(ctx, validated),
      dlq: await TopicReader.start(ctx, dlq),
      metrics: await TopicReader.start(ctx, metrics),
      alerts: await TopicReader.start(ctx, alerts),
      refMetrics: await TopicReader.start(ctx, refMetrics),
      refAlerts: await TopicReader.start(ctx, refAlerts),
    },
  };
  for (const w of workers(p)) w.start();
  const members = {
    [groups.ingest]: 2,
    [groups.indexer]: 2,
    [groups.agg]: 2,
    [`${groups.agg}-merge`]: 2,
    [groups.ref]: 1,
    [`${groups.ref}-merge`]: 1,
  };
  const ms = await waitForGroups(admin, members, workers(p));
  process.stderr.write(`churn: every worker in its group ${ms} ms after the starts\n`);
  return p;
}

function workers(p: Pipeline): WorkerProcess[] {
  return [...p.ingest, ...p.indexer, ...p.aggregator, p.reference, p.archiver];
}

/**
 * The load (steady OTLP/JSON and OTLP/protobuf, an error burst at the start, bad messages of our
 * own) and, meanwhile, the faults. Resolves when the load has stopped and every fault has recovered.
 */
async function loadUnderChurn(ctx: TestContext, p: Pipeline): Promise<{ bad: number; faults: string[]; seconds: number }> {
  const loadgen = (name: string, encoding: string, rate: number, ms: number, errorRate: number) =>
    new WorkerProcess(ctx, name, MAIN.loadgen, {
      MPLP_TOPIC_RAW: p.topics.raw,
      MPLP_LOADGEN_RATE: String(rate),
      MPLP_LOADGEN_DURATION: `${ms}ms`,
      MPLP_LOADGEN_ENCODING: encoding,
      MPLP_LOADGEN_ERROR_RATE: String(errorRate),
      MPLP_LOADGEN_BAD_SHARE: '0',
      MPLP_LOG_LEVEL: 'warn',
    });
  const load = [loadgen('loadgen-json', 'json', RATE, LOAD_MS, 0.01), loadgen('loadgen-protobuf', 'protobuf', RATE, LOAD_MS, 0.01)];
  const burst = loadgen('loadgen-burst', 'mixed', BURST_RATE, BURST_MS, 0.9);
  const started = Date.now();
  for (const g of [...load, burst]) g.start();
  const producer = await ctx.producer();
  let bad = 0;
  const badSends: Promise<unknown>[] = [];
  const badTimer = setInterval(() => {
    const value = Buffer.from(`{"resourceSpans":[{"churn-bad":${bad++},`);
    badSends.push(producer.send({ topic: p.topics.raw, acks: -1, messages: [{ value, headers: { 'content-type': 'application/json' } }] }));
  }, BAD_EVERY_MS);
  ctx.defer(() => clearInterval(badTimer));

  const faults: string[] = [];
  const lastStart = started + LAST_FAULT_MS;
  const { admin, groups } = p;
  await Promise.all([
    churn(admin, p.ingest, [groups.ingest], ['kill', 'kill', 'term', 'kill'], lastStart, faults),
    pace(2000).then(() => churn(admin, p.indexer, [groups.indexer], ['term', 'kill', 'term', 'kill'], lastStart, faults)),
    pace(4000).then(() => churn(admin, p.aggregator, [groups.agg, `${groups.agg}-merge`], ['kill', 'term', 'kill'], lastStart, faults)),
    ...load.map((g) => g.done(LOAD_MS + 60_000)),
    burst.done(LOAD_MS),
  ]);
  clearInterval(badTimer);
  await Promise.all(badSends);
  return { bad, faults, seconds: (Date.now() - started) / 1000 };
}

/** What was offered: every record of the raw topic, decoded as ingest decodes it. */
async function offered(ctx: TestContext, p: Pipeline) {
  const reader = await TopicReader.start(ctx, p.topics.raw);
  await waitFor('the raw topic read', () => reader.caughtUp(p.admin), { timeoutMs: 60_000, intervalMs: 500 });
  const processor = new MessageProcessor(loadProcessConfig(process.env, 'MPLP_INGEST_', ingestSchema).own);
  const spans: NormalizedSpan[] = [];
  const badSources: string[] = [];
  for (const m of reader.messages) {
    const source = `${p.topics.raw}/${m.partition}/${m.offset}`;
    const res = processor.process(m.value, m.headers?.['content-type']?.toString(), source);
    spans.push(...res.spans);
    if (res.dlq.length) badSources.push(source);
  }
  return { spans, valid: new Set(spans.map(spanKey)), badSources, messages: reader.messages.length };
}

/**
 * Waits for lag zero (ingest on the raw topic; the indexer and every reader past every committed
 * record) and for both aggregations to have closed and published every window through `cutoff`.
 */
async function settle(p: Pipeline, cutoff: number): Promise<void> {
  const { admin, readers } = p;
  const opts = { timeoutMs: 60_000, intervalMs: 500 };
  await waitFor(
    'ingest lag zero',
    async () => (await groupOffsets(admin, p.groups.ingest, p.topics.raw)).every((o) => o.committed >= o.end),
    opts,
  );
  await waitFor(
    'validated and DLQ read to the end',
    async () => (await readers.validated.caughtUp(admin)) && readers.dlq.caughtUp(admin),
    opts,
  );
  await waitFor('indexer lag zero', () => consumedAll(admin, p.groups.indexer, readers.validated), { ...opts, timeoutMs: 90_000 });
  const closed = async (group: string, reader: TopicReader) =>
    (await mergeCursors(admin, group)).every((c) => c >= cutoff) && reader.caughtUp(admin);
  await waitFor(
    'windows closed through the cutoff',
    async () => (await closed(p.groups.agg, readers.metrics)) && closed(p.groups.ref, readers.refMetrics),
    {
      ...opts,
      timeoutMs: 120_000,
    },
  );
  await waitFor('alerts read', async () => (await readers.alerts.caughtUp(admin)) && readers.refAlerts.caughtUp(admin), opts);
}

/** Failures found by each check, by name; a check with none passed. */
class Checks {
  readonly failures = new Map<string, string[]>();
  constructor(names: string[]) {
    for (const n of names) this.failures.set(n, []);
  }
  fail(check: string, what: string): void {
    this.failures.get(check)!.push(what);
  }
  /** Up to five failures, then how many in all. */
  failEach(check: string, items: string[]): void {
    for (const i of items.slice(0, 5)) this.fail(check, i);
    if (items.length > 5) this.fail(check, `… ${items.length} in all`);
  }
  lines(): string[] {
    return [...this.failures].map(([c, f]) => `${f.length ? 'FAIL' : 'ok  '} ${c}${f.length ? `: ${f.join('; ')}` : ''}`);
  }
  failed(): string[] {
    return [...this.failures].filter(([, f]) => f.length).map(([c, f]) => `${c}: ${f.join('; ')}`);
  }
}

/** Each valid span once in the validated topic (read_committed), nothing else. */
function checkValidated(p: Pipeline, valid: Set<string>, checks: Checks): string {
  const seen = tally(
    p.readers.validated.messages.flatMap((m) => SpanBatchCodec.decode(m.value!)),
    spanKey,
  );
  const dup = [...seen.values()].reduce((n, c) => n + c - 1, 0);
  const missing = [...valid].filter((k) => !seen.has(k)).length;
  const stray = [...seen.keys()].filter((k) => !valid.has(k)).length;
  const check = 'validated exactly once';
  if (dup) checks.fail(check, `${dup} duplicate span records over ${[...seen.values()].filter((c) => c > 1).length} spans`);
  if (missing) checks.fail(check, `${missing} valid spans missing`);
  if (stray) checks.fail(check, `${stray} spans that were never offered`);
  return `validated: ${[...seen.values()].reduce((a, b) => a + b, 0)} span records, ${dup} duplicates, ${missing} missing`;
}

/** Each valid span one document in Elasticsearch, nothing else. */
async function checkElasticsearch(ctx: TestContext, p: Pipeline, valid: Set<string>, checks: Checks): Promise<string> {
  const docs = await indexedSpans(ctx, p.prefix);
  const indexed = tally(docs, (d) => d.key);
  const dup = [...indexed.values()].reduce((n, c) => n + c - 1, 0);
  const missing = [...valid].filter((k) => !indexed.has(k)).length;
  const stray = [...indexed.keys()].filter((k) => !valid.has(k)).length;
  const check = 'Elasticsearch exactly once';
  if (dup) {
    const twice = docs.filter((d) => indexed.get(d.key)! > 1).slice(0, 6);
    checks.fail(check, `${dup} duplicate documents (${twice.map((d) => d.at).join(', ')})`);
  }
  if (missing) checks.fail(check, `${missing} of ${valid.size} valid spans missing`);
  if (stray) checks.fail(check, `${stray} documents of spans never offered`);
  return `Elasticsearch: ${docs.length} documents, ${dup} duplicates, ${missing} missing`;
}

/** Each bad message one dead letter (by its source record), nothing else. */
function checkDlq(p: Pipeline, badSources: string[], sent: number, checks: Checks): string {
  const dead = tally(p.readers.dlq.messages, (m) => m.headers?.[DLQ_HEADER_SOURCE]?.toString() ?? '?');
  const bad = new Set(badSources);
  const check = 'DLQ exactly once';
  if (badSources.length !== sent) checks.fail(check, `${sent} bad messages sent, ${badSources.length} found in the raw topic`);
  const dup = badSources.filter((s) => (dead.get(s) ?? 0) > 1).length;
  const missing = badSources.filter((s) => !dead.has(s)).length;
  const stray = [...dead.keys()].filter((s) => !bad.has(s)).length;
  if (dup) checks.fail(check, `${dup} bad messages dead-lettered more than once`);
  if (missing) checks.fail(check, `${missing} bad messages not dead-lettered`);
  if (stray) checks.fail(check, `${stray} dead letters of records that were valid`);
  return `DLQ: ${p.readers.dlq.messages.length} dead letters for ${badSources.length} bad messages`;
}

/** Windows through the cutoff: the churned pair equals the undisturbed reference, and the exact counts of the spans offered. */
function checkWindows(p: Pipeline, spans: NormalizedSpan[], cutoff: number, checks: Checks): string {
  const upTo = (messages: { value: Buffer | null }[]) =>
    new Map([...latestWindows(messages)].filter(([, r]) => Date.parse(r.windowEnd) <= cutoff && r.count > 0));
  const ours = upTo(p.readers.metrics.messages);
  const ref = upTo(p.readers.refMetrics.messages);
  const expected = new Map([...expectedWindows(spans)].filter(([, w]) => w.end <= cutoff));
  const show = (r: WindowRecord | undefined) => (r ? JSON.stringify(measures(r)) : 'missing');
  const differing = [...new Set([...ours.keys(), ...ref.keys()])]
    .filter((id) => show(ours.get(id)) !== show(ref.get(id)))
    .map((id) => `${id}: churned ${show(ours.get(id))}, reference ${show(ref.get(id))}`);
  checks.failEach('windows equal the reference', differing);
  const inexact = [...expected]
    .filter(([id, e]) => ours.get(id)?.count !== e.count || ours.get(id)?.errorCount !== e.errorCount)
    .map(([id, e]) => {
      const a = ours.get(id);
      const got = a ? `${a.count} / ${a.errorCount} (late ${a.lateCount})` : 'missing';
      return `${id}: expected count ${e.count} errors ${e.errorCount}, churned ${got}, reference ${ref.get(id)?.count ?? 'missing'}`;
    });
  for (const id of ours.keys()) if (!expected.has(id)) inexact.push(`${id}: a window of no span offered`);
  checks.failEach('windows exact', inexact);
  const late = [...ours.values()].reduce((n, r) => n + r.lateCount, 0);
  return `windows: ${expected.size} expected through ${new Date(cutoff).toISOString()}, ${ours.size} churned, ${ref.size} reference, ${differing.length} differ from the reference, ${inexact.length} inexact, lateCount ${late}`;
}

/** The same alert changes as the reference (fired and resolved per rule and series), one of each at least. */
function checkAlerts(p: Pipeline, cutoff: number, checks: Checks): string {
  const changes = (messages: { value: Buffer | null }[]) => {
    const records = messages.map((m) => JSON.parse(m.value!.toString()) as AlertRecord);
    return [...new Set(records.filter((c) => Date.parse(c.windowEnd) <= cutoff).map((c) => c.id))].sort();
  };
  const ours = changes(p.readers.alerts.messages);
  const ref = changes(p.readers.refAlerts.messages);
  const check = 'alerts equal the reference';
  if (ours.join('\n') !== ref.join('\n')) checks.fail(check, `churned ${JSON.stringify(ours)}, reference ${JSON.stringify(ref)}`);
  if (!ref.some((id) => id.endsWith('|firing')) || !ref.some((id) => id.endsWith('|resolved')))
    checks.fail(check, `the run must fire and resolve an alert: ${JSON.stringify(ref)}`);
  return `alerts: ${ours.length} changes (reference ${ref.length}): ${ref.join(', ')}`;
}

/** The archiver ran throughout and archived nothing of today's indices. */
async function checkArchiver(ctx: TestContext, p: Pipeline, checks: Checks): Promise<void> {
  if (!p.archiver.running) checks.fail('archiver harmless', `archiver exited ${p.archiver.exitCode()}: ${p.archiver.output()}`);
  const archived = await ctx.s3().send(new ListObjectsV2Command({ Bucket: ctx.cfg.s3Bucket, Prefix: `${p.s3Prefix}/` }));
  if (archived.KeyCount) checks.fail('archiver harmless', `${archived.KeyCount} objects archived`);
}

describe('the pipeline under churn', () => {
  let ctx: TestContext;
  let rulesDir: string;
  beforeEach(() => {
    ctx = new TestContext();
    rulesDir = mkdtempSync(path.join(os.tmpdir(), 'mplp-churn-'));
  });
  afterEach(async () => {
    await ctx.cleanup();
    rmSync(rulesDir, { recursive: true, force: true });
  });

  it('kill -9 and SIGTERM of copies of ingest, indexer and aggregator under load lose and duplicate nothing: spans, dead letters, windows and alerts as without faults', async () => {
    const rulesFile = path.join(rulesDir, 'rules.json');
    writeFileSync(rulesFile, JSON.stringify(RULES));
    const p = await startPipeline(ctx, rulesFile);
    const load = await loadUnderChurn(ctx, p);
    const offer = await offered(ctx, p);
    // Windows through the pane after the last span's.
    const cutoff = Math.ceil(Math.max(...offer.spans.map(startMs)) / PANE) * PANE + PANE;
    await settle(p, cutoff);

    const checks = new Checks([
      'validated exactly once',
      'Elasticsearch exactly once',
      'DLQ exactly once',
      'windows equal the reference',
      'windows exact',
      'alerts equal the reference',
      'archiver harmless',
    ]);
    const summary = [
      `churn: ${offer.valid.size} valid spans in ${offer.messages} raw messages over ${load.seconds.toFixed(0)} s, ${load.bad} bad messages`,
      `faults (${load.faults.length}): ${load.faults.join(', ')}`,
      checkValidated(p, offer.valid, checks),
      await checkElasticsearch(ctx, p, offer.valid, checks),
      checkDlq(p, offer.badSources, load.bad, checks),
      checkWindows(p, offer.spans, cutoff, checks),
      checkAlerts(p, cutoff, checks),
    ];
    await checkArchiver(ctx, p, checks);
    console.log([...summary, ...checks.lines()].join('\n'));
    expect(checks.failed()).toEqual([]);
    for (const w of workers(p)) if (!w.running) throw new Error(`${w.name} exited ${w.exitCode()}:\n${w.output()}`);
  }, 300_000);
});
