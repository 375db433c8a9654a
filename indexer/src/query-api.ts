import http from 'node:http';
import { AddressInfo } from 'node:net';
import type { NormalizedSpan } from '../../shared/src';
import { MplpError } from '../../shared/src';
import { toJaegerTrace } from './trace-tree';
import type { TraceQuery } from './trace-query';

/** A small LRU with a time-to-live: recently read traces are served without going to Elasticsearch. */
export class TraceCache {
  private readonly map = new Map<string, { at: number; spans: NormalizedSpan[] }>();
  constructor(private readonly size: number, private readonly ttlMs: number, private readonly now = Date.now) {}
  get(id: string): NormalizedSpan[] | undefined {
    const e = this.map.get(id);
    if (!e) return undefined;
    this.map.delete(id);
    if (this.now() - e.at > this.ttlMs) return undefined;
    this.map.set(id, e);
    return e.spans;
  }
  set(id: string, spans: NormalizedSpan[]): void {
    if (this.size === 0) return;
    this.map.delete(id);
    this.map.set(id, { at: this.now(), spans });
    while (this.map.size > this.size) this.map.delete(this.map.keys().next().value!);
  }
}

/** Jaeger durations: "1.5ms", "200us", "2s", "1m"; returns nanoseconds. */
export function parseJaegerDuration(s: string): number {
  const m = /^(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)$/.exec(s.trim());
  if (!m) throw new MplpError('bad_request', `not a duration: ${s}`);
  const mult: Record<string, number> = { ns: 1, us: 1e3, 'µs': 1e3, ms: 1e6, s: 1e9, m: 60e9, h: 3600e9 };
  return Math.round(Number(m[1]) * mult[m[2]]);
}

/**
 * HTTP JSON API in the Jaeger query API's shape (/api/services, /api/services/{s}/operations,
 * /api/traces/{id}, /api/traces?service=…), so the Jaeger UI or its scripts can be pointed at it.
 */
export class QueryApi {
  private server?: http.Server;
  constructor(private readonly query: TraceQuery, private readonly cache: TraceCache) {}

  async start(port: number): Promise<number> {
    this.server = http.createServer((req, res) => { void this.handle(req, res); });
    await new Promise<void>((resolve, reject) => { this.server!.once('error', reject); this.server!.listen(port, '0.0.0.0', () => resolve()); });
    return (this.server.address() as AddressInfo).port;
  }

  async stop(): Promise<void> {
    const s = this.server; this.server = undefined;
    if (s) await new Promise<void>((r) => { s.close(() => r()); s.closeAllConnections(); });
  }

  async traceById(id: string): Promise<NormalizedSpan[]> {
    const cached = this.cache.get(id);
    if (cached) return cached;
    const spans = await this.query.trace(id);
    if (spans.length) this.cache.set(id, spans);
    return spans;
  }

  private async handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://x');
    const send = (status: number, body: unknown) => {
      const text = JSON.stringify(body);
      res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
      res.end(text);
    };
    try {
      if (req.method !== 'GET') return send(405, { errors: [{ code: 405, msg: 'GET only' }] });
      let m: RegExpExecArray | null;
      if (url.pathname === '/api/services') {
        const data = await this.query.services();
        return send(200, { data, total: data.length, limit: 0, offset: 0, errors: null });
      }
      if ((m = /^\/api\/services\/([^/]+)\/operations$/.exec(url.pathname))) {
        const data = (await this.query.operations(decodeURIComponent(m[1]))).map((o) => o.name);
        return send(200, { data, total: data.length, limit: 0, offset: 0, errors: null });
      }
      if (url.pathname === '/api/operations') {
        const service = url.searchParams.get('service');
        if (!service) return send(400, { errors: [{ code: 400, msg: 'service is required' }] });
        const data = await this.query.operations(service);
        return send(200, { data, total: data.length, limit: 0, offset: 0, errors: null });
      }
      if ((m = /^\/api\/traces\/([0-9a-fA-F]{1,32})$/.exec(url.pathname))) {
        const id = m[1].toLowerCase().padStart(32, '0');
        const spans = await this.traceById(id);
        if (!spans.length) return send(404, { data: null, errors: [{ code: 404, msg: 'trace not found' }] });
        return send(200, { data: [toJaegerTrace(id, spans)], total: 0, limit: 0, offset: 0, errors: null });
      }
      if (url.pathname === '/api/traces') {
        const p = url.searchParams;
        const service = p.get('service') ?? undefined;
        if (!service) return send(400, { errors: [{ code: 400, msg: 'parameter service is required' }] });
        const tags = p.get('tags') ? (JSON.parse(p.get('tags')!) as Record<string, string>) : undefined;
        const found = await this.query.search({
          service, operation: p.get('operation') ?? undefined, tags,
          minDurationNanos: p.get('minDuration') ? parseJaegerDuration(p.get('minDuration')!) : undefined,
          maxDurationNanos: p.get('maxDuration') ? parseJaegerDuration(p.get('maxDuration')!) : undefined,
          // Jaeger passes start/end in microseconds.
          startMs: p.get('start') ? Number(p.get('start')) / 1000 : undefined,
          endMs: p.get('end') ? Number(p.get('end')) / 1000 : undefined,
          limit: p.get('limit') ? Math.min(1000, Number(p.get('limit'))) : 20,
        });
        const data = [...found].map(([id, spans]) => { this.cache.set(id, spans); return toJaegerTrace(id, spans); });
        return send(200, { data, total: data.length, limit: 0, offset: 0, errors: null });
      }
      send(404, { errors: [{ code: 404, msg: 'not found' }] });
    } catch (err) {
      const e = err as MplpError;
      const status = e.code === 'bad_request' || err instanceof SyntaxError ? 400 : e.retryable ? 503 : 500;
      send(status, { data: null, errors: [{ code: status, msg: (err as Error).message }] });
    }
  }
}
