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
import { consumedAll, groupOffsets, stableMembers, TopicReader, waitForRejoin, WorkerProcess } from '../../shared/testing/processes';
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
    const admin = await ctx.admin();
    const [raw, validated, dlq] = await ctx.topics(['raw', 'validated', 'dlq'], 6);
    const [metrics, alerts, refMetrics, refAlerts] = await ctx.topics(['metrics', 'alerts', 'ref-metrics', 'ref-alerts'], 3);
    const prefix = ctx.indexPrefix('test-churn');
    await ensureIndexTemplates(ctx.es(), prefix);
    const s3Prefix = uniqueName('test-churn');
    const rulesFile = path.join(rulesDir, 'rules.json');
    writeFileSync(rulesFile, JSON.stringify(RULES));

    const groups = {
      ingest: uniqueName('test-churn-ingest'),
      indexer: uniqueName('test-churn-indexer'),
      agg: uniqueName('test-churn-agg'),
      ref: uniqueName('test-churn-ref'),
    };
    for (const g of [groups.agg, groups.ref]) {
      ctx.defer(async () => {
        const a = ctx.kafka('cleanup').admin();
        await a.connect();
        await a.deleteTopics({ topics: [`${g}.partials`] }).catch(() => undefined);
        await a.disconnect();
      });
    }
    const base = { MPLP_TOPIC_RAW: raw, MPLP_TOPIC_VALIDATED: validated, MPLP_TOPIC_DLQ: dlq, MPLP_LOG_LEVEL: 'warn' };
    const ingestEnv = {
      ...base,
      MPLP_INGEST_GROUP_ID: groups.ingest,
      MPLP_INGEST_HTTP_PORT: '0',
      MPLP_INGEST_WORKER_THREADS: '1',
      MPLP_INGEST_SESSION_TIMEOUT: '6s',
    };
    const indexerEnv = {
      ...base,
      MPLP_TOPIC_METRICS: metrics,
      MPLP_TOPIC_ALERTS: alerts,
      MPLP_INDEX_PREFIX: prefix,
      MPLP_INDEXER_GROUP_ID: groups.indexer,
      MPLP_INDEXER_HTTP_PORT: '0',
      MPLP_INDEXER_QUERY_PORT: '0',
      MPLP_INDEXER_SESSION_TIMEOUT: '6s',
      MPLP_INDEXER_RETRY_MAX: '2s',
    };
    const aggEnv = (group: string, m: string, a: string) => ({
      ...aggregatorEnv({ validated, metrics: m, alerts: a }, group, {
        MPLP_TOPIC_RAW: raw,
        MPLP_AGGREGATOR_UPSTREAM_GROUP: groups.ingest,
        MPLP_AGGREGATOR_ALLOWED_LATENESS: LATENESS,
        MPLP_AGGREGATOR_IDLE_TIMEOUT: '2s',
        MPLP_AGGREGATOR_HEARTBEAT_INTERVAL: '500ms',
        MPLP_AGGREGATOR_RULES_FILE: rulesFile,
      }),
    });
    const archiverEnv = {
      MPLP_INDEX_PREFIX: prefix,
      MPLP_S3_PREFIX: s3Prefix,
      MPLP_ARCHIVER_INTERVAL: '10s',
      MPLP_ARCHIVER_HTTP_PORT: '0',
      MPLP_LOG_LEVEL: 'warn',
    };

    const ingest = [0, 1].map((i) => new WorkerProcess(ctx, `ingest-${i}`, MAIN.ingest, ingestEnv));
    const indexer = [0, 1].map((i) => new WorkerProcess(ctx, `indexer-${i}`, MAIN.indexer, indexerEnv));
    const aggregator = [0, 1].map((i) => new WorkerProcess(ctx, `aggregator-${i}`, MAIN.aggregator, aggEnv(groups.agg, metrics, alerts)));
    const reference = new WorkerProcess(ctx, 'aggregator-reference', MAIN.aggregator, aggEnv(groups.ref, refMetrics, refAlerts));
    const archiver = new WorkerProcess(ctx, 'archiver', MAIN.archiver, archiverEnv);
    const workers = [...ingest, ...indexer, ...aggregator, reference, archiver];
    for (const w of workers) w.start();

    const readers = {
      validated: await TopicReader.start(ctx, validated),
      dlq: await TopicReader.start(ctx, dlq),
      metrics: await TopicReader.start(ctx, metrics),
      alerts: await TopicReader.start(ctx, alerts),
      refMetrics: await TopicReader.start(ctx, refMetrics),
      refAlerts: await TopicReader.start(ctx, refAlerts),
    };
    const members = {
      [groups.ingest]: 2,
      [groups.indexer]: 2,
      [groups.agg]: 2,
      [`${groups.agg}-merge`]: 2,
      [groups.ref]: 1,
      [`${groups.ref}-merge`]: 1,
    };
    await waitFor(
      'every worker in its group',
      async () => {
        for (const [g, n] of Object.entries(members)) if ((await stableMembers(admin, g))?.length !== n) return false;
        return true;
      },
      { timeoutMs: 90_000, intervalMs: 500 },
    );

    // Load: steady OTLP/JSON and OTLP/protobuf, an error burst at the start, bad messages of our own.
    const loadgen = (name: string, encoding: string, rate: number, ms: number, errorRate: number) =>
      new WorkerProcess(ctx, name, MAIN.loadgen, {
        MPLP_TOPIC_RAW: raw,
        MPLP_LOADGEN_RATE: String(rate),
        MPLP_LOADGEN_DURATION: `${ms}ms`,
        MPLP_LOADGEN_ENCODING: encoding,
        MPLP_LOADGEN_ERROR_RATE: String(errorRate),
        MPLP_LOADGEN_BAD_SHARE: '0',
        MPLP_LOG_LEVEL: 'warn',
      });
    const load = [loadgen('loadgen-json', 'json', RATE, LOAD_MS, 0.01), loadgen('loadgen-protobuf', 'protobuf', RATE, LOAD_MS, 0.01)];
    const burst = loadgen('loadgen-burst', 'mixed', BURST_RATE, BURST_MS, 0.9);
    const loadStart = Date.now();
    for (const g of [...load, burst]) g.start();
    const producer = await ctx.producer();
    let bad = 0;
    const badSends: Promise<unknown>[] = [];
    const badTimer = setInterval(() => {
      const n = bad++;
      badSends.push(
        producer.send({
          topic: raw,
          acks: -1,
          messages: [{ value: Buffer.from(`{"resourceSpans":[{"churn-bad":${n},`), headers: { 'content-type': 'application/json' } }],
        }),
      );
    }, BAD_EVERY_MS);
    ctx.defer(() => clearInterval(badTimer));

    const faults: string[] = [];
    const lastStart = loadStart + LAST_FAULT_MS;
    await Promise.all([
      churn(admin, ingest, [groups.ingest], ['kill', 'kill', 'term', 'kill'], lastStart, faults),
      pace(2000).then(() => churn(admin, indexer, [groups.indexer], ['term', 'kill', 'term', 'kill'], lastStart, faults)),
      pace(4000).then(() => churn(admin, aggregator, [groups.agg, `${groups.agg}-merge`], ['kill', 'term', 'kill'], lastStart, faults)),
      ...load.map((g) => g.done(LOAD_MS + 60_000)),
      burst.done(LOAD_MS),
    ]);
    clearInterval(badTimer);
    await Promise.all(badSends);
    const loadSeconds = (Date.now() - loadStart) / 1000;

    // What was offered: every record of the raw topic, decoded as ingest decodes it.
    const rawReader = await TopicReader.start(ctx, raw);
    await waitFor('the raw topic read', () => rawReader.caughtUp(admin), { timeoutMs: 60_000, intervalMs: 500 });
    const processor = new MessageProcessor(loadProcessConfig(process.env, 'MPLP_INGEST_', ingestSchema).own);
    const validSpans: NormalizedSpan[] = [];
    const badSources: string[] = [];
    for (const m of rawReader.messages) {
      const source = `${raw}/${m.partition}/${m.offset}`;
      const res = processor.process(m.value, m.headers?.['content-type']?.toString(), source);
      validSpans.push(...res.spans);
      if (res.dlq.length) badSources.push(source);
    }
    const valid = new Set(validSpans.map(spanKey));

    // Lag zero: ingest on the raw topic; everyone else has consumed every committed record of what they read.
    await waitFor('ingest lag zero', async () => (await groupOffsets(admin, groups.ingest, raw)).every((p) => p.committed >= p.end), {
      timeoutMs: 60_000,
      intervalMs: 500,
    });
    await waitFor(
      'validated and DLQ read to the end',
      async () => (await readers.validated.caughtUp(admin)) && readers.dlq.caughtUp(admin),
      {
        timeoutMs: 60_000,
        intervalMs: 500,
      },
    );
    await waitFor('indexer lag zero', () => consumedAll(admin, groups.indexer, readers.validated), { timeoutMs: 90_000, intervalMs: 500 });

    // Windows through the pane after the last span: closed (merge cursors past it) and read, in both aggregations.
    const cutoff = Math.ceil(Math.max(...validSpans.map(startMs)) / PANE) * PANE + PANE;
    const expected = new Map([...expectedWindows(validSpans)].filter(([, w]) => w.end <= cutoff));
    const closed = async (group: string, reader: TopicReader) =>
      (await mergeCursors(admin, group)).every((c) => c >= cutoff) && (await reader.caughtUp(admin));
    await waitFor(
      'windows closed through the cutoff',
      async () => (await closed(groups.agg, readers.metrics)) && closed(groups.ref, readers.refMetrics),
      {
        timeoutMs: 120_000,
        intervalMs: 500,
      },
    );
    await waitFor('alerts read', async () => (await readers.alerts.caughtUp(admin)) && readers.refAlerts.caughtUp(admin), {
      timeoutMs: 30_000,
    });

    const checks: Record<string, string[]> = {};
    const fail = (check: string, what: string) => (checks[check] ??= []).push(what);
    for (const c of [
      'validated exactly once',
      'Elasticsearch exactly once',
      'DLQ exactly once',
      'windows equal the reference',
      'windows exact',
      'alerts equal the reference',
      'archiver harmless',
    ])
      checks[c] = [];

    // Validated topic (read_committed): each valid span once, nothing else.
    const inValidated = tally(
      readers.validated.messages.flatMap((m) => SpanBatchCodec.decode(m.value!)),
      spanKey,
    );
    const validatedDup = [...inValidated.values()].reduce((n, c) => n + c - 1, 0);
    const validatedMissing = [...valid].filter((k) => !inValidated.has(k)).length;
    const validatedStray = [...inValidated.keys()].filter((k) => !valid.has(k)).length;
    if (validatedDup)
      fail(
        'validated exactly once',
        `${validatedDup} duplicate span records over ${[...inValidated.values()].filter((c) => c > 1).length} spans`,
      );
    if (validatedMissing) fail('validated exactly once', `${validatedMissing} valid spans missing`);
    if (validatedStray) fail('validated exactly once', `${validatedStray} spans that were never offered`);

    // Elasticsearch: each valid span one document.
    const docs = await indexedSpans(ctx, prefix);
    const indexed = tally(docs, (d) => d.key);
    const esDup = [...indexed.values()].reduce((n, c) => n + c - 1, 0);
    const esMissing = [...valid].filter((k) => !indexed.has(k)).length;
    if (esDup) {
      const twice = docs
        .filter((d) => indexed.get(d.key)! > 1)
        .slice(0, 6)
        .map((d) => d.at);
      fail('Elasticsearch exactly once', `${esDup} duplicate documents (${twice.join(', ')})`);
    }
    if (esMissing) fail('Elasticsearch exactly once', `${esMissing} of ${valid.size} valid spans missing`);
    const esStray = [...indexed.keys()].filter((k) => !valid.has(k)).length;
    if (esStray) fail('Elasticsearch exactly once', `${esStray} documents of spans never offered`);

    // DLQ: each bad message once (by its source record), nothing else.
    const dead = tally(readers.dlq.messages, (m) => m.headers?.[DLQ_HEADER_SOURCE]?.toString() ?? '?');
    const dlqDup = badSources.filter((s) => (dead.get(s) ?? 0) > 1).length;
    const dlqMissing = badSources.filter((s) => !dead.has(s)).length;
    const dlqStray = [...dead.keys()].filter((s) => !badSources.includes(s)).length;
    if (badSources.length !== bad) fail('DLQ exactly once', `${bad} bad messages sent, ${badSources.length} found in the raw topic`);
    if (dlqDup) fail('DLQ exactly once', `${dlqDup} bad messages dead-lettered more than once`);
    if (dlqMissing) fail('DLQ exactly once', `${dlqMissing} bad messages not dead-lettered`);
    if (dlqStray) fail('DLQ exactly once', `${dlqStray} dead letters of records that were valid`);

    // Windows: the churned pair equals the undisturbed reference, and both the exact counts of the spans offered.
    const ours = new Map([...latestWindows(readers.metrics.messages)].filter(([, r]) => Date.parse(r.windowEnd) <= cutoff && r.count > 0));
    const ref = new Map(
      [...latestWindows(readers.refMetrics.messages)].filter(([, r]) => Date.parse(r.windowEnd) <= cutoff && r.count > 0),
    );
    let differing = 0;
    for (const id of new Set([...ours.keys(), ...ref.keys()])) {
      const a = ours.get(id),
        b = ref.get(id);
      if (!a || !b || JSON.stringify(measures(a)) !== JSON.stringify(measures(b))) {
        if (differing++ < 5)
          fail(
            'windows equal the reference',
            `${id}: churned ${a ? JSON.stringify(measures(a)) : 'missing'}, reference ${b ? JSON.stringify(measures(b)) : 'missing'}`,
          );
      }
    }
    if (differing > 5) fail('windows equal the reference', `… ${differing} windows differ in all`);
    let inexact = 0;
    for (const [id, e] of expected) {
      const a = ours.get(id);
      if (!a || a.count !== e.count || a.errorCount !== e.errorCount) {
        if (inexact++ < 5)
          fail(
            'windows exact',
            `${id}: expected count ${e.count} errors ${e.errorCount}, churned ${a ? `${a.count} / ${a.errorCount} (late ${a.lateCount})` : 'missing'}, reference ${ref.get(id)?.count ?? 'missing'}`,
          );
      }
    }
    for (const id of ours.keys()) if (!expected.has(id) && inexact++ < 5) fail('windows exact', `${id}: a window of no span offered`);
    if (inexact > 5) fail('windows exact', `… ${inexact} windows inexact in all`);
    const late = [...ours.values()].reduce((n, r) => n + r.lateCount, 0);

    // Alerts: the same changes as the reference (fired and resolved per rule and series), one of each at least.
    const changes = (messages: { value: Buffer | null }[]) =>
      [
        ...new Set(
          messages
            .map((m) => JSON.parse(m.value!.toString()) as AlertRecord)
            .filter((c) => Date.parse(c.windowEnd) <= cutoff)
            .map((c) => c.id),
        ),
      ].sort();
    const ourAlerts = changes(readers.alerts.messages);
    const refAlertIds = changes(readers.refAlerts.messages);
    if (ourAlerts.join('\n') !== refAlertIds.join('\n'))
      fail('alerts equal the reference', `churned ${JSON.stringify(ourAlerts)}, reference ${JSON.stringify(refAlertIds)}`);
    if (!refAlertIds.some((id) => id.endsWith('|firing')) || !refAlertIds.some((id) => id.endsWith('|resolved')))
      fail('alerts equal the reference', `the run must fire and resolve an alert: ${JSON.stringify(refAlertIds)}`);

    // The archiver ran throughout and archived nothing of today's indices.
    if (!archiver.running) fail('archiver harmless', `archiver exited ${archiver.exitCode()}: ${archiver.output()}`);
    const archived = await ctx.s3().send(new ListObjectsV2Command({ Bucket: ctx.cfg.s3Bucket, Prefix: `${s3Prefix}/` }));
    if (archived.KeyCount) fail('archiver harmless', `${archived.KeyCount} objects archived`);

    console.log(
      [
        `churn: ${valid.size} valid spans in ${rawReader.messages.length} raw messages over ${loadSeconds.toFixed(0)} s, ${bad} bad messages`,
        `faults (${faults.length}): ${faults.join(', ')}`,
        `validated: ${[...inValidated.values()].reduce((a, b) => a + b, 0)} span records, ${validatedDup} duplicates, ${validatedMissing} missing`,
        `Elasticsearch: ${[...indexed.values()].reduce((a, b) => a + b, 0)} documents, ${esMissing} missing; DLQ: ${readers.dlq.messages.length} dead letters for ${badSources.length} bad messages`,
        `windows: ${expected.size} expected through ${new Date(cutoff).toISOString()}, ${ours.size} churned, ${ref.size} reference, ${differing} differ from the reference, ${inexact} inexact, lateCount ${late}`,
        `alerts: ${ourAlerts.length} changes (reference ${refAlertIds.length}): ${refAlertIds.join(', ')}`,
        ...Object.entries(checks).map(([c, f]) => `${f.length ? 'FAIL' : 'ok  '} ${c}${f.length ? `: ${f.join('; ')}` : ''}`),
      ].join('\n'),
    );
    const failed = Object.entries(checks)
      .filter(([, f]) => f.length)
      .map(([c, f]) => `${c}: ${f.join('; ')}`);
    expect(failed).toEqual([]);
    for (const w of workers) if (!w.running) throw new Error(`${w.name} exited ${w.exitCode()}:\n${w.output()}`);
  }, 300_000);
});
