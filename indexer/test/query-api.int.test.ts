import { execFile, spawn } from 'node:child_process';
import { promisify } from 'node:util';
import { readFileSync } from 'node:fs';
import https from 'node:https';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { freePort, selfSignedCert, TestContext, waitFor } from '../../shared/testing';
import { dailyIndex, NormalizedSpan, spanDocId } from '../../shared/src';
import { INDEXER_MAIN, indexerSetup, makeSpans, metricValue, spawnIndexer, startIndexer } from './helpers';

const execFileAsync = promisify(execFile);

type JTrace = { traceID: string; spans: { spanID: string }[]; warnings: string[] | null };

/** Writes spans straight into the test's daily indices (the query API is under test here, not the consume path). */
async function loadSpans(ctx: TestContext, prefix: string, spans: NormalizedSpan[]): Promise<void> {
  const es = ctx.es();
  for (let i = 0; i < spans.length; i += 5000) {
    const operations = spans
      .slice(i, i + 5000)
      .flatMap((s) => [{ index: { _index: dailyIndex(prefix, 'traces', s.startTime), _id: spanDocId(s) } }, s]);
    const res = await es.bulk({ operations, refresh: false });
    if (res.errors) throw new Error('bulk load failed');
  }
  await es.indices.refresh({ index: `${prefix}-traces-*` });
}

/** Whether a TCP connection to host:port is accepted. */
function connects(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const sock = net.connect({ host, port, timeout: 3000 });
    sock.once('connect', () => {
      sock.destroy();
      resolve(true);
    });
    sock.once('error', () => resolve(false));
    sock.once('timeout', () => {
      sock.destroy();
      resolve(false);
    });
  });
}

const nonLoopbackIPv4 = () =>
  Object.values(os.networkInterfaces())
    .flat()
    .find((a) => a && a.family === 'IPv4' && !a.internal)?.address;

/** A span of about 1 KB, like an instrumented HTTP call. */
function padded(spans: NormalizedSpan[]): NormalizedSpan[] {
  for (const s of spans) {
    Object.assign(s.attributes, {
      'http.method': 'GET',
      'http.url': `https://shop.example/api/v1/items/${s.spanId}?page=3&size=50`,
      'http.status_code': 200,
      'user_agent.original': 'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36',
      'db.statement': `SELECT id, name, price, stock FROM items WHERE category_id = $1 AND id > $2 ORDER BY id LIMIT 50 -- ${s.spanId}`,
      'net.peer.name': 'items-db.internal',
      'thread.name': 'worker-17',
    });
  }
  return spans;
}

describe('query API on the real Elasticsearch', () => {
  const ctx = new TestContext();
  afterAll(() => ctx.cleanup());

  it("binds the query API and /metrics to loopback by default: reachable on 127.0.0.1, refused on the machine's other address", async () => {
    const { env } = await indexerSetup(ctx);
    const svc = await startIndexer(ctx, env);
    const { query, ops } = svc.addresses();
    expect(query?.address).toBe('127.0.0.1');
    expect(ops?.address).toBe('127.0.0.1');
    expect((await fetch(`http://127.0.0.1:${query!.port}/api/services`)).status).toBe(200);
    expect((await fetch(`http://127.0.0.1:${ops!.port}/healthz`)).status).toBe(200);
    const other = nonLoopbackIPv4();
    if (other) {
      expect(await connects(other, query!.port)).toBe(false);
      expect(await connects(other, ops!.port)).toBe(false);
    }
  });

  it('logs no password of an Elasticsearch URL with userinfo, nor the query token, at start', async () => {
    const [queryPort, opsPort] = [await freePort(), await freePort()];
    const es = new URL(ctx.cfg.esNode);
    es.username = 'elastic';
    es.password = 'hunter2-in-url';
    const { env } = await indexerSetup(ctx, {
      MPLP_ES_URL: es.href,
      MPLP_LOG_LEVEL: 'info',
      MPLP_INDEXER_QUERY_TOKEN: 'token-not-for-logs',
      MPLP_INDEXER_QUERY_PORT: String(queryPort),
      MPLP_INDEXER_HTTP_PORT: String(opsPort),
    });
    const child = spawn(process.execPath, [INDEXER_MAIN], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    ctx.defer(() => {
      if (child.exitCode === null) child.kill('SIGKILL');
    });
    let out = '';
    child.stdout!.on('data', (c) => {
      out += c;
    });
    child.stderr!.on('data', (c) => {
      out += c;
    });
    await waitFor('indexer ready logged', () => out.includes('indexer ready'), { timeoutMs: 60_000 });
    expect(out).toContain('starting indexer');
    expect(out).toContain('[redacted]@');
    expect(out).not.toContain('hunter2-in-url');
    expect(out).not.toContain('token-not-for-logs');
  });

  it('with a token set, refuses requests without it or with a wrong one (401); serves HTTPS with the configured certificate', async () => {
    const { cert, key } = selfSignedCert(ctx);
    const token = 'correct-horse-battery-staple';
    const { env } = await indexerSetup(ctx, {
      MPLP_INDEXER_QUERY_TOKEN: token,
      MPLP_INDEXER_QUERY_TLS_CERT_FILE: cert,
      MPLP_INDEXER_QUERY_TLS_KEY_FILE: key,
    });
    const svc = await startIndexer(ctx, env);
    const ca = readFileSync(cert);
    const get = (headers: Record<string, string>) =>
      new Promise<{ status: number; body: string; wwwAuth?: string }>((resolve, reject) => {
        https
          .get({ host: '127.0.0.1', port: svc.queryPort(), path: '/api/services', ca, headers }, (res) => {
            let body = '';
            res.on('data', (c) => {
              body += c;
            });
            res.on('end', () => resolve({ status: res.statusCode!, body, wwwAuth: res.headers['www-authenticate'] as string | undefined }));
          })
          .on('error', reject);
      });
    const none = await get({});
    expect(none.status).toBe(401);
    expect(none.wwwAuth).toMatch(/^Bearer/);
    expect(JSON.parse(none.body).errors[0].msg).toMatch(/bearer token/);
    expect((await get({ authorization: 'Bearer wrong' })).status).toBe(401);
    expect((await get({ authorization: `Bearer ${token}x` })).status).toBe(401);
    expect((await get({ authorization: `Basic ${token}` })).status).toBe(401);
    expect((await get({ authorization: `Bearer ${token}` })).status).toBe(200);
    // The CLI reads the URL and the token from the indexer's settings and trusts the CA Node is given.
    // (Asynchronously: the API under test runs in this process.)
    const cli = async (token: string) =>
      (
        await execFileAsync(process.execPath, [path.join(__dirname, '..', 'src', 'cli.js'), 'services'], {
          env: {
            ...process.env,
            MPLP_INDEXER_QUERY_URL: `https://127.0.0.1:${svc.queryPort()}`,
            MPLP_INDEXER_QUERY_TOKEN: token,
            NODE_EXTRA_CA_CERTS: cert,
          },
          encoding: 'utf8',
        })
      ).stdout;
    expect(await cli(token)).toBe('');
    await expect(cli('wrong')).rejects.toThrow(/missing or wrong bearer token/);
    // Plain HTTP is not served on the TLS port.
    await expect(
      fetch(`http://127.0.0.1:${svc.queryPort()}/api/services`, { headers: { authorization: `Bearer ${token}` } }),
    ).rejects.toThrow();
  });

  it('answers every bad parameter with 400 and a message, never 500', async () => {
    const { prefix, env } = await indexerSetup(ctx);
    const svc = await startIndexer(ctx, env);
    const spans = makeSpans(3, 4);
    await loadSpans(ctx, prefix, spans);
    const base = `http://127.0.0.1:${svc.queryPort()}`;
    const good = await fetch(
      `${base}/api/traces?service=svc-0&limit=2&minDuration=1us&maxDuration=1s&start=1&end=${Date.now() * 1000 + 1e9}&tags=${encodeURIComponent('{"n":0}')}`,
    );
    expect(good.status).toBe(200);
    expect(((await good.json()) as { data: unknown[] }).data).toHaveLength(2);
    const bad = [
      '/api/traces',
      '/api/traces?service=svc-0&limit=abc',
      '/api/traces?service=svc-0&limit=0',
      '/api/traces?service=svc-0&limit=1.5',
      '/api/traces?service=svc-0&limit=100000',
      '/api/traces?service=svc-0&minDuration=fast',
      '/api/traces?service=svc-0&maxDuration=12',
      '/api/traces?service=svc-0&minDuration=2s&maxDuration=1s',
      '/api/traces?service=svc-0&start=yesterday',
      '/api/traces?service=svc-0&end=-1',
      '/api/traces?service=svc-0&start=2000000&end=1000000',
      '/api/traces?service=svc-0&tags=notjson',
      '/api/traces?service=svc-0&tags=%5B1%5D',
      `/api/traces?service=svc-0&tags=${encodeURIComponent('{"a":{"b":1}}')}`,
      `/api/traces?service=svc-0&tags=${encodeURIComponent('{"a*":"x"}')}`,
      '/api/traces?service=svc-0&tag=novalue',
      '/api/traces/not-hex',
      `/api/traces/${'a'.repeat(33)}`,
      '/api/services/%E0%A4%A/operations',
      '/api/operations',
    ];
    for (const url of bad) {
      const res = await fetch(base + url);
      const body = (await res.json()) as { errors: { code: number; msg: string }[] };
      expect({ url, status: res.status }).toEqual({ url, status: 400 });
      expect(body.errors[0].msg.length).toBeGreaterThan(5);
    }
    expect((await fetch(`${base}/api/traces/${'f'.repeat(32)}`)).status).toBe(404);
  });

  it("caps a 50,000-span trace at the spans-per-response limit with a warning, shares a search's spans, answers 429 past the concurrency cap, with bounded RSS", async () => {
    const [queryPort, opsPort] = [await freePort(), await freePort()];
    const { prefix, env } = await indexerSetup(ctx, {
      MPLP_INDEXER_QUERY_PORT: String(queryPort),
      MPLP_INDEXER_HTTP_PORT: String(opsPort),
      MPLP_INDEXER_QUERY_MAX_CONCURRENT: '2',
    });
    const big = padded(makeSpans(1, 50_000));
    for (const s of big) s.service = 'svc-0';
    const small = padded(makeSpans(4, 10));
    for (const s of small) s.service = 'svc-0';
    await loadSpans(ctx, prefix, [...big, ...small]);
    const child = spawnIndexer(ctx, env);
    const base = `http://127.0.0.1:${queryPort}`;
    await waitFor('query API up', async () => (await fetch(`${base}/api/services`).catch(() => undefined))?.ok, { timeoutMs: 60_000 });
    const rss = () => metricValue(opsPort, 'mplp_process_resident_memory_bytes');
    const before = await rss();
    let peak = before;
    let sampling = true;
    const sampler = (async () => {
      while (sampling) {
        peak = Math.max(peak, await rss().catch(() => 0));
        await new Promise((r) => setTimeout(r, 50));
      }
    })();
    ctx.defer(async () => {
      sampling = false;
      await sampler;
    });

    const traceId = big[0].traceId;
    const answers = await Promise.all(
      [1, 2].map(async () => {
        const res = await fetch(`${base}/api/traces/${traceId}`);
        return { status: res.status, body: (await res.json()) as { data: JTrace[] } };
      }),
    );
    for (const { status, body } of answers) {
      expect({ status, errors: (body as { errors?: unknown }).errors }).toEqual({ status: 200, errors: null });
      const t = body.data[0];
      expect(t.spans).toHaveLength(20_000);
      expect(t.spans[0].spanID).toBe(big[0].spanId);
      expect(t.warnings![0]).toMatch(/trace truncated: it has 50000 spans, shown are the first 20000 by start time/);
    }

    const search = await fetch(`${base}/api/traces?service=svc-0&limit=20`);
    const found = ((await search.json()) as { data: JTrace[] }).data;
    expect(found).toHaveLength(5);
    const spansInSearch = found.reduce((n, t) => n + t.spans.length, 0);
    expect(spansInSearch).toBeLessThanOrEqual(20_000);
    for (const t of found.filter((x) => x.traceID !== traceId)) {
      expect(t.spans).toHaveLength(10);
      expect(t.warnings).toBeNull();
    }
    expect(found.find((x) => x.traceID === traceId)!.warnings![0]).toMatch(
      /it has 50000 spans.*a search response holds at most 20000 spans/,
    );
    expect((await fetch(`${base}/api/traces?service=svc-0&limit=101`)).status).toBe(400);

    const burst = await Promise.all(Array.from({ length: 6 }, () => fetch(`${base}/api/traces?service=svc-0&limit=20`)));
    const statuses = burst.map((r) => r.status);
    await Promise.all(burst.map((r) => r.arrayBuffer()));
    expect(statuses.every((s) => s === 200 || s === 429)).toBe(true);
    expect(statuses.filter((s) => s === 429).length).toBeGreaterThanOrEqual(1);
    expect(statuses).toContain(200);
    expect(burst.find((r) => r.status === 429)!.headers.get('retry-after')).toBe('1');

    sampling = false;
    await sampler;
    const mb = (n: number) => Math.round(n / 2 ** 20);
    console.log(
      `query API RSS: ${mb(before)} MB idle, ${mb(peak)} MB peak over two 50,000-span trace reads, a search and a burst of 6 (cap 20,000 spans/response)`,
    );
    expect(peak - before).toBeLessThan(400 * 2 ** 20);
    expect(child.exitCode).toBeNull();
  });
});
