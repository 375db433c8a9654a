import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { chromium, Browser, Page } from 'playwright-core';
import { TestContext, waitFor } from '../../shared/testing';
import { dailyIndex, NormalizedSpan, spanDocId } from '../../shared/src';
import { indexerSetup, publishSpans, startIndexer } from './helpers';

/**
 * The web UI end to end: a real indexer on fresh topics and indices, spans, window records and
 * alert changes produced to real Kafka, pages driven in headless Chromium.
 */
const CHROMIUM = process.env.CHROMIUM_PATH || '/usr/bin/chromium';
const SHOTS = path.join(__dirname, '..', '..', '..', '.cluster', 'screenshots');
const MINUTE = 60_000;

const hex = (bytes: number) => randomBytes(bytes).toString('hex');
/** An ISO timestamp with nanoseconds, as spans carry them. */
const isoNanos = (ms: number, extraNanos = 0) =>
  new Date(Math.floor(ms)).toISOString().replace('Z', `${String(extraNanos).padStart(6, '0')}Z`);

function span(
  traceId: string,
  spanId: string,
  parent: string | undefined,
  service: string,
  name: string,
  startMs: number,
  durMs: number,
  over: Partial<NormalizedSpan> = {},
): NormalizedSpan {
  return {
    traceId,
    spanId,
    ...(parent ? { parentSpanId: parent } : {}),
    name,
    kind: 'SERVER',
    service,
    startTime: isoNanos(startMs),
    endTime: isoNanos(startMs + durMs),
    durationNanos: Math.round(durMs * 1e6),
    status: { code: 'OK' },
    attributes: { 'http.route': `/${name}` },
    resource: { 'service.name': service, 'host.name': `${service}-1` },
    scope: { name: 'ui-test' },
    events: [],
    links: [],
    ...over,
  };
}

/** A checkout: frontend → checkout → (payments fails, inventory), frontend render; plus a span whose parent never arrived. */
function knownTrace(t0: number) {
  const traceId = hex(16);
  const id = { root: hex(8), checkout: hex(8), payments: hex(8), inventory: hex(8), render: hex(8), lost: hex(8), orphan: hex(8) };
  const linked = { traceId: hex(16), spanId: hex(8) };
  const spans = [
    span(traceId, id.root, undefined, 'frontend', 'GET /checkout', t0, 320),
    span(traceId, id.checkout, id.root, 'checkout', 'POST /order', t0 + 10, 250),
    span(traceId, id.payments, id.checkout, 'payments', 'charge', t0 + 20, 180, {
      status: { code: 'ERROR', message: 'card declined' },
      attributes: { 'payment.amount': 42, 'payment.currency': 'EUR' },
      events: [{ time: isoNanos(t0 + 150), name: 'retrying', attributes: { attempt: 2 } }],
      links: [{ ...linked, attributes: {} }],
    }),
    span(traceId, id.inventory, id.checkout, 'inventory', 'reserve', t0 + 205, 40),
    span(traceId, id.render, id.root, 'frontend', 'render', t0 + 270, 45, { kind: 'INTERNAL' }),
    span(traceId, id.orphan, id.lost, 'frontend', 'late callback', t0 + 400, 5),
  ];
  // Depth-first order with the depth of each; the orphan follows a gap row naming its lost parent.
  const expected = [
    [id.root, 0],
    [id.checkout, 1],
    [id.payments, 2],
    [id.inventory, 2],
    [id.render, 1],
    [id.orphan, 0],
  ] as const;
  return { traceId, id, spans, expected, linked };
}

interface Numbers {
  rate: number;
  errorRate: number;
  p50: number;
  p95: number;
  p99: number;
}
function windowRecord(service: string, operation: string, endMs: number, n: Numbers, exemplar?: string) {
  const seriesKey = `${service}|${operation}|SERVER`;
  return {
    id: `${seriesKey}@${endMs}`,
    seriesKey,
    service,
    operation,
    kind: 'SERVER',
    windowStart: new Date(endMs - MINUTE).toISOString(),
    windowEnd: new Date(endMs).toISOString(),
    windowSeconds: 60,
    count: Math.round(n.rate * 60),
    errorCount: Math.round(n.rate * 60 * n.errorRate),
    errorRate: n.errorRate,
    ratePerSecond: n.rate,
    latencyMs: { min: 0.1, max: n.p99 * 1.5, mean: n.p50, stddev: 1, p50: n.p50, p90: n.p95, p95: n.p95, p99: n.p99, p999: n.p99 },
    histogram: { encoding: 'hdr-compressed-base64', unit: 'us', significantDigits: 2, data: '' },
    exemplars: exemplar ? [{ traceId: exemplar, durationMs: n.p99 }] : [],
    lateCount: 0,
  };
}

function alertChange(
  ruleId: string,
  state: 'firing' | 'resolved',
  service: string,
  operation: string,
  atMs: number,
  value: number,
  metric = 'latencyMs.p99',
  threshold = 200,
) {
  return {
    id: hex(20),
    ruleId,
    state,
    series: { key: `${service}|${operation}|SERVER`, service, operation, kind: 'SERVER' },
    metric,
    comparison: '>',
    value,
    threshold,
    forSeconds: 30,
    windowEnd: new Date(atMs).toISOString(),
    evaluatedAt: new Date(atMs + 50).toISOString(),
  };
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any
const getJson = async (url: string): Promise<any> => (await fetch(url)).json();
const quantile = (sorted: number[], q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];
const rowsOf = (page: Page) =>
  page.$$eval('.wf-row[data-span-id]', (els) =>
    els
      .map((e) => ({
        i: Number(e.getAttribute('data-index')),
        id: e.getAttribute('data-span-id')!,
        depth: Number(e.getAttribute('data-depth')),
      }))
      .sort((a, b) => a.i - b.i),
  );

describe('web UI in headless Chromium against a real indexer', () => {
  const ctx = new TestContext();
  let browser: Browser;
  let page: Page;
  let base: string;
  let topics: { validated: string; metrics: string; alerts: string; prefix: string };
  const now = Date.now();
  const known = knownTrace(now - 5 * MINUTE);
  const series: [string, string, Numbers][] = [
    ['frontend', 'GET /checkout', { rate: 12.5, errorRate: 0.25, p50: 4.2, p95: 87.5, p99: 312.4 }],
    ['checkout', 'POST /order', { rate: 8, errorRate: 0, p50: 2.5, p95: 40.5, p99: 120.5 }],
    ['payments', 'charge', { rate: 3.25, errorRate: 0.5, p50: 55.5, p95: 150.5, p99: 180.5 }],
    ['inventory', 'reserve', { rate: 6.75, errorRate: 0, p50: 1.25, p95: 9.5, p99: 35.5 }],
  ];
  const latestEnd = now - 5_000;

  beforeAll(async () => {
    const setup = await indexerSetup(ctx, { MPLP_INDEXER_UI_MAX_LIVE_CLIENTS: '3' });
    topics = setup;
    const svc = await startIndexer(ctx, setup.env);
    base = `http://127.0.0.1:${svc.queryPort()}`;
    mkdirSync(SHOTS, { recursive: true });

    // Spans through Kafka and the indexer; an hour of window records (older ones with other numbers), and one resolved and one firing alert.
    await publishSpans(ctx, setup.validated, known.spans);
    const producer = await ctx.producer();
    const history = series.flatMap(([s, op, n]) =>
      Array.from({ length: 12 }, (_, i) =>
        windowRecord(s, op, latestEnd - (12 - i) * 5 * MINUTE, {
          ...n,
          rate: n.rate * (0.5 + (i % 4) / 4),
          p99: n.p99 * (0.6 + (i % 3) / 5),
        }),
      ),
    );
    const latest = series.map(([s, op, n]) => windowRecord(s, op, latestEnd, n, known.traceId));
    await producer.send({
      topic: setup.metrics,
      acks: -1,
      messages: [...history, ...latest].map((r) => ({ key: r.seriesKey, value: JSON.stringify(r) })),
    });
    const alerts = [
      alertChange('checkout-slow', 'resolved', 'checkout', 'POST /order', now - 20 * MINUTE, 150),
      alertChange('payments-p99', 'firing', 'payments', 'charge', now - 2 * MINUTE, 312.5),
    ];
    await producer.send({ topic: setup.alerts, acks: -1, messages: alerts.map((a) => ({ key: a.series.key, value: JSON.stringify(a) })) });

    await waitFor(
      'the known trace searchable',
      async () => (await getJson(`${base}/api/traces/${known.traceId}`))?.data?.[0]?.spans?.length === known.spans.length,
      { timeoutMs: 60_000, intervalMs: 300 },
    );
    await waitFor(
      'window records in Elasticsearch',
      async () => {
        const r = await getJson(`${base}/api/ui/overview`);
        return (
          r.data.length === series.length &&
          r.data.every((s: { latest: { windowEnd: string } }) => s.latest.windowEnd === new Date(latestEnd).toISOString())
        );
      },
      { timeoutMs: 60_000, intervalMs: 300 },
    );
    await waitFor(
      'alerts in Elasticsearch',
      async () => {
        const r = await getJson(`${base}/api/ui/alerts`);
        return r.data.firing.length === 1 && r.data.resolved.length === 1;
      },
      { timeoutMs: 60_000, intervalMs: 300 },
    );

    browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox', '--disable-dev-shm-usage'] });
    page = await browser.newPage({ viewport: { width: 1440, height: 900 } });
    page.on('pageerror', (err) => {
      throw err;
    });
  }, 180_000);

  afterAll(async () => {
    await browser?.close();
    await ctx.cleanup();
  });

  it('serves the bundle on / and the overview shows every service with the numbers of its latest window record; the p99 links to the exemplar trace', async () => {
    const res = await fetch(`${base}/`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toContain('text/html');
    expect((await fetch(`${base}/main.js`)).headers.get('content-type')).toContain('javascript');

    await page.goto(`${base}/`);
    await page.waitForSelector('body[data-ready="overview"]');
    await page.waitForFunction(`document.querySelectorAll('table.overview tbody tr').length === ${series.length}`);
    for (const [service, operation, n] of series) {
      const row = page.locator(`tr[data-service="${service}"][data-operation="${operation}"]`);
      const cell = (c: string) => row.locator(`td.${c}`).innerText();
      expect(Number(await row.getAttribute('data-rate'))).toBe(n.rate);
      expect(Number(await row.getAttribute('data-p99'))).toBe(n.p99);
      expect(await cell('rate')).toBe(n.rate.toFixed(2));
      expect(await cell('errors')).toBe(`${(n.errorRate * 100).toFixed(2)}%`);
      expect(await cell('p50')).toBe(n.p50 < 10 ? `${n.p50.toFixed(2)} ms` : `${n.p50.toFixed(1)} ms`);
      expect(await cell('p95')).toBe(n.p95 < 10 ? `${n.p95.toFixed(2)} ms` : `${n.p95.toFixed(1)} ms`);
      expect(await cell('p99')).toBe(`${n.p99.toFixed(1)} ms`);
      expect(await row.locator('td.p99 a').getAttribute('href')).toBe(`#/trace/${known.traceId}`);
      expect(await row.locator('svg.spark.rate polyline').count()).toBe(1);
    }
    // The firing alert is in the banner from the first page on.
    expect(await page.locator('#alert-banner').innerText()).toContain('payments-p99');
    await page.screenshot({ path: path.join(SHOTS, 'overview.png') });
  });

  it('updates the overview live as each window record arrives (latency printed)', async () => {
    await page.waitForSelector('#live-status.on', { timeout: 60_000 });
    const producer = await ctx.producer();
    const produceToShown: number[] = [];
    let end = latestEnd;
    for (let i = 0; i < 40; i++) {
      const [service, operation, n] = series[i % series.length];
      end += 250;
      const rec = windowRecord(service, operation, end, { ...n, rate: 10 + i / 4 }, known.traceId);
      const t = Date.now();
      await producer.send({ topic: topics.metrics, acks: 1, messages: [{ key: rec.seriesKey, value: JSON.stringify(rec) }] });
      await page.waitForFunction(
        `document.querySelector('tr[data-series="' + CSS.escape(${JSON.stringify(rec.seriesKey)}) + '"]')?.getAttribute('data-window-end') === ${JSON.stringify(rec.windowEnd)}`,
        undefined,
        { polling: 'raf', timeout: 30_000 },
      );
      produceToShown.push(Date.now() - t);
      expect(await page.locator(`tr[data-series="${rec.seriesKey}"] td.rate`).innerText()).toBe((10 + i / 4).toFixed(2));
    }
    // Each latency is taken at the frame after its row changed (ui/src/live.ts `shown`), which can
    // come after the test saw the row: wait for the last one.
    await page.waitForFunction('window.mplpLiveLatencies.length >= 40', undefined, { timeout: 10_000 });
    const serverToScreen = (await page.evaluate<number[]>('window.mplpLiveLatencies.map((l) => l.ms)')).sort((a, b) => a - b);
    const p2s = [...produceToShown].sort((a, b) => a - b);
    expect(serverToScreen.length).toBeGreaterThanOrEqual(40);
    console.log(
      `UI live latency over ${serverToScreen.length} window records: record reached server → painted p50 ${quantile(serverToScreen, 0.5)} ms, p99 ${quantile(serverToScreen, 0.99)} ms; ` +
        `produced to Kafka → shown (incl. the consumer's fetch) p50 ${quantile(p2s, 0.5)} ms, p99 ${quantile(p2s, 0.99)} ms`,
    );
  });

  it('serves at most MPLP_INDEXER_UI_MAX_LIVE_CLIENTS live streams: one more is answered 503, and a closed one frees its place', async () => {
    // The page holds the first of the three.
    const held = [new AbortController(), new AbortController()];
    const open = await Promise.all(held.map((c) => fetch(`${base}/api/ui/live`, { signal: c.signal })));
    expect(open.map((r) => r.status)).toEqual([200, 200]);
    expect(open[0].headers.get('content-type')).toBe('text/event-stream');
    const refused = await fetch(`${base}/api/ui/live`);
    expect(refused.status).toBe(503);
    expect(await refused.text()).toContain('MPLP_INDEXER_UI_MAX_LIVE_CLIENTS');
    held[0].abort();
    await waitFor('a place freed', async () => {
      const c = new AbortController();
      const r = await fetch(`${base}/api/ui/live`, { signal: c.signal });
      c.abort();
      return r.status === 200;
    });
    held[1].abort();
  });

  it('a search by service and tag finds the known trace, listed with a duration bar', async () => {
    await page.goto(`${base}/#/search?service=payments&tags=payment.currency%3DEUR&lookback=60&limit=20`);
    const item = page.locator(`li[data-trace-id="${known.traceId}"]`);
    await item.waitFor({ timeout: 30_000 });
    expect(await page.locator('.trace-list li').count()).toBe(1);
    expect(await item.innerText()).toContain('frontend: GET /checkout');
    expect(await item.locator('.dur-bar').count()).toBe(1);
    expect(await page.locator('#alert-banner').isVisible()).toBe(true);
    await page.screenshot({ path: path.join(SHOTS, 'search.png') });

    // A range that holds the trace finds it; one before it does not (From/To are the browser's local time).
    const local = (ms: number) => {
      const d = new Date(ms - new Date(ms).getTimezoneOffset() * MINUTE);
      return d.toISOString().slice(0, 19);
    };
    await page.goto(`${base}/#/search?service=payments&from=${local(now - 10 * MINUTE)}&to=${local(now - MINUTE)}`);
    await page.locator(`li[data-trace-id="${known.traceId}"]`).waitFor({ timeout: 30_000 });
    await page.goto(`${base}/#/search?service=payments&from=${local(now - 60 * MINUTE)}&to=${local(now - 30 * MINUTE)}`);
    await page.getByText('No traces found.').waitFor({ timeout: 30_000 });

    // The form drives the same search: another service, no tags.
    await page.goto(`${base}/#/search`);
    await page.waitForSelector('body[data-ready="search"]');
    await page.selectOption('select[name=service]', 'inventory');
    await page.click('button.primary');
    await page.locator(`li[data-trace-id="${known.traceId}"]`).waitFor({ timeout: 30_000 });
  });

  it('the trace view shows every span in depth-first order with its nesting, the missing parent as a gap, and details on click', async () => {
    await page.goto(`${base}/#/trace/${known.traceId}`);
    await page.waitForSelector('body[data-ready="trace"]');
    expect((await rowsOf(page)).map((r) => [r.id, r.depth])).toEqual(known.expected.map(([id, d]) => [id, d]));
    const gap = page.locator(`.wf-row.gap[data-missing-parent="${known.id.lost}"]`);
    expect(await gap.count()).toBe(1);
    // The gap sits right before the orphan.
    const gapIndex = Number(await gap.getAttribute('data-index'));
    expect(await page.locator(`.wf-row[data-index="${gapIndex + 1}"]`).getAttribute('data-span-id')).toBe(known.id.orphan);

    await page.click(`.wf-row[data-span-id="${known.id.payments}"]`);
    const detail = page.locator('.span-detail');
    await detail.waitFor();
    const text = await detail.innerText();
    for (const s of [
      'charge',
      'payments',
      'ERROR',
      'card declined',
      'payment.currency',
      'EUR',
      'host.name',
      'payments-1',
      'retrying',
      known.linked.spanId,
    ])
      expect(text).toContain(s);
    await page.screenshot({ path: path.join(SHOTS, 'trace.png') });

    // Collapsing checkout hides its two children; expanding brings them back.
    await page.click(`.wf-row[data-span-id="${known.id.checkout}"] .toggle`);
    expect((await rowsOf(page)).map((r) => r.id)).toEqual([known.id.root, known.id.checkout, known.id.render, known.id.orphan]);
    await page.click(`.wf-row[data-span-id="${known.id.checkout}"] .toggle`);
    expect((await rowsOf(page)).length).toBe(known.spans.length);
  });

  it('service map and GET /api/dependencies: the calls between services of the known trace, with errors', async () => {
    const res = await getJson(`${base}/api/dependencies?endTs=${Date.now()}&lookback=${3_600_000}`);
    const links = res.data.map(
      (l: { parent: string; child: string; callCount: number; errorCount: number }) =>
        `${l.parent}>${l.child}:${l.callCount}/${l.errorCount}`,
    );
    expect(links).toEqual(expect.arrayContaining(['frontend>checkout:1/0', 'checkout>payments:1/1', 'checkout>inventory:1/0']));
    expect((await fetch(`${base}/api/dependencies?lookback=soon`)).status).toBe(400);

    await page.goto(`${base}/#/map?lookback=60`);
    await page.waitForSelector('body[data-ready="map"]');
    await page.waitForSelector('svg.service-map');
    for (const s of ['frontend', 'checkout', 'payments', 'inventory'])
      expect(await page.locator(`g.node[data-service="${s}"]`).count()).toBe(1);
    expect(await page.locator('g.edge[data-parent="checkout"][data-child="payments"].has-errors').count()).toBe(1);
    await page.screenshot({ path: path.join(SHOTS, 'map.png') });
  });
  it('alerts: the firing one and the recently resolved one are listed, and a new firing alert reaches the banner live', async () => {
    await page.goto(`${base}/#/alerts`);
    await page.waitForSelector('body[data-ready="alerts"]');
    await page.waitForSelector('#live-status.on', { timeout: 60_000 });
    expect(await page.locator('table.alerts.firing tr[data-rule="payments-p99"]').count()).toBe(1);
    expect(await page.locator('table.alerts.resolved tr[data-rule="checkout-slow"]').count()).toBe(1);
    const producer = await ctx.producer();
    const fresh = alertChange('frontend-errors', 'firing', 'frontend', 'GET /checkout', Date.now(), 0.25, 'errorRate', 0.1);
    await producer.send({ topic: topics.alerts, acks: 1, messages: [{ key: fresh.series.key, value: JSON.stringify(fresh) }] });
    await page.waitForFunction(`document.getElementById('alert-banner').innerText.includes('2 alerts firing')`, undefined, {
      timeout: 30_000,
    });
    expect(await page.locator('table.alerts.firing tr[data-rule="frontend-errors"]').count()).toBe(1);
    await page.screenshot({ path: path.join(SHOTS, 'alerts.png') });
  });

  it('a 10,000-span trace renders only the rows in sight and scrolls to its last span (time printed)', async () => {
    const traceId = hex(16);
    const t0 = now - 3 * MINUTE;
    const spans: NormalizedSpan[] = [span(traceId, hex(8), undefined, 'frontend', 'batch', t0, 5000)];
    let head = spans[0].spanId;
    for (let i = 1; i < 10_000; i++) {
      // 100 groups under the root, each a head span with 99 children.
      const id = hex(8);
      const first = (i - 1) % 100 === 0;
      spans.push(span(traceId, id, first ? spans[0].spanId : head, `svc-${i % 5}`, `step-${i}`, t0 + i * 0.4, first ? 40 : 2));
      if (first) head = id;
    }
    const es = ctx.es();
    for (let i = 0; i < spans.length; i += 5000) {
      const operations = spans
        .slice(i, i + 5000)
        .flatMap((s) => [{ index: { _index: dailyIndex(topics.prefix, 'traces', s.startTime), _id: spanDocId(s) } }, s]);
      expect((await es.bulk({ operations })).errors).toBe(false);
    }
    await es.indices.refresh({ index: `${topics.prefix}-traces-*` });

    const started = Date.now();
    await page.goto(`${base}/#/trace/${traceId}`);
    await page.waitForSelector('body[data-ready="trace"]', { timeout: 60_000 });
    await page.waitForSelector('.wf-row[data-span-id]');
    const openMs = Date.now() - started;
    expect(await page.locator('.span-count').innerText()).toBe('10000 spans');
    expect(await page.locator('.wf-row').count()).toBeLessThan(150);
    const scrolled = Date.now();
    await page.locator('.wf-scroll').evaluate((el) => {
      el.scrollTop = el.scrollHeight;
    });
    await page.waitForSelector(`.wf-row[data-span-id="${spans[spans.length - 1].spanId}"]`, { timeout: 10_000 });
    const scrollMs = Date.now() - scrolled;
    expect(await page.locator('.wf-row').count()).toBeLessThan(150);
    console.log(
      `UI 10,000-span trace: opened (fetch + first paint) in ${openMs} ms, scrolled to the last span in ${scrollMs} ms, rows in the DOM ${await page.locator('.wf-row').count()}`,
    );
    await page.screenshot({ path: path.join(SHOTS, 'trace-10k.png') });
  });
});
