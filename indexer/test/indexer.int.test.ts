import { TestContext, waitFor } from '../../shared/testing';
import { dailyIndex } from '../../shared/src';
import { docCount, indexerSetup, lagOf, makeSpans, publishSpans, startIndexer } from './helpers';

describe('indexer on the real Kafka and Elasticsearch', () => {
  const ctx = new TestContext();
  afterAll(() => ctx.cleanup());

  it('makes spans searchable under the contract mapping; new attribute keys add no fields; a trace comes back whole as a tree', async () => {
    const { validated, prefix, env } = await indexerSetup(ctx);
    const svc = await startIndexer(ctx, env);
    const spans = makeSpans(20, 6);
    await publishSpans(ctx, validated, spans);
    await waitFor('all spans indexed', async () => (await docCount(ctx, prefix)) === spans.length, { timeoutMs: 60_000, intervalMs: 250 });

    const index = dailyIndex(prefix, 'traces', spans[0].startTime);
    const es = ctx.es();
    const props = (await es.indices.getMapping({ index }))[index].mappings.properties as Record<string, { type?: string }>;
    expect(props.startTime.type).toBe('date_nanos');
    expect(props.durationNanos.type).toBe('long');
    expect(props.attributes.type).toBe('flattened');
    expect(props.traceId.type).toBe('keyword');
    expect(Object.keys(props).sort()).toEqual([
      'attributes',
      'dropped',
      'durationNanos',
      'endTime',
      'events',
      'kind',
      'links',
      'name',
      'parentSpanId',
      'resource',
      'scope',
      'service',
      'spanId',
      'startTime',
      'status',
      'traceId',
    ]);
    const fields = await es.fieldCaps({ index, fields: 'attributes.*' });
    expect(Object.keys(fields.fields).filter((f) => f.startsWith('attributes.k.'))).toEqual([]);

    const port = svc.queryPort();
    const traceId = spans[0].traceId;
    const body = (await (await fetch(`http://127.0.0.1:${port}/api/traces/${traceId}`)).json()) as {
      data: { spans: { spanID: string; references: { spanID: string }[]; warnings: string[] | null }[] }[];
    };
    const got = body.data[0].spans;
    expect(got.map((s) => s.spanID)).toEqual(spans.filter((s) => s.traceId === traceId).map((s) => s.spanId));
    expect(got.every((s) => s.warnings === null)).toBe(true);
    const services = (await (await fetch(`http://127.0.0.1:${port}/api/services`)).json()) as { data: string[] };
    expect(services.data).toEqual(['svc-0', 'svc-1']);
    const ops = (await (await fetch(`http://127.0.0.1:${port}/api/services/svc-0/operations`)).json()) as { data: string[] };
    expect(ops.data.sort()).toEqual(['op-0', 'op-1', 'op-2']);
    const search = (await (
      await fetch(`http://127.0.0.1:${port}/api/traces?service=svc-1&operation=op-1&minDuration=1us&limit=5`)
    ).json()) as { data: unknown[] };
    expect(search.data).toHaveLength(5);
  });

  it('returns a trace of more than 10,000 spans whole (search_after paging)', async () => {
    const { validated, prefix, env } = await indexerSetup(ctx);
    const svc = await startIndexer(ctx, env);
    const spans = makeSpans(1, 12_001);
    const root = spans[0];
    for (const s of spans.slice(1)) s.parentSpanId = root.spanId;
    // One trace, published in batches of 1,000 spans (ingest splits big traces the same way).
    for (let i = 0; i < spans.length; i += 1000) await publishSpans(ctx, validated, spans.slice(i, i + 1000));
    await waitFor('12,001 spans indexed', async () => (await docCount(ctx, prefix)) === spans.length, {
      timeoutMs: 120_000,
      intervalMs: 500,
    });
    const body = (await (await fetch(`http://127.0.0.1:${svc.queryPort()}/api/traces/${root.traceId}`)).json()) as {
      data: { spans: { spanID: string }[] }[];
    };
    const ids = body.data[0].spans.map((s) => s.spanID);
    expect(ids).toHaveLength(spans.length);
    expect(new Set(ids).size).toBe(spans.length);
    expect(ids[0]).toBe(root.spanId);
  });

  it('indexes the aggregator window records and alert changes under their deterministic ids', async () => {
    const { metrics, alerts, prefix, env } = await indexerSetup(ctx);
    await startIndexer(ctx, env);
    const end = Date.now() - (Date.now() % 5000);
    const window = {
      id: `cart|GetCart|SERVER@${end}`,
      seriesKey: 'cart|GetCart|SERVER',
      service: 'cart',
      operation: 'GetCart',
      kind: 'SERVER',
      windowStart: new Date(end - 60_000).toISOString(),
      windowEnd: new Date(end).toISOString(),
      windowSeconds: 60,
      count: 10,
      errorCount: 1,
      errorRate: 0.1,
      ratePerSecond: 10 / 60,
      lateCount: 0,
      latencyMs: { min: 1, max: 9, mean: 5, stddev: 2, p50: 5, p90: 8, p95: 9, p99: 9, p999: 9 },
      histogram: {
        encoding: 'hdr-compressed-base64',
        unit: 'us',
        significantDigits: 3,
        data: 'HISTFAAAAB94nJNpmSzMwMDAxQABzFCaEUzOmNZg/wEidwLWAdA=',
      },
      exemplars: [{ traceId: '0af7651916cd43dd8448eb211c80319c', durationMs: 9.1 }],
    };
    const alert = {
      ruleId: 'r1',
      seriesKey: window.seriesKey,
      state: 'firing',
      value: 9,
      threshold: 5,
      windowEnd: window.windowEnd,
      evaluatedAt: new Date().toISOString(),
    };
    const producer = await ctx.producer();
    await producer.send({
      topic: metrics,
      messages: [
        { key: window.seriesKey, value: JSON.stringify(window) },
        { key: window.seriesKey, value: JSON.stringify(window) },
      ],
    });
    await producer.send({ topic: alerts, messages: [{ key: window.seriesKey, value: JSON.stringify(alert) }] });
    const es = ctx.es();
    const count = async (kind: string) => {
      await es.indices.refresh({ index: `${prefix}-${kind}-*`, allow_no_indices: true } as never);
      return (await es.count({ index: `${prefix}-${kind}-*`, allow_no_indices: true } as never)).count;
    };
    await waitFor('window and alert indexed', async () => (await count('metrics')) === 1 && (await count('alerts')) === 1, {
      timeoutMs: 60_000,
      intervalMs: 250,
    });
    // A p99 leads to a trace: the window is found by its exemplar's trace id.
    const hit = (
      await es.search({ index: `${prefix}-metrics-*`, query: { term: { 'exemplars.traceId': '0af7651916cd43dd8448eb211c80319c' } } })
    ).hits.hits[0];
    expect(hit._id).toBe(window.id);
    expect((hit._source as typeof window).histogram).toEqual(window.histogram);
  });

  it('marks a gap when a parent span is missing', async () => {
    const { validated, prefix, env } = await indexerSetup(ctx);
    const svc = await startIndexer(ctx, env);
    const spans = makeSpans(1, 4);
    const withoutParent = spans.filter((_, i) => i !== 1);
    await publishSpans(ctx, validated, withoutParent);
    await waitFor('indexed', async () => (await docCount(ctx, prefix)) === 3, { timeoutMs: 60_000 });
    const body = (await (await fetch(`http://127.0.0.1:${svc.queryPort()}/api/traces/${spans[0].traceId}`)).json()) as {
      data: { spans: { spanID: string; warnings: string[] | null }[] }[];
    };
    const orphan = body.data[0].spans.find((s) => s.spanID === spans[2].spanId)!;
    expect(orphan.warnings![0]).toContain(`parent span ${spans[1].spanId} is missing`);
  });

  it('sends a poison document to the DLQ with the reason, indexes the rest, commits past it', async () => {
    const { validated, dlq, prefix, groupId, env } = await indexerSetup(ctx);
    await startIndexer(ctx, env);
    const spans = makeSpans(10, 5);
    const poisonId = spans[7].spanId;
    await publishSpans(ctx, validated, spans, (line) =>
      line.includes(`"spanId":"${poisonId}"`) ? line.replace(/"durationNanos":\d+/, '"durationNanos":"abc"') : line,
    );
    const dead = await ctx.collect(dlq);
    await waitFor('poison in the DLQ', () => dead.messages.length >= 1, { timeoutMs: 60_000 });
    await waitFor('the rest indexed', async () => (await docCount(ctx, prefix)) === spans.length - 1, { timeoutMs: 20_000 }).catch(
      async (e) => {
        throw new Error(
          `${e.message}; count=${await docCount(ctx, prefix)} dlq=${dead.messages.map((m) => m.headers!['mplp-error']!.toString()).join(' | ')}`,
        );
      },
    );
    expect(dead.messages).toHaveLength(1);
    const h = dead.messages[0].headers!;
    expect(h['mplp-error-code']!.toString()).toMatch(/^index_.*(parsing|mapper)/);
    expect(h['mplp-error']!.toString()).toContain('durationNanos');
    expect(JSON.parse(dead.messages[0].value!.toString()).spanId).toBe(poisonId);
    await waitFor('lag 0', async () => (await lagOf(ctx, groupId, validated)) === 0, { timeoutMs: 30_000 });
  });
});
