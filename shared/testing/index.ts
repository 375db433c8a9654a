/**
 * Helpers for integration tests against the real local cluster. Each test gets fresh topic and
 * index names, clients made by the project's own factories, and cleanup registered for it.
 * Wait on conditions with a deadline, never on sleeps.
 */
import { randomBytes } from 'node:crypto';
import { execFileSync, spawn, ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { workerNodeArgs } from '../../scripts/worker-node-flags';
import { Partitioners } from 'kafkajs';
import type { Admin, Consumer, Kafka, Producer, EachMessagePayload } from 'kafkajs';
import type { Client } from '@elastic/elasticsearch';
import type { S3Client } from '@aws-sdk/client-s3';
import { createElasticsearch, createKafka, createS3, ensureTopics, loadConfig, sharedSchema, SharedConfig } from '../src';

export * from './network';

/** Shared settings as the tests see them: defaults plus whatever MPLP_* the environment sets. */
export function testConfig(overrides: Partial<SharedConfig> = {}): SharedConfig {
  return { ...loadConfig(sharedSchema, process.env), ...overrides };
}

/** A short unique suffix: fresh topic/index/bucket-key names per test. */
export function uniqueName(base: string): string {
  return `${base}-${Date.now().toString(36)}-${randomBytes(3).toString('hex')}`;
}

export async function waitFor<T>(
  what: string,
  check: () => Promise<T | undefined | false> | T | undefined | false,
  { timeoutMs = 30_000, intervalMs = 100 } = {},
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await check();
      if (v !== undefined && v !== false) return v as T;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) {
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${last ? `: ${(last as Error).message}` : ''}`);
    }
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}

type Cleanup = () => Promise<unknown> | unknown;

const OUTPUT_TAIL_BYTES = 8 * 1024;
const outputTails = new WeakMap<ChildProcess, string>();

/** The last bytes a process from `spawnProcess` wrote (stdout and stderr), for a failing test's message. */
export function outputOf(child: ChildProcess): string {
  return outputTails.get(child) ?? '';
}

/** Collects cleanups; call `await ctx.cleanup()` in afterEach/afterAll. LIFO, errors ignored. */
export class TestContext {
  private cleanups: Cleanup[] = [];
  readonly cfg: SharedConfig;
  constructor(overrides: Partial<SharedConfig> = {}) {
    this.cfg = testConfig(overrides);
  }

  defer(fn: Cleanup): void {
    this.cleanups.push(fn);
  }

  async cleanup(): Promise<void> {
    while (this.cleanups.length) {
      const fn = this.cleanups.pop()!;
      try {
        await fn();
      } catch {
        /* best effort */
      }
    }
  }

  kafka(suffix = 'test'): Kafka {
    return createKafka(this.cfg, suffix);
  }

  async admin(): Promise<Admin> {
    const a = this.kafka('test-admin').admin();
    await a.connect();
    this.defer(() => a.disconnect());
    return a;
  }

  /** Creates fresh topics (deleted at cleanup) and returns their names in order. */
  async topics(bases: string[], numPartitions = 3): Promise<string[]> {
    const admin = await this.admin();
    const names = bases.map((b) => uniqueName(`test.${b}`));
    await ensureTopics(
      admin,
      names.map((topic) => ({ topic, numPartitions, replicationFactor: 1 })),
    );
    this.defer(async () => {
      const a = this.kafka('test-admin').admin();
      await a.connect();
      await a.deleteTopics({ topics: names }).catch(() => undefined);
      await a.disconnect();
    });
    return names;
  }

  async producer(opts: Parameters<Kafka['producer']>[0] = {}): Promise<Producer> {
    const p = this.kafka('test-producer').producer({
      allowAutoTopicCreation: false,
      createPartitioner: Partitioners.DefaultPartitioner,
      ...opts,
    });
    await p.connect();
    this.defer(() => p.disconnect());
    return p;
  }

  /** Reads a topic from the beginning into an array the test can wait on. */
  async collect(topic: string): Promise<{ messages: EachMessagePayload['message'][]; consumer: Consumer }> {
    const consumer = this.kafka('test-consumer').consumer({ groupId: uniqueName('test-group') });
    await consumer.connect();
    this.defer(() => consumer.disconnect());
    await consumer.subscribe({ topic, fromBeginning: true });
    const messages: EachMessagePayload['message'][] = [];
    await consumer.run({
      eachMessage: async ({ message }) => {
        messages.push(message);
      },
    });
    return { messages, consumer };
  }

  /** Runs a worker's compiled main.js as its own OS process (so a test can kill -9 it); killed at cleanup. */
  spawnProcess(mainJs: string, env: Record<string, string>): ChildProcess {
    const child = spawn(process.execPath, workerNodeArgs(mainJs), { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    const keep = (b: Buffer) => outputTails.set(child, ((outputTails.get(child) ?? '') + b.toString()).slice(-OUTPUT_TAIL_BYTES));
    child.stdout!.on('data', keep);
    child.stderr!.on('data', keep);
    this.defer(() => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    });
    return child;
  }

  es(): Client {
    const c = createElasticsearch(this.cfg);
    this.defer(() => c.close());
    return c;
  }

  /** A fresh index prefix; every index under it is deleted at cleanup. */
  indexPrefix(base = 'test'): string {
    const prefix = uniqueName(base).toLowerCase();
    this.defer(async () => {
      const c = createElasticsearch(this.cfg);
      await c.indices.delete({ index: `${prefix}-*`, ignore_unavailable: true, allow_no_indices: true } as never).catch(() => undefined);
      await c.indices.deleteIndexTemplate({ name: `${prefix}-*` }).catch(() => undefined);
      await c.close();
    });
    return prefix;
  }

  s3(): S3Client {
    const c = createS3(this.cfg);
    this.defer(() => c.destroy());
    return c;
  }
}

/** A self-signed certificate for 127.0.0.1 made by openssl for one test (removed at cleanup): PEM file paths. */
export function selfSignedCert(ctx: TestContext): { cert: string; key: string } {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'mplp-tls-'));
  ctx.defer(() => rmSync(dir, { recursive: true, force: true }));
  const cert = path.join(dir, 'cert.pem');
  const key = path.join(dir, 'key.pem');
  const subject = ['-subj', '/CN=localhost', '-addext', 'subjectAltName=IP:127.0.0.1'];
  execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', key, '-out', cert, '-days', '1', ...subject], {
    stdio: 'ignore',
  });
  return { cert, key };
}

/** Waits for a spawned process to exit: its exit code and the lines it wrote to stderr (attach before it can exit). */
export async function exitOf(child: ChildProcess): Promise<{ code: number | null; stderrLines: string[] }> {
  let stderr = '';
  child.stderr?.on('data', (d: Buffer) => {
    stderr += d.toString();
  });
  const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
  return { code, stderrLines: stderr.trim().split('\n') };
}
