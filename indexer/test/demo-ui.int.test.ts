import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { chromium, Browser, Page } from 'playwright-core';
import { TestContext, uniqueName, waitFor } from '../../shared/testing';
import { createAggregator } from '../../aggregator/src';
import { aggregatorEnv, deletePartials } from '../../aggregator/test/run-helpers';
import { encodeTraces, TraceGenerator } from '../../ingest/src/loadgen/trace-generator';
import { startIngest } from '../../ingest/test/helpers';
import { indexerSetup, startIndexer } from './helpers';

/**
 * The demo as `npm start` runs it, in one test: ingest, aggregator (with an alert rule) and
 * indexer on fresh topics, indices and groups, the load generator's traffic on the raw topic,
 * and the web UI in headless Chromium showing what the pipeline computed.
 */
const CHROMIUM = process.env.CHROMIUM_PATH || '/usr/bin/chromium';
const SHOTS = path.join(__dirname, '..', '..', '..', '.cluster', 'screenshots');
const DEMO_SERVICES = ['cart', 'catalog', 'checkout', 'frontend', 'payment', 'shipping'];
// The generator's call graph between services (calls within a service are no edge).
const DEMO_EDGES = ['checkout>payment', 'checkout>shipping', 'frontend>cart', 'frontend>catalog', 'frontend>checkout'];
const RULE = {
  id: 'demo-frontend-errors',
  selector: { service: 'frontend', operation: 'GET /' },
  metric: 'errorRate',
  op: '>',
  threshold: 0.3,
  for: '2s',
};
const SPANS_PER_SECOND = 300;

type Row = {
  series: string;
  service: string;
  windowEnd: string;
  rate: number;
  errorRate: number;
  p50: number;
  p95: number;
  p99: number;
  rateText: string;
};
type WindowRecord = {
  seriesKey: string;
  windowEnd: string;
  ratePerSecond: number;
  errorRate: number;
  latencyMs: { p50: number; p95: number; p99: number };
};

/** Publishes generated traces to the raw topic at a steady rate, with an error rate the test changes, until stopped. */
function startTraffic(ctx: TestContext, raw: string) {
  const state = { errorRate: 0.6, stop: false, spans: 0 };
  const run = (async () => {
    const producer = await ctx.producer();
    const started = Date.now();
    while (!state.stop) {
      const tick = Date.now();
      const gen = new TraceGenerator({ errorRate: state.errorRate });
      const traces = [];
      while (state.spans < ((tick - started) / 1000) * SPANS_PER_SECOND) {
        const t = gen.trace(Date.now());
        traces.push(t);
        state.spans += t.length;
      }
      if (traces.length) {
        await producer.send({
          topic: raw,
          acks: -1,
          messages: [{ value: encodeTraces(traces, 'protobuf'), headers: { 'content-type': 'application/x-protobuf' } }],
        });
      }
      await new Promise((r) => setTimeout(r, Math.max(0, 200 - (Date.now() - tick))));
    }
  })();
  ctx.defer(async () => {
    state.stop = true;
    await run.catch(() => undefined);
  });
  return { state, run };
}

describe('the demo pipeline in the browser (ingest → aggregator → indexer → UI)', () => {
  const ctx = new TestContext();
  let base: string;
  let browser: Browser;
  let page: Page;
  let records: { value: Buffer | null }[];
  let traffic: ReturnType<typeof startTraffic>;

  beforeAll(async () => {
    mkdirSync(SHOTS, { recursive: true });
    const setup = await indexerSetup(ctx);
    const [raw] = await ctx.topics(['raw'], 3);
    const dir = mkdtempSync(path.join(os.tmpdir(), 'mplp-demo-rules-'));
    ctx.defer(() => rmSync(dir, { recursive: true, force: true }));
    const rulesFile = path.join(dir, 'rules.json');
    writeFileSync(rulesFile, JSON.stringify({ rules: [RULE] }));

    await startIngest(ctx, {
      MPLP_TOPIC_RAW: raw,
      MPLP_TOPIC_VALIDATED: setup.validated,
      MPLP_TOPIC_DLQ: setup.dlq,
      MPLP_INGEST_GROUP_ID: uniqueName('test-ingest'),
      MPLP_INGEST_HTTP_PORT: '0',
      MPLP_LOG_LEVEL: 'warn',
    });
    const group = uniqueName('test-aggregator');
    await deletePartials(ctx, group);
    const { service: aggregator } = createAggregator({
      ...process.env,
      ...aggregatorEnv(setup, group, { MPLP_AGGREGATOR_RULES_FILE: rulesFile }),
    });
    await aggregator.start();
    ctx.defer(() => aggregator.stop());
    const indexer = await startIndexer(ctx, setup.env);
    base = `http://127.0.0.1:${indexer.queryPort()}`;
    records = (await ctx.collect(setup.metrics)).messages;
    traffic = startTraffic(ctx, raw);

    browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox', '--disable-dev-shm-usage'] });
    page = await browser.newPage({ viewport: { width: 1440, height: 900 } });
    page.on('pageerror', (err) => {
      throw err;
    });
    await page.goto(`${base}/`);
    await page.waitForSelector('body[data-ready="overview"]');
  }, 120_000);

  afterAll(async () => {
    await browser?.close();
    await ctx.cleanup();
  });

  it("an alert appears when the rule fires on the demo traffic's errors", async () => {
    await page.waitForFunction(`document.getElementById('alert-banner').innerText.includes(${JSON.stringify(RULE.id)})`, undefined, {
      timeout: 60_000,
    });
    // From now on the traffic has no errors: the rule resolves once the 60 s windows forget them.
    traffic.state.errorRate = 0;
    await page.goto(`${base}/#/alerts`);
    await page.waitForSelector('body[data-ready="alerts"]');
    await page.locator(`table.alerts.firing tr[data-rule="${RULE.id}"]`).waitFor({ timeout: 10_000 });
    await page.screenshot({ path: path.join(SHOTS, 'demo-alerts.png') });
  });

  it('the overview shows the demo services with the numbers of the latest mplp.metrics records read from Kafka', async () => {
    await page.goto(`${base}/`);
    await page.waitForSelector('body[data-ready="overview"]');
    const rowsOnPage = () =>
      page.evaluate<Row[]>(`[...document.querySelectorAll('table.overview tbody tr[data-series]')].map((tr) => ({
      series: tr.dataset.series, service: tr.dataset.service, windowEnd: tr.dataset.windowEnd, rate: Number(tr.dataset.rate), errorRate: Number(tr.dataset.errorRate),
      p50: Number(tr.dataset.p50), p95: Number(tr.dataset.p95), p99: Number(tr.dataset.p99), rateText: tr.querySelector('td.rate').innerText }))`);
    let mismatch = '';
    // Both sides move every 5 s: wait for a moment where every row shows its series' latest record.
    const rows = await waitFor(
      'every overview row equal to its latest Kafka record',
      async () => {
        const latest = new Map<string, WindowRecord>();
        for (const m of records) {
          const r = JSON.parse(m.value!.toString()) as WindowRecord;
          const known = latest.get(r.seriesKey);
          if (!known || known.windowEnd <= r.windowEnd) latest.set(r.seriesKey, r);
        }
        const shown = await rowsOnPage();
        if (new Set(shown.map((r) => r.service)).size < DEMO_SERVICES.length || shown.length !== latest.size) {
          mismatch = `${shown.length} rows, ${latest.size} series`;
          return undefined;
        }
        for (const row of shown) {
          const r = latest.get(row.series);
          const want = r && {
            series: r.seriesKey,
            windowEnd: r.windowEnd,
            rate: r.ratePerSecond,
            errorRate: r.errorRate,
            p50: r.latencyMs.p50,
            p95: r.latencyMs.p95,
            p99: r.latencyMs.p99,
            rateText: r.ratePerSecond.toFixed(2),
          };
          const got = {
            series: row.series,
            windowEnd: row.windowEnd,
            rate: row.rate,
            errorRate: row.errorRate,
            p50: row.p50,
            p95: row.p95,
            p99: row.p99,
            rateText: row.rateText,
          };
          if (JSON.stringify(want) !== JSON.stringify(got)) {
            mismatch = `${JSON.stringify(got)} vs ${JSON.stringify(want)}`;
            return undefined;
          }
        }
        return shown;
      },
      { timeoutMs: 45_000, intervalMs: 250 },
    ).catch((err) => {
      throw new Error(`${(err as Error).message}; last difference: ${mismatch}`);
    });
    expect([...new Set(rows.map((r) => r.service))].sort()).toEqual(DEMO_SERVICES);
    expect(rows.some((r) => r.series === 'frontend|GET /|SERVER' && r.rate > 0)).toBe(true);
    await page.screenshot({ path: path.join(SHOTS, 'demo-overview.png') });
  });

  it("the service map shows the demo's calls between services", async () => {
    await page.goto(`${base}/#/map?lookback=5`);
    await page.waitForSelector('body[data-ready="map"]');
    await page.waitForSelector('svg.service-map');
    const edges = await page.evaluate<string[]>(
      `[...document.querySelectorAll('g.edge')].map((g) => g.dataset.parent + '>' + g.dataset.child).sort()`,
    );
    expect(edges).toEqual(DEMO_EDGES);
    for (const s of DEMO_SERVICES) expect(await page.locator(`g.node[data-service="${s}"]`).count()).toBe(1);
    await page.screenshot({ path: path.join(SHOTS, 'demo-map.png') });
  });

  it('a checkout trace of the demo opens as a waterfall', async () => {
    const res = (await (
      await fetch(`${base}/api/traces?service=frontend&operation=${encodeURIComponent('POST /checkout')}&limit=1`)
    ).json()) as { data: { traceID: string; spans: unknown[] }[] };
    const trace = res.data[0];
    await page.goto(`${base}/#/trace/${trace.traceID}`);
    await page.waitForSelector('body[data-ready="trace"]');
    expect(await page.locator('.wf-row[data-span-id]').count()).toBe(trace.spans.length);
    await page.screenshot({ path: path.join(SHOTS, 'demo-trace.png') });
  });

  it("the alert leaves when the rule resolves after the traffic's errors stop", async () => {
    await page.goto(`${base}/#/alerts`);
    await page.waitForSelector('body[data-ready="alerts"]');
    await page.locator(`table.alerts.resolved tr[data-rule="${RULE.id}"]`).waitFor({ timeout: 60_000 });
    expect(await page.locator(`table.alerts.firing tr[data-rule="${RULE.id}"]`).count()).toBe(0);
    expect(await page.locator('#alert-banner').isVisible()).toBe(false);
    // A page loaded right after the resolve (maybe before the indexer wrote it) must not stay
    // stuck on "firing": the overview again, errors fading out of the windows.
    await page.goto(`${base}/`);
    await page.waitForSelector('body[data-ready="overview"]');
    await page.waitForFunction(`document.getElementById('alert-banner').hidden`, undefined, { timeout: 15_000 });
    await page.screenshot({ path: path.join(SHOTS, 'demo-overview-after.png') });
    traffic.state.stop = true;
    await traffic.run;
  });
});
