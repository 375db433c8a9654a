import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import type http from 'node:http';
import path from 'node:path';
import { BadRequest } from './query-params';
import type { LiveFeed } from './live-feed';
import type { UiQueries } from './ui-queries';

/** Where `npm run build` puts the bundled UI: dist/ui, next to dist/indexer. */
export const DEFAULT_UI_DIR = path.join(__dirname, '..', '..', 'ui');

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.map': 'application/json',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
};

export type JsonReply = { status: number; body: string };

const HOUR = 3_600_000;

/** Reads a duration in milliseconds from a query parameter (Jaeger's dependencies API uses ms). */
function millis(params: URLSearchParams, name: string, fallback: number, max = 30 * 24 * HOUR): number {
  const raw = params.get(name);
  if (raw === null || raw === '') return fallback;
  if (!/^\d{1,15}$/.test(raw))
    throw new BadRequest(`parameter ${name} must be milliseconds (an integer), got ${JSON.stringify(raw.slice(0, 40))}`);
  const v = Number(raw);
  if (v > max && name !== 'endTs') throw new BadRequest(`parameter ${name} must be at most ${max} ms`);
  return v;
}

/**
 * The web UI on the query API's port: the bundle from `npm run build` (read once at start, so
 * serving is a memory copy), the live event stream, and the JSON reads the pages need beyond
 * Jaeger's API (overview, alerts) plus Jaeger's `GET /api/dependencies`.
 */
export class UiServer {
  private readonly files = new Map<string, { type: string; body: Buffer }>();

  constructor(
    private readonly queries: UiQueries,
    private readonly live: LiveFeed | undefined,
    uiDir: string,
  ) {
    if (!existsSync(uiDir)) return;
    for (const name of readdirSync(uiDir)) {
      const file = path.join(uiDir, name);
      if (!statSync(file).isFile()) continue;
      this.files.set(`/${name}`, { type: TYPES[path.extname(name)] ?? 'application/octet-stream', body: readFileSync(file) });
    }
  }

  get hasBundle(): boolean {
    return this.files.has('/index.html');
  }

  /** Static files and the event stream, served outside the query concurrency limit. True when answered. */
  serveDirect(path: string, req: http.IncomingMessage, res: http.ServerResponse): boolean {
    if (path === '/api/ui/live') {
      if (!this.live) {
        res.writeHead(404, { 'content-type': 'text/plain' });
        res.end('live feed off\n');
        return true;
      }
      this.live.attach(req, res);
      return true;
    }
    if (path.startsWith('/api/')) return false;
    const file = this.files.get(path === '/' ? '/index.html' : path);
    if (!file) {
      const body = this.hasBundle ? 'not found\n' : 'UI bundle missing: run npm run build (it writes dist/ui)\n';
      res.writeHead(404, { 'content-type': 'text/plain; charset=utf-8' });
      res.end(body);
      return true;
    }
    res.writeHead(200, {
      'content-type': file.type,
      'content-length': file.body.length,
      'cache-control': 'no-cache',
      'x-content-type-options': 'nosniff',
    });
    res.end(file.body);
    return true;
  }

  /** The UI's JSON routes; undefined for a path that is not one of them. */
  async answer(path: string, params: URLSearchParams): Promise<JsonReply | undefined> {
    switch (path) {
      case '/api/ui/overview': {
        const series = await this.queries.overview(millis(params, 'lookback', HOUR, 24 * HOUR));
        return { status: 200, body: JSON.stringify({ data: series, serverTime: Date.now() }) };
      }
      case '/api/ui/alerts':
        return {
          status: 200,
          body: JSON.stringify({ data: await this.queries.alerts(millis(params, 'lookback', 24 * HOUR, 7 * 24 * HOUR)) }),
        };
      case '/api/dependencies': {
        const end = millis(params, 'endTs', Date.now());
        const deps = await this.queries.dependencies(end, millis(params, 'lookback', HOUR));
        return {
          status: 200,
          body: JSON.stringify({
            data: deps.links,
            total: deps.links.length,
            limit: 0,
            offset: 0,
            errors: null,
            sampledTraces: deps.sampledTraces,
            sampledSpans: deps.sampledSpans,
          }),
        };
      }
      default:
        return undefined;
    }
  }
}
