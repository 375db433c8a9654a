import { spawn, ChildProcess } from 'node:child_process';
import path from 'node:path';
import type { TestContext } from '../../shared/testing';
import type { WindowRecord } from '../src/window-record';
import { workerNodeArgs } from '../../scripts/worker-node-flags';

/** The aggregator's compiled entry point, for tests that run it as its own OS process. */
export const MAIN = path.join(__dirname, '..', 'src', 'main.js');

export interface TestTopics {
  validated: string;
  metrics: string;
  alerts: string;
}

export async function setupTopics(ctx: TestContext, partitions = 3): Promise<TestTopics> {
  const [validated, metrics, alerts] = await ctx.topics(['validated', 'metrics', 'alerts'], partitions);
  return { validated, metrics, alerts };
}

/** Settings of an aggregator under test: fresh group and partials topic, short timers. */
export function aggregatorEnv(t: TestTopics, group: string, extra: Record<string, string> = {}): Record<string, string> {
  return {
    MPLP_TOPIC_VALIDATED: t.validated,
    MPLP_TOPIC_METRICS: t.metrics,
    MPLP_TOPIC_ALERTS: t.alerts,
    MPLP_AGGREGATOR_GROUP_ID: group,
    MPLP_AGGREGATOR_PARTIALS_TOPIC: `${group}.partials`,
    MPLP_AGGREGATOR_PARTIALS_PARTITIONS: '3',
    MPLP_AGGREGATOR_ALLOWED_LATENESS: '2s',
    MPLP_AGGREGATOR_IDLE_TIMEOUT: '1500ms',
    MPLP_AGGREGATOR_HEARTBEAT_INTERVAL: '300ms',
    // These tests write the validated topic directly: no upstream group to wait for.
    MPLP_AGGREGATOR_UPSTREAM_GROUP: '',
    MPLP_AGGREGATOR_HTTP_PORT: '0',
    MPLP_AGGREGATOR_WORKER_THREADS: '1',
    MPLP_LOG_LEVEL: 'warn',
    ...extra,
  };
}

/** The latest record of each window id. */
export function latest(messages: { value: Buffer | null }[]): Map<string, WindowRecord> {
  const out = new Map<string, WindowRecord>();
  for (const m of messages) {
    const r = JSON.parse(m.value!.toString()) as WindowRecord;
    out.set(r.id, r);
  }
  return out;
}

export function spawnAggregator(env: Record<string, string>): ChildProcess {
  return spawn(process.execPath, workerNodeArgs(MAIN), { env: { ...process.env, ...env }, stdio: ['ignore', 'ignore', 'inherit'] });
}

/** Deletes the group's partials topic (created by the aggregator) at cleanup. */
export async function deletePartials(ctx: TestContext, group: string): Promise<void> {
  ctx.defer(async () => {
    const a = ctx.kafka('cleanup').admin();
    await a.connect();
    await a.deleteTopics({ topics: [`${group}.partials`] }).catch(() => undefined);
    await a.disconnect();
  });
}

/** One gauge or counter (no labels) from a /metrics body. */
export function metricValue(body: string, name: string): number {
  const m = new RegExp(`^${name} (\\S+)`, 'm').exec(body);
  return m ? Number(m[1]) : Number.NaN;
}

export async function scrape(port: number | undefined): Promise<string> {
  return (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
}
