import http from 'node:http';
import { AddressInfo } from 'node:net';
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import { TestContext, uniqueName, waitFor } from '../../shared/testing';
import { FORMAT_NDJSON_V1, HEADER_FORMAT, NormalizedSpan, SpanBatchCodec, ensureIndexTemplates } from '../../shared/src';
import { createIndexer } from '../src';

export const INDEXER_MAIN = path.join(__dirname, '..', 'src', 'main.js');

export function makeSpans(traces: number, spansPerTrace: number, over: Partial<NormalizedSpan> = {}): NormalizedSpan[] {
  const out: NormalizedSpan[] = [];
  const now = Date.now();
  for (let t = 0; t < traces; t++) {
    const traceId = randomBytes(16).toString('hex');
    let parent: string | undefined;
    for (let s = 0; s < spansPerTrace; s++) {
      const spanId = randomBytes(8).toString('hex');
      const start = new Date(now - 60_000 + s).toISOString().replace('Z', '000123Z');
      out.push({
        traceId,
        spanId,
        ...(parent ? { parentSpanId: parent } : {}),
        name: `op-${s % 3}`,
        kind: s === 0 ? 'SERVER' : 'CLIENT',
        service: `svc-${s % 2}`,
        startTime: start,
        endTime: start,
        durationNanos: 1000 * (s + 1),
        status: { code: s === 1 ? 'ERROR' : 'OK' },
        attributes: { [`k.${randomBytes(3).toString('hex')}`]: 'v', n: s },
        resource: { 'service.name': `svc-${s % 2}` },
        scope: { name: 'test' },
        events: [],
        links: [],
        ...over,
      });
      parent = spanId;
    }
  }
  return out;
}

/** Publishes spans grouped by trace (one batch per trace, like ingest). */
export async function publishSpans(
  ctx: TestContext,
  topic: string,
  spans: NormalizedSpan[],
  mutate?: (line: string) => string,
): Promise<void> {
  const byTrace = new Map<string, NormalizedSpan[]>();
  for (const s of spans) byTrace.set(s.traceId, [...(byTrace.get(s.traceId) ?? []), s]);
  const producer = await ctx.producer();
  const msgs = [...byTrace].map(([traceId, list]) => {
    const lines = list.map((s) => (mutate ? mutate(JSON.stringify(s)) : JSON.stringify(s)));
    return {
      key: traceId,
      value: SpanBatchCodec.encodeLines(Buffer.from(lines.join('\n') + '\n')),
      headers: { [HEADER_FORMAT]: FORMAT_NDJSON_V1 },
    };
  });
  for (let i = 0; i < msgs.length; i += 200) await producer.send({ topic, acks: -1, messages: msgs.slice(i, i + 200) });
}

export async function indexerSetup(ctx: TestContext, extra: Record<string, string> = {}) {
  const [validated, dlq, metrics, alerts] = await ctx.topics(['validated', 'dlq', 'metrics', 'alerts'], 3);
  const prefix = ctx.indexPrefix('test-idx');
  await ensureIndexTemplates(ctx.es(), prefix);
  const groupId = uniqueName('test-indexer');
  const env: Record<string, string> = {
    MPLP_TOPIC_VALIDATED: validated,
    MPLP_TOPIC_DLQ: dlq,
    MPLP_TOPIC_METRICS: metrics,
    MPLP_TOPIC_ALERTS: alerts,
    MPLP_INDEX_PREFIX: prefix,
    MPLP_INDEXER_GROUP_ID: groupId,
    MPLP_INDEXER_HTTP_PORT: '0',
    MPLP_INDEXER_QUERY_PORT: '0',
    MPLP_LOG_LEVEL: 'warn',
    MPLP_INDEXER_RETRY_MAX: '2s',
    ...extra,
  };
  return { validated, dlq, metrics, alerts, prefix, groupId, env };
}

export async function startIndexer(ctx: TestContext, env: Record<string, string>) {
  const { service } = createIndexer({ ...process.env, ...env });
  await service.start();
  ctx.defer(() => service.stop());
  await waitFor('indexer joined', () => service.worker.ready, { timeoutMs: 60_000 });
  return service;
}

export function spawnIndexer(ctx: TestContext, env: Record<string, string>) {
  return ctx.spawnProcess(INDEXER_MAIN, env);
}

export async function docCount(ctx: TestContext, prefix: string): Promise<number> {
  const es = ctx.es();
  await es.indices.refresh({ index: `${prefix}-*`, ignore_unavailable: true, allow_no_indices: true } as never);
  return (await es.count({ index: `${prefix}-traces-*`, ignore_unavailable: true, allow_no_indices: true } as never)).count;
}

/** Committed offsets of the group equal the end of every partition: lag 0. */
export async function lagOf(ctx: TestContext, groupId: string, topic: string): Promise<number> {
  const admin = await ctx.admin();
  const [committed] = await admin.fetchOffsets({ groupId, topics: [topic] });
  const ends = await admin.fetchTopicOffsets(topic);
  return ends.reduce((n, e) => {
    const c = committed.partitions.find((p) => p.partition === e.partition);
    const off = c && Number(c.offset) >= 0 ? Number(c.offset) : 0;
    return n + Number(e.high) - off;
  }, 0);
}

export type ProxyMode = 'pass' | 'bulk-503' | 'lose-ack' | 'down';

/** An HTTP proxy in front of the real Elasticsearch that can fail in the ways a network and a loaded cluster do. */
export async function esProxy(ctx: TestContext, target: string) {
  const t = new URL(target);
  const state = { mode: 'pass' as ProxyMode, bulks: 0, failed: 0 };
  const server = http.createServer((req, res) => {
    const isBulk = (req.url ?? '').includes('_bulk');
    if (state.mode === 'down') {
      state.failed++;
      req.socket.destroy();
      return;
    }
    if (isBulk && state.mode === 'bulk-503') {
      state.failed++;
      req.resume();
      req.on('end', () => {
        res.writeHead(503, { 'content-type': 'application/json', 'x-elastic-product': 'Elasticsearch' });
        res.end('{"error":"unavailable","status":503}');
      });
      return;
    }
    const up = http.request({ host: t.hostname, port: t.port, method: req.method, path: req.url, headers: req.headers }, (ur) => {
      if (isBulk) state.bulks++;
      if (isBulk && state.mode === 'lose-ack') {
        state.failed++;
        ur.resume();
        ur.on('end', () => {
          res.writeHead(503, { 'content-type': 'application/json', 'x-elastic-product': 'Elasticsearch' });
          res.end('{"error":"lost","status":503}');
        });
        return;
      }
      res.writeHead(ur.statusCode ?? 502, ur.headers);
      ur.pipe(res);
    });
    up.on('error', () => res.destroy());
    req.pipe(up);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  ctx.defer(
    () =>
      new Promise<void>((r) => {
        server.close(() => r());
        server.closeAllConnections();
      }),
  );
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, state };
}

/** Every span document id under the prefix (search_after over _id-equal spanId order), for distinct-id checks. */
export async function docIds(ctx: TestContext, prefix: string): Promise<string[]> {
  const es = ctx.es();
  await es.indices.refresh({ index: `${prefix}-*`, ignore_unavailable: true, allow_no_indices: true } as never);
  const ids: string[] = [];
  let after: unknown[] | undefined;
  for (;;) {
    const res = await es.search({
      index: `${prefix}-traces-*`,
      size: 5000,
      _source: ['traceId', 'spanId'],
      sort: [{ traceId: 'asc' }, { spanId: 'asc' }],
      ignore_unavailable: true,
      allow_no_indices: true,
      track_total_hits: false,
      ...(after ? { search_after: after } : {}),
    } as never);
    const hits = res.hits.hits;
    for (const h of hits) ids.push(h._id!);
    if (hits.length < 5000) return ids;
    after = hits[hits.length - 1].sort as unknown[];
  }
}

/** Records in a topic (sum of end offsets). */
export async function topicSize(ctx: TestContext, topic: string): Promise<number> {
  const admin = await ctx.admin();
  return (await admin.fetchTopicOffsets(topic)).reduce((s, p) => s + Number(p.high), 0);
}

/** Sum of a Prometheus metric (all label sets) read from a running indexer's /metrics. */
export async function metricValue(opsPort: number, name: string): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${opsPort}/metrics`)).text();
  return text
    .split('\n')
    .filter((l) => l.startsWith(`${name} `) || l.startsWith(`${name}{`))
    .reduce((n, l) => n + Number(l.slice(l.lastIndexOf(' ') + 1)), 0);
}
