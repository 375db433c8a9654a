import http from 'node:http';
import { AddressInfo } from 'node:net';
import { Registry, collectDefaultMetrics } from 'prom-client';

export interface OpsServerOptions {
  port: number;
  /** Listen address (MPLP_HTTP_HOST); loopback when not given, so nothing is exposed by accident. */
  host?: string;
  registry: Registry;
  /** Ready when every dependency is reachable and the consumer has joined its group. */
  ready: () => boolean | Promise<boolean>;
  /** Extra routes (e.g. the indexer's query API) tried before 404. Return true when handled. */
  routes?: (req: http.IncomingMessage, res: http.ServerResponse) => boolean | Promise<boolean>;
}

/** Creates a registry with the Node process metrics every worker exports. */
export function createRegistry(prefix = 'mplp_'): Registry {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix });
  return registry;
}

/** /healthz (process alive), /readyz (dependencies ok), /metrics (Prometheus text). */
export class OpsServer {
  private server?: http.Server;
  constructor(private readonly opts: OpsServerOptions) {}

  async start(): Promise<number> {
    this.server = http.createServer((req, res) => {
      void this.handle(req, res);
    });
    this.server.keepAliveTimeout = 5_000;
    await new Promise<void>((resolve, reject) => {
      this.server!.once('error', reject);
      this.server!.listen(this.opts.port, this.opts.host ?? '127.0.0.1', () => resolve());
    });
    return (this.server.address() as AddressInfo).port;
  }

  /** The address and port bound, once started. */
  address(): AddressInfo | undefined {
    return (this.server?.address() as AddressInfo | null) ?? undefined;
  }

  private async handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const path = (req.url ?? '/').split('?')[0];
    try {
      if (path === '/healthz') return send(res, 200, 'text/plain', 'ok\n');
      if (path === '/readyz') {
        const ok = await this.opts.ready();
        return send(res, ok ? 200 : 503, 'text/plain', ok ? 'ready\n' : 'not ready\n');
      }
      if (path === '/metrics') {
        return send(res, 200, this.opts.registry.contentType, await this.opts.registry.metrics());
      }
      if (this.opts.routes && (await this.opts.routes(req, res))) return;
      send(res, 404, 'application/json', JSON.stringify({ error: 'not found' }));
    } catch (err) {
      if (!res.headersSent) send(res, 500, 'application/json', JSON.stringify({ error: (err as Error).message }));
      else res.end();
    }
  }

  async stop(): Promise<void> {
    const s = this.server;
    if (!s) return;
    this.server = undefined;
    await new Promise<void>((resolve) => {
      s.close(() => resolve());
      s.closeAllConnections();
    });
  }
}

export function send(res: http.ServerResponse, status: number, contentType: string, body: string): void {
  res.writeHead(status, { 'content-type': contentType, 'content-length': Buffer.byteLength(body) });
  res.end(body);
}
