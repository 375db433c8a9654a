import { createHash, timingSafeEqual } from 'node:crypto';
import { readFileSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import { Counter, Gauge, Registry } from 'prom-client';
import { ConfigError, Logger, MplpError, redactUrls } from '../../shared/src';
import type { IndexerSettings } from './config';
import { corsHeaders } from './cors';
import { parseSpmParams, ServiceMetrics, SPM_MIN_STEP_MS, SpmMetric } from './jaeger-metrics';
import { BadRequest, parseSearchParams, parseTraceId, pathSegment } from './query-params';
import { jaegerTraceJson } from './trace-tree';
import type { LoadedTrace, TraceQuery } from './trace-query';
import type { UiServer } from './ui-server';

export { parseJaegerDuration } from './query-params';

interface CachedTrace {
  at: number;
  json: Buffer;
}

/**
 * Recently served traces, as the JSON already sent, bounded by bytes (not by count: one trace
 * can be a thousand times another), least recently used evicted first, re-read after the TTL.
 */
export class TraceCache {
  private readonly map = new Map<string, CachedTrace>();
  private used = 0;
  constructor(
    private readonly maxBytes: number,
    private readonly ttlMs: number,
    private readonly now = Date.now,
  ) {}

  get bytes(): number {
    return this.used;
  }

  get(id: string): Buffer | undefined {
    const e = this.map.get(id);
    if (!e) return undefined;
    this.delete(id);
    if (this.now() - e.at > this.ttlMs) return undefined;
    this.map.set(id, e);
    this.used += cost(id, e.json);
    return e.json;
  }

  set(id: string, json: Buffer): void {
    this.delete(id);
    if (cost(id, json) > this.maxBytes) return;
    this.map.set(id, { at: this.now(), json });
    this.used += cost(id, json);
    for (const oldest of this.map.keys()) {
      if (this.used <= this.maxBytes) break;
      this.delete(oldest);
    }
  }

  private delete(id: string): void {
    const e = this.map.get(id);
    if (e) {
      this.map.delete(id);
      this.used -= cost(id, e.json);
    }
  }
}

// The entry's bytes plus a rough overhead for the key, the map slot and the Buffer object.
const cost = (id: string, json: Buffer) => json.length + id.length + 96;

/**
 * Spans of a search response shared out among its traces: every trace gets what it has up to an
 * equal share of what is left, smallest first, so small traces come back whole and only the
 * large ones are cut; each keeps at least one span.
 */
export function shareSpans(counts: number[], budget: number): number[] {
  const out = new Array<number>(counts.length).fill(0);
  const order = counts.map((c, i) => [c, i]).sort((a, b) => a[0] - b[0]);
  let left = budget;
  let n = counts.length;
  for (const [count, i] of order) {
    const share = Math.max(1, Math.min(count, Math.floor(left / n)));
    out[i] = share;
    left = Math.max(0, left - share);
    n--;
  }
  return out;
}

export interface QueryApiOptions {
  host: string;
  port: number;
  /** Empty: no authentication. */
  token: string;
  tls?: { cert: Buffer; key: Buffer };
  maxSpans: number;
  maxSearchTraces: number;
  maxConcurrent: number;
  /** Origins whose pages may read the API (CORS); empty: none, `*`: any. */
  corsOrigins?: string[];
}

/** The query API's options from the indexer settings; the TLS files are read here, so a bad path stops the start naming its setting. */
export function queryApiOptions(
  s: Pick<
    IndexerSettings,
    | 'queryHost'
    | 'queryPort'
    | 'queryToken'
    | 'queryTlsCertFile'
    | 'queryTlsKeyFile'
    | 'queryMaxSpans'
    | 'queryMaxSearchTraces'
    | 'queryMaxConcurrent'
    | 'queryCorsOrigins'
  >,
): QueryApiOptions {
  if (!!s.queryTlsCertFile !== !!s.queryTlsKeyFile) {
    throw new ConfigError(
      s.queryTlsCertFile ? 'MPLP_INDEXER_QUERY_TLS_KEY_FILE' : 'MPLP_INDEXER_QUERY_TLS_CERT_FILE',
      'set both MPLP_INDEXER_QUERY_TLS_CERT_FILE and MPLP_INDEXER_QUERY_TLS_KEY_FILE, or neither',
    );
  }
  const read = (setting: string, file: string) => {
    try {
      return readFileSync(file);
    } catch (err) {
      throw new ConfigError(setting, `cannot read ${file}: ${(err as Error).message}`);
    }
  };
  const tls = s.queryTlsCertFile
    ? {
        cert: read('MPLP_INDEXER_QUERY_TLS_CERT_FILE', s.queryTlsCertFile),
        key: read('MPLP_INDEXER_QUERY_TLS_KEY_FILE', s.queryTlsKeyFile),
      }
    : undefined;
  return {
    host: s.queryHost,
    port: s.queryPort,
    token: s.queryToken,
    tls,
    maxSpans: s.queryMaxSpans,
    maxSearchTraces: s.queryMaxSearchTraces,
    maxConcurrent: s.queryMaxConcurrent,
    corsOrigins: s.queryCorsOrigins,
  };
}

const isLoopback = (host: string) => host === 'localhost' || host === '::1' || host.startsWith('127.');

/** What is unsafe about how the query API is exposed, for warnings at start. */
export function queryApiWarnings(o: Pick<QueryApiOptions, 'host' | 'token' | 'tls'>): string[] {
  if (isLoopback(o.host)) return [];
  if (!o.token) return [`query API bound to ${o.host} without MPLP_INDEXER_QUERY_TOKEN: anyone who reaches it reads every trace`];
  if (!o.tls)
    return [`query API bound to ${o.host} checks a bearer token over plain HTTP: set MPLP_INDEXER_QUERY_TLS_CERT_FILE and _KEY_FILE`];
  return [];
}

const API_ENVELOPE = (data: string, total: number, errors = 'null') =>
  `{"data":${data},"total":${total},"limit":0,"offset":0,"errors":${errors}}`;
/** Jaeger's envelope around traces already serialized, without parsing them again. */
const traceList = (traces: Buffer[], total: number, errors?: string) => {
  const [head, tail] = API_ENVELOPE('\u0000', total, errors).split('\u0000');
  return Buffer.concat([Buffer.from(`${head}[`), ...traces.flatMap((t, i) => (i ? [Buffer.from(','), t] : [t])), Buffer.from(`]${tail}`)]);
};
const errorBody = (status: number, msg: string) =>
  JSON.stringify({ data: null, total: 0, limit: 0, offset: 0, errors: [{ code: status, msg }] });

type Reply = { status: number; body: string | Buffer; headers?: Record<string, string> };
type Route = 'services' | 'operations' | 'trace' | 'search' | 'traces' | 'dependencies' | 'metrics' | 'ui' | 'other';

/**
 * HTTP JSON API in the Jaeger query API's shape (/api/services, /api/services/{s}/operations,
 * /api/traces/{id}, /api/traces?service=…), so the Jaeger UI or its scripts can be pointed at
 * it. Loopback by default; optional bearer token and TLS. Every parameter is checked (400 with a
 * message), at most maxConcurrent requests run at once (429 past it), and a response holds at
 * most maxSpans spans, which is also all that is read from Elasticsearch for it.
 */
export class QueryApi {
  private server?: http.Server;
  private inFlight = 0;
  private readonly tokenDigest?: Buffer;
  private readonly requests?: Counter<'route' | 'status'>;
  private readonly truncated?: Counter;

  constructor(
    private readonly query: TraceQuery,
    private readonly cache: TraceCache,
    private readonly opts: QueryApiOptions,
    registry?: Registry,
    private readonly logger?: Logger,
    private readonly ui?: UiServer,
    private readonly metrics?: ServiceMetrics,
  ) {
    if (opts.token) this.tokenDigest = digest(opts.token);
    if (registry) {
      this.requests = new Counter({
        name: 'mplp_indexer_query_requests_total',
        help: 'query API requests answered, by route and HTTP status',
        labelNames: ['route', 'status'],
        registers: [registry],
      });
      this.truncated = new Counter({
        name: 'mplp_indexer_query_truncated_traces_total',
        help: 'traces answered truncated at the spans-per-response cap',
        registers: [registry],
      });
      const inFlight = () => this.inFlight;
      const cache = this.cache;
      new Gauge({
        name: 'mplp_indexer_query_in_flight',
        help: 'query API requests being served',
        registers: [registry],
        collect() {
          this.set(inFlight());
        },
      });
      new Gauge({
        name: 'mplp_indexer_trace_cache_bytes',
        help: 'bytes held by the query API trace cache',
        registers: [registry],
        collect() {
          this.set(cache.bytes);
        },
      });
    }
  }

  async start(): Promise<AddressInfo> {
    const handler = (req: http.IncomingMessage, res: http.ServerResponse) => {
      this.handle(req, res).catch(() => res.destroy());
    };
    const server = this.opts.tls
      ? https.createServer({ cert: this.opts.tls.cert, key: this.opts.tls.key }, handler)
      : http.createServer(handler);
    this.server = server;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.opts.port, this.opts.host, () => resolve());
    });
    for (const warning of queryApiWarnings(this.opts)) this.logger?.warn(warning);
    return server.address() as AddressInfo;
  }

  address(): AddressInfo | undefined {
    return (this.server?.address() as AddressInfo | null) ?? undefined;
  }

  async stop(): Promise<void> {
    const s = this.server;
    this.server = undefined;
    if (s)
      await new Promise<void>((r) => {
        s.close(() => r());
        s.closeAllConnections();
      });
  }

  private async handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    let route: Route = 'other';
    let reply: Reply;
    const cors = corsHeaders(this.opts.corsOrigins ?? [], req.headers.origin);
    if (cors && req.method === 'OPTIONS') {
      // A preflight carries no credentials: it is answered before the token check.
      res.writeHead(204, {
        ...cors,
        'access-control-allow-methods': 'GET',
        'access-control-allow-headers': 'authorization, content-type',
        'access-control-max-age': '600',
      });
      res.end();
      return;
    }
    if (this.tokenDigest && !bearerMatches(req.headers.authorization, this.tokenDigest)) {
      reply = {
        status: 401,
        body: errorBody(401, 'missing or wrong bearer token'),
        headers: { 'www-authenticate': 'Bearer realm="mplp-query"' },
      };
    } else if (req.method !== 'GET') {
      reply = { status: 405, body: errorBody(405, 'GET only'), headers: { allow: 'GET' } };
    } else if (this.ui?.serveDirect((req.url ?? '/').split('?')[0], req, res)) {
      return; // the UI's static files and live stream: cheap or long-lived, so outside the query limit
    } else if (this.inFlight >= this.opts.maxConcurrent) {
      reply = {
        status: 429,
        body: errorBody(429, `more than ${this.opts.maxConcurrent} queries at once (MPLP_INDEXER_QUERY_MAX_CONCURRENT); retry shortly`),
        headers: { 'retry-after': '1' },
      };
    } else {
      this.inFlight++;
      try {
        const path = (req.url ?? '/').split('?')[0];
        const params = new URLSearchParams((req.url ?? '').slice(path.length + 1));
        route = routeOf(path);
        reply = await this.answer(route, path, params);
      } catch (err) {
        reply = this.failure(err);
      } finally {
        this.inFlight--;
      }
    }
    this.requests?.inc({ route, status: String(reply.status) });
    res.writeHead(reply.status, {
      'content-type': 'application/json',
      'content-length': Buffer.byteLength(reply.body),
      ...reply.headers,
      ...cors,
    });
    res.end(reply.body);
  }

  private async answer(route: Route, path: string, params: URLSearchParams): Promise<Reply> {
    switch (route) {
      case 'services':
        return ok(await this.query.services());
      case 'operations': {
        const m = /^\/api\/services\/([^/]+)\/operations$/.exec(path);
        const service = m ? pathSegment('service', m[1]) : params.get('service');
        if (!service) throw new BadRequest('parameter service is required');
        return ok((await this.query.operations(service)).map((o) => o.name));
      }
      case 'trace': {
        const id = parseTraceId(pathSegment('trace id', path.slice('/api/traces/'.length)));
        const json = await this.traceJson(id);
        if (!json) return { status: 404, body: errorBody(404, 'trace not found') };
        return { status: 200, body: traceList([json], 0) };
      }
      case 'search':
        return params.has('traceID') ? this.tracesById(params) : this.search(params);
      case 'metrics':
        return this.serviceMetrics(path, params);
      default:
        return (await this.ui?.answer(path, params)) ?? { status: 404, body: errorBody(404, 'not found') };
    }
  }

  /** One trace's JSON, from the cache or read up to maxSpans spans. */
  async traceJson(id: string): Promise<Buffer | undefined> {
    const cached = this.cache.get(id);
    if (cached) return cached;
    const loaded = await this.query.trace(id, this.opts.maxSpans);
    if (!loaded.spans.length) return undefined;
    const json = this.serialize(id, loaded, `this response holds at most ${this.opts.maxSpans} spans (MPLP_INDEXER_QUERY_MAX_SPANS)`);
    this.cache.set(id, json);
    return json;
  }

  /** The matching traces, their spans shared out of maxSpans; whole traces are cached for the click that follows. */
  private async search(params: URLSearchParams): Promise<Reply> {
    const q = parseSearchParams(params, this.opts.maxSearchTraces);
    return this.traces(await this.query.findTraceIds(q));
  }

  /** GET /api/traces?traceID=a&traceID=b: those traces (sharing maxSpans); the missing ones listed in errors, as Jaeger does. */
  private async tracesById(params: URLSearchParams): Promise<Reply> {
    const ids = [...new Set(params.getAll('traceID').map(parseTraceId))];
    if (ids.length > this.opts.maxSearchTraces)
      throw new BadRequest(
        `at most ${this.opts.maxSearchTraces} traceID parameters (MPLP_INDEXER_QUERY_MAX_SEARCH_TRACES), got ${ids.length}`,
      );
    return this.traces(ids);
  }

  private async traces(ids: string[]): Promise<Reply> {
    const counts = await this.query.spanCounts(ids);
    const shares = shareSpans(
      ids.map((id) => counts.get(id) ?? 0),
      this.opts.maxSpans,
    );
    const parts: Buffer[] = [];
    for (const [i, id] of ids.entries()) {
      const loaded = await this.query.trace(id, shares[i]);
      if (!loaded.spans.length) continue;
      const json = this.serialize(
        id,
        loaded,
        `a search response holds at most ${this.opts.maxSpans} spans in all (MPLP_INDEXER_QUERY_MAX_SPANS); open the trace alone to see more`,
      );
      if (loaded.spans.length === loaded.total) this.cache.set(id, json);
      parts.push(json);
    }
    const missing = ids.filter((id) => !(counts.get(id) ?? 0));
    const errors = missing.length ? JSON.stringify(missing.map((traceID) => ({ code: 404, msg: 'trace not found', traceID }))) : undefined;
    return { status: 200, body: traceList(parts, parts.length, errors) };
  }

  /** Jaeger's SPM routes (/api/metrics/…), read from the window records. */
  private async serviceMetrics(path: string, params: URLSearchParams): Promise<Reply> {
    const metric = path.slice('/api/metrics/'.length);
    if (metric === 'minstep') return { status: 200, body: API_ENVELOPE(String(SPM_MIN_STEP_MS), 0) };
    if (!this.metrics || !['latencies', 'calls', 'errors'].includes(metric)) return { status: 404, body: errorBody(404, 'not found') };
    const family = await this.metrics.query(metric as SpmMetric, parseSpmParams(metric as SpmMetric, params));
    return { status: 200, body: JSON.stringify(family) };
  }

  private serialize(id: string, loaded: LoadedTrace, why: string): Buffer {
    const cut = loaded.spans.length < loaded.total;
    if (cut) this.truncated?.inc();
    const warnings = cut
      ? [`trace truncated: it has ${loaded.total} spans, shown are the first ${loaded.spans.length} by start time; ${why}`]
      : [];
    return jaegerTraceJson(id, loaded.spans, warnings);
  }

  private failure(err: unknown): Reply {
    if (err instanceof BadRequest) return { status: 400, body: errorBody(400, err.message) };
    const e = err as MplpError;
    if (e instanceof MplpError && e.retryable)
      return { status: 503, body: errorBody(503, `Elasticsearch unavailable: ${redactUrls(e.message)}`), headers: { 'retry-after': '5' } };
    this.logger?.error({ err }, 'query failed');
    return { status: 500, body: errorBody(500, redactUrls((err as Error).message)) };
  }
}

function routeOf(path: string): Route {
  if (path === '/api/services') return 'services';
  if (path === '/api/operations' || /^\/api\/services\/[^/]+\/operations$/.test(path)) return 'operations';
  if (path === '/api/traces') return 'search';
  if (path === '/api/dependencies') return 'dependencies';
  if (path.startsWith('/api/metrics/')) return 'metrics';
  if (path.startsWith('/api/ui/')) return 'ui';
  if (path.startsWith('/api/traces/') && path.length > '/api/traces/'.length && !path.slice(12).includes('/')) return 'trace';
  return 'other';
}

const ok = (data: string[]): Reply => ({ status: 200, body: API_ENVELOPE(JSON.stringify(data), data.length) });

const digest = (s: string) => createHash('sha256').update(s).digest();

/** Compares the bearer token in constant time: both sides are hashed to the same length first. */
function bearerMatches(header: string | undefined, expected: Buffer): boolean {
  const m = /^Bearer[ ]+(\S+)\s*$/i.exec(header ?? '');
  return timingSafeEqual(digest(m ? m[1] : ''), expected) && m !== null;
}
