/**
 * The processes of a pipeline bench run: the workers, each its own OS process started the way
 * `npm start` starts them (node, the worker's flags, dist/<worker>/src/main.js, configured only by MPLP_* settings),
 * the load generators (forked, see load.ts), and the cluster's Kafka and Elasticsearch, found by
 * the pid files the cluster scripts write (never started or stopped here).
 */
import { ChildProcess, fork, spawn } from 'node:child_process';
import { createWriteStream, existsSync, readdirSync, readFileSync, readlinkSync } from 'node:fs';
import path from 'node:path';
import { workerNodeFlags } from '../../scripts/worker-node-flags';
import type { LoadCommand, LoadReport } from './load';

/** The repository root, from dist/bench/pipeline. */
export const ROOT = path.resolve(__dirname, '..', '..', '..');

/** A process whose CPU and memory the bench measures. */
export interface Measured {
  name: string;
  pid: number;
}

export class WorkerProcess implements Measured {
  private exited: Promise<number | null>;
  private constructor(
    readonly name: string,
    readonly child: ChildProcess,
    readonly httpPort: number,
    readonly logFile: string,
  ) {
    this.exited = new Promise((resolve) => child.once('exit', (code, signal) => resolve(code ?? (signal ? -1 : null))));
  }

  get pid(): number {
    return this.child.pid!;
  }

  /** Starts dist/<worker>/src/main.js with its node flags and `env`, its stdout and stderr appended to `logFile`. */
  static start(worker: string, env: NodeJS.ProcessEnv, httpPort: number, logFile: string): WorkerProcess {
    const log = createWriteStream(logFile, { flags: 'a' });
    const child = spawn(process.execPath, [...workerNodeFlags(worker), path.join(ROOT, 'dist', worker, 'src', 'main.js')], {
      env,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    child.stdout!.pipe(log);
    child.stderr!.pipe(log);
    return new WorkerProcess(worker, child, httpPort, logFile);
  }

  /** Waits until /readyz answers 200; fails naming the log file if the process exits or the deadline passes. */
  async ready(timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    let gone = false;
    void this.exited.then(() => (gone = true));
    while (Date.now() < deadline) {
      if (gone) throw new Error(`${this.name} exited during start (log: ${this.logFile})`);
      const ok = await fetch(`http://127.0.0.1:${this.httpPort}/readyz`, { signal: AbortSignal.timeout(2000) }).then(
        (r) => r.ok,
        () => false,
      );
      if (ok) return;
      await new Promise((r) => setTimeout(r, 250));
    }
    throw new Error(`${this.name} not ready after ${timeoutMs / 1000} s (log: ${this.logFile})`);
  }

  /** SIGTERM, then SIGKILL if it has not exited by the deadline. Resolves to the exit code. */
  async stop(deadlineMs = 45_000): Promise<number | null> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return this.child.exitCode;
    this.child.kill('SIGTERM');
    const timer = setTimeout(() => this.child.kill('SIGKILL'), deadlineMs);
    const code = await this.exited;
    clearTimeout(timer);
    return code;
  }
}

/** Forks bench/pipeline/load.js with an IPC channel (the load generator's controls and reports). */
export function forkLoad(env: NodeJS.ProcessEnv, index: number): ChildProcess {
  return fork(path.join(__dirname, 'load.js'), [String(index)], { env, stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
}

/**
 * The pid of a cluster server: the pid file the cluster scripts keep in
 * $MPLP_CLUSTER_DIR/<service>/pid, else the process listening on its port (a cluster started
 * from another checkout, or by hand). Undefined when neither finds a live process.
 */
export function clusterPid(clusterDir: string, service: string, port: number): number | undefined {
  const file = path.join(clusterDir, service, 'pid');
  if (existsSync(file)) {
    const pid = Number(readFileSync(file, 'utf8').trim());
    if (pid > 0 && existsSync(`/proc/${pid}/stat`)) return pid;
  }
  return listenerPid(port);
}

/** The process listening on a TCP port, from /proc/net/tcp{,6} and the socket links under /proc/<pid>/fd. */
export function listenerPid(port: number): number | undefined {
  const inodes = new Set<string>();
  for (const table of ['/proc/net/tcp', '/proc/net/tcp6']) {
    if (!existsSync(table)) continue;
    for (const line of readFileSync(table, 'utf8').split('\n').slice(1)) {
      const f = line.trim().split(/\s+/);
      // local_address is ADDR:PORT in hex; state 0A is LISTEN; the inode is the 10th field.
      if (f.length > 9 && f[3] === '0A' && parseInt(f[1].split(':')[1], 16) === port) inodes.add(f[9]);
    }
  }
  if (!inodes.size) return undefined;
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    let fds: string[];
    try {
      fds = readdirSync(`/proc/${entry}/fd`);
    } catch {
      continue; // gone, or not ours to read
    }
    for (const fd of fds) {
      try {
        const m = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/${entry}/fd/${fd}`));
        if (m && inodes.has(m[1])) return Number(entry);
      } catch {
        // the fd closed while we looked
      }
    }
  }
  return undefined;
}

/** The load generator processes, driven as one: the offered rate is split evenly between them. */
export class LoadFleet {
  private readonly acked: number[];
  private readonly done: Promise<void>[];

  private constructor(
    readonly children: ChildProcess[],
    onSample: (spanId: string, ackedAt: number) => void,
  ) {
    this.acked = children.map(() => 0);
    this.done = children.map(
      (c, i) =>
        new Promise<void>((resolve, reject) => {
          c.on('message', (m: LoadReport) => {
            if (m.kind === 'progress' || m.kind === 'done') this.acked[i] = Math.max(this.acked[i], m.acked);
            if (m.kind === 'progress') for (const [id, at] of m.samples) onSample(id, at);
          });
          c.once('exit', (code) => (code === 0 ? resolve() : reject(new Error(`load generator ${i} exited with ${code}`))));
        }),
    );
    // A generator dying mid-run fails the step that reads its numbers; this keeps it from being unhandled.
    for (const d of this.done) d.catch(() => undefined);
  }

  /** Forks `count` generators and waits until each has its Kafka producer connected. */
  static async start(count: number, env: NodeJS.ProcessEnv, onSample: (spanId: string, ackedAt: number) => void): Promise<LoadFleet> {
    const children = Array.from({ length: count }, (_, i) => forkLoad(env, i));
    await Promise.all(
      children.map(
        (c, i) =>
          new Promise<void>((resolve, reject) => {
            c.on('message', (m: LoadReport) => m.kind === 'ready' && resolve());
            c.once('exit', (code) => reject(new Error(`load generator ${i} exited with ${code} during start`)));
          }),
      ),
    );
    return new LoadFleet(children, onSample);
  }

  get measured(): Measured[] {
    return this.children.map((c, i) => ({ name: this.children.length > 1 ? `load generator ${i + 1}` : 'load generator', pid: c.pid! }));
  }

  /** Spans acknowledged by Kafka so far, all generators. */
  get ackedSpans(): number {
    return this.acked.reduce((a, b) => a + b, 0);
  }

  setRate(spansPerSecond: number): void {
    for (const c of this.children) c.send({ rate: spansPerSecond / this.children.length } satisfies LoadCommand);
  }

  async stop(): Promise<void> {
    for (const c of this.children) if (c.connected) c.send({ stop: true } satisfies LoadCommand);
    await Promise.all(this.done);
  }
}
