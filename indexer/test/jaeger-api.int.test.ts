import { TestContext } from '../../shared/testing';
import { dailyIndex, NormalizedSpan, spanDocId } from '../../shared/src';
import { indexerSetup, makeSpans, startIndexer } from './helpers';

/** What the Jaeger UI reads from the SPM routes (MetricFamily as protobuf JSON). */
type Family = {
  name: string;
  type: string;
  help: string;
  metrics: { labels: { name: string; value: string }[]; metricPoints: { gaugeValue: { doubleValue: number }; timestamp: string }[] }[];
};
type Envelope = { data: { traceID: string; spans: unknown[] }[]; errors: { code: number; msg: string; traceID?: string }[] | null };

const STEP = 10_000;
// A fixed end on a step boundary, within today's daily index.
const END = Math.floor((Date.now() - 60_000) / STEP) * STEP;

interface WindowNumbers {
  rate: number;
  errors: number;
  p50: number;
  p90: number;
  p95: number;
}

function windowDoc(service: string, operation: string, kind: string, endMs: number, n: WindowNumbers) {
  const seriesKey = `${service}|${operation}|${kind}`;
  const count = n.rate * 60;
  return {
    seriesKey,
    id: `${seriesKey}@${endMs}`,
    service,
    operation,
    kind,
    windowStart: new Date(endMs - 60_000).toISOString(),
    windowEnd: new Date(endMs).toISOString(),
    windowSeconds: 60,
    count,
    errorCount: n.errors,
    errorRate: n.errors / count,
    ratePerSecond: n.rate,
    lateCount: 0,
    latencyMs: {
      min: 0.5,
      max: n.p95 * 2,
      mean: n.p50,
      stddev: 1,
      p50: n.p50,
      p90: n.p90,
      p95: n.p95,
      p99: n.p95 * 1.5,
      p999: n.p95 * 1.8,
    },
    exemplars: [],
  };
}

describe('Jaeger API completeness on the real Elasticsearch', () => {
  const ctx = new TestContext();
  let base: string;
  let prefix: string;
  afterAll(() => ctx.cleanup());

  async function bulk(docs: { index: string; id: string; doc: object }[]): Promise<void> {
    const res = await ctx
      .es()
      .bulk({ operations: docs.flatMap((d) => [{ index: { _index: d.index, _id: d.id } }, d.doc]), refresh: 'wait_for' });
    if (res.errors) throw new Error('bulk load failed');
  }
  const loadSpans = (spans: NormalizedSpan[]) =>
    bulk(spans.map((s) => ({ index: dailyIndex(prefix, 'traces', s.startTime), id: spanDocId(s), doc: s })));
  const get = async <T>(path: string, headers: Record<string, string> = {}) => {
    const res = await fetch(`${base}${path}`, { headers });
    return { status: res.status, headers: res.headers, body: (await res.json().catch(() => undefined)) as T };
  };

  beforeAll(async () => {
    const setup = await indexerSetup(ctx, { MPLP_INDEXER_QUERY_CORS_ORIGINS: 'https://grafana.example:3000' });
    prefix = setup.prefix;
    const svc = await startIndexer(ctx, setup.env);
    base = `http://127.0.0.1:${svc.queryPort()}`;
    // Two steps of windows (two windows per step, 5 s apart) for two server operations of frontend, its client calls and another service.
    const docs = [];
    for (const [i, end] of [END - 15_000, END - 10_000, END - 5_000, END].entries()) {
      const k = i + 1;
      docs.push(windowDoc('frontend', 'GET /cart', 'SERVER', end, { rate: 10 * k, errors: 6 * k, p50: 2 * k, p90: 10 * k, p95: 20 * k }));
      docs.push(windowDoc('frontend', 'GET /checkout', 'SERVER', end, { rate: 5 * k, errors: 0, p50: 4 * k, p90: 30 * k, p95: 40 * k }));
      docs.push(windowDoc('frontend', 'call backend', 'CLIENT', end, { rate: 7, errors: 0, p50: 1, p90: 2, p95: 3 }));
      docs.push(windowDoc('backend', 'query', 'SERVER', end, { rate: 99, errors: 0, p50: 1, p90: 2, p95: 3 }));
    }
    // A window after END: outside the range asked for.
    docs.push(windowDoc('frontend', 'GET /cart', 'SERVER', END + 5_000, { rate: 1000, errors: 0, p50: 1, p90: 1, p95: 1 }));
    await bulk(docs.map((d) => ({ index: dailyIndex(prefix, 'metrics', d.windowEnd), id: d.id, doc: d })));
  });

  const spm = (metric: string, extra = '') => `/api/metrics/${metric}?service=frontend&endTs=${END}&lookback=20000&step=${STEP}${extra}`;
  const stepEnds = [new Date(END - STEP).toISOString(), new Date(END).toISOString()];

  it("answers /api/metrics/calls per service and per operation in the Monitor tab's shape: the latest window per series in each step, summed", async () => {
    const bySvc = await get<Family>(spm('calls'));
    expect(bySvc.status).toBe(200);
    expect(bySvc.body).toEqual({
      name: 'service_call_rate',
      type: 'GAUGE',
      help: 'calls/sec, grouped by service',
      metrics: [
        {
          labels: [{ name: 'service_name', value: 'frontend' }],
          metricPoints: [
            { gaugeValue: { doubleValue: 30 }, timestamp: stepEnds[0] }, // windows 2 of GET /cart (20) and GET /checkout (10)
            { gaugeValue: { doubleValue: 60 }, timestamp: stepEnds[1] },
          ],
        },
      ],
    });
    const byOp = await get<Family>(spm('calls', '&groupByOperation=true'));
    expect(byOp.body.name).toBe('service_operation_call_rate');
    const points = Object.fromEntries(
      byOp.body.metrics.map((m) => [
        m.labels.find((l) => l.name === 'operation')!.value,
        m.metricPoints.map((p) => p.gaugeValue.doubleValue),
      ]),
    );
    expect(points).toEqual({ 'GET /cart': [20, 40], 'GET /checkout': [10, 20] });
    // Both spellings: the Jaeger UI's `client` and the proto's SPAN_KIND_CLIENT.
    for (const kind of ['client', 'SPAN_KIND_CLIENT']) {
      const client = await get<Family>(spm('calls', `&spanKind=${kind}`));
      expect(client.body.metrics[0].metricPoints.map((p) => p.gaugeValue.doubleValue)).toEqual([7, 7]);
    }
  });

  it('answers /api/metrics/errors as errors over calls and /api/metrics/latencies at the asked quantile (0.75 interpolated between p50 and p90)', async () => {
    const errors = await get<Family>(spm('errors'));
    expect(errors.body.name).toBe('service_error_rate');
    // step 2: errors 12 + 0 over calls 1200 + 600; step 4: 24 over 3600.
    expect(errors.body.metrics[0].metricPoints.map((p) => p.gaugeValue.doubleValue)).toEqual([12 / 1800, 24 / 3600]);
    const p95 = await get<Family>(spm('latencies', '&quantile=0.95&groupByOperation=true'));
    expect(p95.body).toMatchObject({
      name: 'service_operation_latencies',
      type: 'GAUGE',
      help: '0.95th quantile latency, grouped by service & operation',
    });
    const values = (f: Family) =>
      Object.fromEntries(
        f.metrics.map((m) => [m.labels[1].value, m.metricPoints.map((p) => Math.round(p.gaugeValue.doubleValue * 1e9) / 1e9)]),
      );
    expect(values(p95.body)).toEqual({ 'GET /cart': [40, 80], 'GET /checkout': [80, 160] });
    const p75 = await get<Family>(spm('latencies', '&quantile=0.75&groupByOperation=true'));
    expect(values(p75.body)).toEqual({
      'GET /cart': [4 + (20 - 4) * 0.625, 8 + (40 - 8) * 0.625],
      'GET /checkout': [8 + (60 - 8) * 0.625, 16 + (120 - 16) * 0.625],
    });
    const bySvc = await get<Family>(spm('latencies', '&quantile=0.95'));
    expect(bySvc.body.metrics[0].metricPoints.map((p) => p.gaugeValue.doubleValue)).toEqual([80, 160]);
    expect((await get<{ data: number }>('/api/metrics/minstep')).body.data).toBe(5000);
  });

  it('answers 400 with a message naming the parameter for every bad SPM parameter', async () => {
    const bad: [string, RegExp][] = [
      ['/api/metrics/calls', /service/],
      [spm('latencies'), /quantile/],
      [spm('latencies', '&quantile=1.5'), /quantile/],
      [spm('calls', '&spanKind=SPAN_KIND_SEVER'), /span kind/],
      [spm('calls', '&groupByOperation=yes'), /groupByOperation/],
      [`/api/metrics/calls?service=frontend&endTs=yesterday`, /endTs/],
      [`/api/metrics/calls?service=frontend&lookback=-5`, /lookback/],
      [`/api/metrics/calls?service=frontend&step=0`, /step/],
      [`/api/metrics/calls?service=frontend&ratePer=1m`, /ratePer/],
      [`/api/metrics/calls?service=frontend&lookback=864000000&step=5000`, /points/],
    ];
    for (const [path, msg] of bad) {
      const res = await get<Envelope>(path);
      expect([path, res.status]).toEqual([path, 400]);
      expect(res.body.errors![0].msg).toMatch(msg);
    }
  });

  it('GET /api/traces?traceID=a&traceID=b returns those traces, lists a missing one in errors, and refuses a malformed id with 400', async () => {
    const spans = makeSpans(3, 4);
    await loadSpans(spans);
    const [a, b, c] = [...new Set(spans.map((s) => s.traceId))];
    const missing = 'ab'.repeat(16);
    const res = await get<Envelope>(`/api/traces?traceID=${a}&traceID=${b.toUpperCase()}&traceID=${missing}`);
    expect(res.status).toBe(200);
    expect(res.body.data.map((t) => t.traceID).sort()).toEqual([a, b].sort());
    expect(res.body.data.every((t) => t.spans.length === 4)).toBe(true);
    expect(res.body.errors).toEqual([{ code: 404, msg: 'trace not found', traceID: missing }]);
    expect((await get<Envelope>(`/api/traces?traceID=${c}`)).body.data.map((t) => t.traceID)).toEqual([c]);
    const bad = await get<Envelope>(`/api/traces?traceID=${a}&traceID=not-hex`);
    expect(bad.status).toBe(400);
    expect(bad.body.errors![0].msg).toMatch(/trace id/);
  });

  it('tag search error=true finds spans with status ERROR (error=false the others), as Jaeger users search for failures', async () => {
    const service = `svc-err-${Date.now()}`;
    const failed = makeSpans(2, 1, { service, status: { code: 'ERROR', message: 'boom' } });
    const fine = makeSpans(3, 1, { service, status: { code: 'OK' } });
    await loadSpans([...failed, ...fine]);
    const ids = async (tags: string) =>
      (await get<Envelope>(`/api/traces?service=${service}&tags=${encodeURIComponent(tags)}`)).body.data.map((t) => t.traceID).sort();
    expect(await ids('{"error":"true"}')).toEqual(failed.map((s) => s.traceId).sort());
    expect(await ids('{"error":"false"}')).toEqual(fine.map((s) => s.traceId).sort());
    expect((await get<Envelope>(`/api/traces?service=${service}&tag=error:true`)).body.data).toHaveLength(2);
  });

  it('sends CORS headers to listed origins only (preflight answered without a token); without the setting, none', async () => {
    const listed = await get<unknown>('/api/services', { origin: 'https://grafana.example:3000' });
    expect(listed.headers.get('access-control-allow-origin')).toBe('https://grafana.example:3000');
    expect(listed.headers.get('vary')).toBe('Origin');
    const other = await get<unknown>('/api/services', { origin: 'https://evil.example' });
    expect(other.status).toBe(200);
    expect(other.headers.get('access-control-allow-origin')).toBeNull();
    const preflight = await fetch(`${base}/api/metrics/calls`, {
      method: 'OPTIONS',
      headers: {
        origin: 'https://grafana.example:3000',
        'access-control-request-method': 'GET',
        'access-control-request-headers': 'authorization',
      },
    });
    expect(preflight.status).toBe(204);
    expect(preflight.headers.get('access-control-allow-headers')).toContain('authorization');

    const off = await indexerSetup(ctx);
    const svc = await startIndexer(ctx, off.env);
    const res = await fetch(`http://127.0.0.1:${svc.queryPort()}/api/services`, { headers: { origin: 'https://grafana.example:3000' } });
    expect(res.headers.get('access-control-allow-origin')).toBeNull();
    const offPreflight = await fetch(`http://127.0.0.1:${svc.queryPort()}/api/services`, {
      method: 'OPTIONS',
      headers: { origin: 'https://grafana.example:3000' },
    });
    expect(offPreflight.status).toBe(405);
  });
});
