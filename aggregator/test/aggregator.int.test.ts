import type { ChildProcess } from 'node:child_process';
import { writeFileSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import * as hdr from 'hdr-histogram-js';
import { TestContext, uniqueName, waitFor } from '../../shared/testing';
import { createAggregator } from '../src';
import type { WindowRecord } from '../src/window-record';
import type { AlertChange } from '../src/alert-evaluator';
import { exactPercentile, expectedWindows, makeFixture, produceSpans, spanMessages, WINDOW, PANE } from './helpers';
import { aggregatorEnv, deletePartials, latest, setupTopics, spawnAggregator } from './run-helpers';

async function setup(ctx: TestContext) {
  return setupTopics(ctx);
}

/** One in-process aggregator with a fresh group over the test topics, stopped at cleanup; the metrics topic it writes, collected. */
async function runAggregator(ctx: TestContext, t: Awaited<ReturnType<typeof setup>>, groupBase: string) {
  const group = uniqueName(groupBase);
  await deletePartials(ctx, group);
  const metricsOut = await ctx.collect(t.metrics);
  const { service } = createAggregator({ ...process.env, ...aggregatorEnv(t, group) });
  await service.start();
  ctx.defer(() => service.stop());
  return metricsOut;
}

/** Waits until the topic holds a record of every expected window id; returns the latest record of each. */
function everyWindow(
  label: string,
  messages: { value: Buffer | null }[],
  expected: Map<string, unknown>,
  timeoutMs: number,
): Promise<Map<string, WindowRecord>> {
  return waitFor(
    label,
    () => {
      const m = latest(messages);
      return [...expected.keys()].every((id) => m.has(id)) && m;
    },
    { timeoutMs, intervalMs: 250 },
  );
}

describe('aggregator on real Kafka', () => {
  let ctx: TestContext;
  beforeEach(() => {
    ctx = new TestContext();
  });
  afterEach(async () => {
    await ctx.cleanup();
  });

  it.each([
    ['counted from the span summary header, as ingest writes records with MPLP_INGEST_SPAN_SUMMARY=true', true],
    ['counted from the values alone, as ingest writes records by default', false],
  ])(
    'emits exact counts, error counts and percentiles within HDR precision, counts late spans, and fires/resolves an alert (%s)',
    async (_how, summary) => {
      const t = await setup(ctx);
      const fx = makeFixture(4000, 3, { slow: true });
      const producer = await ctx.producer();
      await produceSpans(producer, t.validated, fx.spans, 40, summary);
      await produceSpans(producer, t.validated, fx.late, 7, summary);
      const dir = mkdtempSync(path.join(tmpdir(), 'mplp-rules-'));
      const rulesFile = path.join(dir, 'rules.json');
      writeFileSync(
        rulesFile,
        JSON.stringify({
          rules: [
            {
              id: 'slow-p99',
              selector: { service: 'alerting', operation: 'GET /slow' },
              metric: 'latencyMs.p99',
              op: '>',
              threshold: 500,
              for: '10s',
            },
          ],
        }),
      );
      const group = uniqueName('test-agg');
      await deletePartials(ctx, group);
      const metricsOut = await ctx.collect(t.metrics);
      const alertsOut = await ctx.collect(t.alerts);
      const { service } = createAggregator({
        ...process.env,
        ...aggregatorEnv(t, group, { MPLP_AGGREGATOR_RULES_FILE: rulesFile, MPLP_AGGREGATOR_WORKER_THREADS: '2' }),
      });
      await service.start();
      ctx.defer(() => service.stop());

      const expected = expectedWindows(fx.spans);
      const got = await everyWindow('every expected window', metricsOut.messages, expected, 90_000);
      for (const [id, e] of expected) {
        const r = got.get(id)!;
        expect({ id, count: r.count, errorCount: r.errorCount }).toEqual({ id, count: e.count, errorCount: e.errorCount });
        const sorted = e.durationsMs.sort((a, b) => a - b);
        for (const [name, p] of [
          ['p50', 50],
          ['p90', 90],
          ['p95', 95],
          ['p99', 99],
          ['p999', 99.9],
        ] as const) {
          const exact = exactPercentile(sorted, p);
          expect(Math.abs(r.latencyMs[name] - exact)).toBeLessThanOrEqual(exact * 2e-3 + 0.002);
        }
        expect(r.latencyMs.min).toBeCloseTo(sorted[0], 5);
        expect(r.latencyMs.max).toBeCloseTo(sorted[sorted.length - 1], 5);
        expect(r.exemplars[0].durationMs).toBeCloseTo(sorted[sorted.length - 1], 5);
        expect(r.windowSeconds).toBe(60);
        // What a consumer of mplp.metrics does with the histogram: decode it with a stock HDR library.
        const h = hdr.decodeFromCompressedBase64(r.histogram.data);
        expect(h.totalCount).toBe(e.count);
        expect(h.getValueAtPercentile(99) / 1000).toBeCloseTo(r.latencyMs.p99, 3);
      }
      // Late spans are not dropped: each is counted once, in the record of the next window.
      const totalLate = await waitFor(
        'late spans counted',
        () => {
          const n = [...latest(metricsOut.messages).values()].reduce((a, r) => a + r.lateCount, 0);
          return n >= fx.late.length && n;
        },
        { timeoutMs: 30_000 },
      );
      expect(totalLate).toBe(fx.late.length);
      // Only windows with data or late counts exist.
      for (const r of latest(metricsOut.messages).values()) if (!expected.has(r.id)) expect(r.lateCount).toBeGreaterThan(0);

      // The alert fires once while GET /slow is slow and resolves once after: no flapping.
      const changes = await waitFor(
        'alert fired and resolved',
        () => {
          const c = alertsOut.messages.map((m) => JSON.parse(m.value!.toString()) as AlertChange);
          return c.some((x) => x.state === 'resolved') && c;
        },
        { timeoutMs: 30_000 },
      );
      expect(changes.map((c) => c.state)).toEqual(['firing', 'resolved']);
      // Published together with the window that changed it: within 2 s of the window's record.
      for (const c of changes) {
        const alertMsg = alertsOut.messages.find((m) => (JSON.parse(m.value!.toString()) as AlertChange).id === c.id)!;
        const win = metricsOut.messages.find(
          (m) => (JSON.parse(m.value!.toString()) as WindowRecord).id === `${c.series.key}@${Date.parse(c.windowEnd)}`,
        )!;
        expect(Math.abs(Number(alertMsg.timestamp) - Number(win.timestamp))).toBeLessThan(2000);
      }
    },
  );

  it('gives identical windows through 1 process, through 3 processes, and across a kill -9 and restart', async () => {
    const t = await setup(ctx);
    const fx = makeFixture(6000, 4);
    const producer = await ctx.producer();
    await produceSpans(producer, t.validated, fx.spans, 20);
    const expected = expectedWindows(fx.spans);
    const children: ChildProcess[] = [];
    ctx.defer(() => {
      for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');
    });

    const run = async (label: string, processes: number, killMidway: boolean) => {
      const group = uniqueName(`test-agg-${label}`);
      await deletePartials(ctx, group);
      const metrics = (await ctx.topics([`metrics-${label}`], 3))[0];
      const out = await ctx.collect(metrics);
      const env = aggregatorEnv({ ...t, metrics }, group);
      for (let i = 0; i < processes; i++) children.push(spawnAggregator(env));
      if (killMidway) {
        await waitFor('some windows before the kill', () => out.messages.length >= 20, { timeoutMs: 60_000 });
        const victim = children[children.length - 1];
        victim.kill('SIGKILL');
        await new Promise((r) => victim.once('exit', r));
        children.push(spawnAggregator(env));
      }
      const got = await everyWindow(`every window (${label})`, out.messages, expected, 120_000);
      for (const c of children) if (c.exitCode === null) c.kill('SIGTERM');
      return got;
    };

    const one = await run('one', 1, false);
    const three = await run('three', 3, false);
    const killed = await run('killed', 1, true);
    const strip = (m: Map<string, WindowRecord>) => [...m.values()].sort((a, b) => a.id.localeCompare(b.id));
    for (const [id, e] of expected) expect({ id, count: one.get(id)!.count }).toEqual({ id, count: e.count });
    expect(strip(three)).toEqual(strip(one));
    expect(strip(killed)).toEqual(strip(one));
  });
  it('past MPLP_AGGREGATOR_MAX_SERIES folds new series into <service>/__overflow__ with exact totals, counted on /metrics', async () => {
    const t = await setup(ctx);
    const fx = makeFixture(3000, 2); // 4 series over 3 services: checkout x2, search, alerting
    const producer = await ctx.producer();
    await produceSpans(producer, t.validated, fx.spans);
    const group = uniqueName('test-agg-cap');
    await deletePartials(ctx, group);
    const metricsOut = await ctx.collect(t.metrics);
    const { service } = createAggregator({ ...process.env, ...aggregatorEnv(t, group, { MPLP_AGGREGATOR_MAX_SERIES: '2' }) });
    await service.start();
    ctx.defer(() => service.stop());

    // Every window end that has data must come out, whatever series its spans fell into.
    const expected = expectedWindows(fx.spans);
    const perEnd = new Map<number, number>();
    for (const e of expected.values()) perEnd.set(e.end, (perEnd.get(e.end) ?? 0) + e.count);
    const got = await waitFor(
      'every window end with its full count',
      () => {
        const sums = new Map<number, number>();
        for (const r of latest(metricsOut.messages).values())
          sums.set(Date.parse(r.windowEnd), (sums.get(Date.parse(r.windowEnd)) ?? 0) + r.count);
        return [...perEnd].every(([end, n]) => (sums.get(end) ?? 0) >= n) && latest(metricsOut.messages);
      },
      { timeoutMs: 90_000, intervalMs: 250 },
    );
    const records = [...got.values()];
    // Exact: per window end, the records (own and overflow series) add up to every span once.
    for (const [end, n] of perEnd)
      expect({ end, count: records.filter((r) => Date.parse(r.windowEnd) === end).reduce((a, r) => a + r.count, 0) }).toEqual({
        end,
        count: n,
      });
    const own = new Set(records.filter((r) => r.operation !== '__overflow__').map((r) => r.seriesKey));
    const overflow = records.filter((r) => r.operation === '__overflow__');
    expect(own.size).toBe(2);
    expect(overflow.length).toBeGreaterThan(0);
    for (const r of overflow) expect(r.seriesKey).toBe(`${r.service}|__overflow__|INTERNAL`);
    // Each span is in the 12 windows covering its pane, all emitted: the overflow counter times 12
    // equals the overflow records' counts.
    const body = await (await fetch(`http://127.0.0.1:${service.opsPort()}/metrics`)).text();
    const counter = Number(/^mplp_aggregator_overflow_spans_total (\d+)/m.exec(body)?.[1]);
    expect(counter).toBeGreaterThan(0);
    expect(counter * (WINDOW / PANE)).toBe(overflow.reduce((a, r) => a + r.count, 0));
    expect(Number(/^mplp_aggregator_live_series (\d+)/m.exec(body)?.[1])).toBeLessThanOrEqual(2 + 3);
  });

  it('reads a transactional validated topic as ingest writes it: windows close exact past the commit markers, and an aborted transaction counts nothing', async () => {
    const t = await setup(ctx);
    const fx = makeFixture(1200, 1);
    const aborted = makeFixture(300, 1).spans; // the same windows: counted by mistake, they would show
    const producer = ctx.kafka('test-txn').producer({ transactionalId: uniqueName('test-txn'), idempotent: true, maxInFlightRequests: 1 });
    await producer.connect();
    ctx.defer(() => producer.disconnect());
    // Ten transactions, each leaving a commit marker in every partition it wrote; then an aborted one last in each partition.
    for (let i = 0; i < fx.spans.length; i += 120) {
      const txn = await producer.transaction();
      await txn.send({ topic: t.validated, acks: -1, messages: spanMessages(fx.spans.slice(i, i + 120), 40, (m) => m % 3) });
      await txn.commit();
    }
    const txn = await producer.transaction();
    await txn.send({ topic: t.validated, acks: -1, messages: spanMessages(aborted, 40, (m) => m % 3) });
    await txn.abort();
    const metricsOut = await runAggregator(ctx, t, 'test-agg-txn');
    const expected = expectedWindows(fx.spans);
    const got = await everyWindow('every window of the committed spans', metricsOut.messages, expected, 60_000);
    for (const [id, e] of expected)
      expect({ id, count: got.get(id)!.count, errors: got.get(id)!.errorCount }).toEqual({ id, count: e.count, errors: e.errorCount });
  });

  it('does not let an idle source partition hold windows back', async () => {
    const t = await setup(ctx);
    const fx = makeFixture(1200, 1);
    const producer = await ctx.producer();
    // Everything in partition 0: partitions 1 and 2 never see a span.
    await producer.send({ topic: t.validated, messages: spanMessages(fx.spans, 40, () => 0), acks: -1 });
    const metricsOut = await runAggregator(ctx, t, 'test-agg-idle');
    const expected = expectedWindows(fx.spans);
    const got = await everyWindow('every window despite two idle partitions', metricsOut.messages, expected, 60_000);
    for (const [id, e] of expected) expect({ id, count: got.get(id)!.count }).toEqual({ id, count: e.count });
  });
});
