import { execFile } from 'node:child_process';
import http from 'node:http';
import { AddressInfo } from 'node:net';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { freePort, TestContext, uniqueName } from '../../shared/testing';
import type { AlertRecord } from '../src/alert-record';

const run = promisify(execFile);
const script = path.resolve(__dirname, '../../../scripts/cluster/alertmanager.sh');

/** A real Alertmanager of its own (scripts/cluster/alertmanager.sh with a fresh directory and port). */
export class TestAlertmanager {
  readonly dir = mkdtempSync(path.join(os.tmpdir(), 'mplp-am-'));
  constructor(readonly port: number) {}
  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }
  private env() {
    return { ...process.env, MPLP_CLUSTER_DIR: this.dir, MPLP_ALERTMANAGER_PORT: String(this.port) };
  }
  async start(): Promise<void> {
    await run('bash', [script, 'start'], { env: this.env() });
  }
  async stop(): Promise<void> {
    await run('bash', [script, 'stop'], { env: this.env() });
  }
  async remove(): Promise<void> {
    await this.stop().catch(() => undefined);
    rmSync(this.dir, { recursive: true, force: true });
  }

  /** GET /api/v2/alerts (Alertmanager lists only alerts not resolved) of one rule. */
  async alerts(ruleId: string): Promise<
    {
      labels: Record<string, string>;
      annotations: Record<string, string>;
      startsAt: string;
      endsAt: string;
      updatedAt: string;
      status: { state: string };
    }[]
  > {
    const res = await fetch(`${this.url}/api/v2/alerts?filter=${encodeURIComponent(`rule="${ruleId}"`)}`);
    if (!res.ok) throw new Error(`alertmanager answered ${res.status}`);
    return (await res.json()) as never;
  }
}

export interface Received {
  headers: http.IncomingHttpHeaders;
  body: string;
  at: number;
}

/** A local HTTP server that records every request and answers `status` after `delayMs` (both changeable). */
export async function recordingServer(
  status = 200,
): Promise<{ url: string; received: Received[]; setStatus(s: number): void; setDelay(ms: number): void; close(): Promise<void> }> {
  const received: Received[] = [];
  let answer = status;
  let delayMs = 0;
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      received.push({ headers: req.headers, body: Buffer.concat(chunks).toString('utf8'), at: Date.now() });
      const status = answer;
      setTimeout(() => {
        res.writeHead(status, { 'content-type': 'application/json' });
        res.end('{}');
      }, delayMs);
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/hook`,
    received,
    setStatus: (s) => {
      answer = s;
    },
    setDelay: (ms) => {
      delayMs = ms;
    },
    close: () =>
      new Promise<void>((r) => {
        server.close(() => r());
        server.closeAllConnections();
      }),
  };
}

/** A record of `mplp.alerts` in the aggregator's shape (aggregator/src/alert-evaluator.ts AlertChange). */
export function alertRecord(
  ruleId: string,
  service: string,
  state: 'firing' | 'resolved',
  windowEnd: Date,
  extra: Partial<AlertRecord> = {},
): AlertRecord {
  const seriesKey = `${service}|GET /pay|SERVER`;
  const we = windowEnd.toISOString();
  return {
    id: `${ruleId}|${seriesKey}|${we}|${state}`,
    ruleId,
    state,
    series: { key: seriesKey, service, operation: 'GET /pay', kind: 'SERVER' },
    metric: 'latencyMs.p99',
    comparison: '>',
    value: state === 'firing' ? 420 : 80,
    threshold: 250,
    forSeconds: 30,
    windowEnd: we,
    evaluatedAt: new Date().toISOString(),
    ...extra,
  };
}

/**
 * What every notifier integration test needs, with its cleanup registered: a fresh alerts topic,
 * an Alertmanager of its own, a webhook recording server answering 200, and fresh names for the
 * notifier's state and dead-letter topics (deleted at cleanup; the notifier creates them).
 */
export async function notifierRig(ctx: TestContext) {
  const [alerts] = await ctx.topics(['alerts']);
  const am = new TestAlertmanager(await freePort());
  ctx.defer(() => am.remove());
  await am.start();
  const hook = await recordingServer(200);
  ctx.defer(() => hook.close());
  const stateTopic = uniqueName('test.notifier.state');
  const dlqTopic = uniqueName('test.notifier.dlq');
  ctx.defer(async () => {
    const a = await ctx.admin();
    await a.deleteTopics({ topics: [stateTopic, dlqTopic] }).catch(() => undefined);
  });
  return { alerts, am, hook, stateTopic, dlqTopic };
}
