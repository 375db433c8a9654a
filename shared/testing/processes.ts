/**
 * Worker processes for fault tests: a worker's compiled main.js run as its own OS process that a
 * test can kill -9, stop with SIGTERM and start again, and the Kafka-side conditions to wait on
 * (a group's membership after a restart, a reader that has consumed a topic to its end).
 */
import { spawn, ChildProcess } from 'node:child_process';
import type { Admin, EachMessagePayload } from 'kafkajs';
import { TestContext, uniqueName, waitFor } from './index';
import { workerNodeArgs } from '../../scripts/worker-node-flags';

const TAIL_BYTES = 16 * 1024;

/** One worker run as an OS process; start, kill9 and term may repeat. Killed at cleanup. */
export class WorkerProcess {
  private child?: ChildProcess;
  private exited?: Promise<void>;
  /** The last bytes the process (and every earlier run of it) wrote, for a failing test's message. */
  private tail = '';
  starts = 0;

  constructor(
    ctx: TestContext,
    readonly name: string,
    private readonly mainJs: string,
    private readonly env: Record<string, string>,
  ) {
    ctx.defer(() => this.child?.kill('SIGKILL'));
  }

  get running(): boolean {
    return !!this.child && this.child.exitCode === null && this.child.signalCode === null;
  }

  start(): void {
    if (this.running) throw new Error(`${this.name} is already running`);
    const child = spawn(process.execPath, workerNodeArgs(this.mainJs), {
      env: { ...process.env, ...this.env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const keep = (b: Buffer) => {
      this.tail = (this.tail + b.toString()).slice(-TAIL_BYTES);
    };
    child.stdout!.on('data', keep);
    child.stderr!.on('data', keep);
    this.exited = new Promise((resolve) => child.once('exit', () => resolve()));
    this.child = child;
    this.starts++;
  }

  /** kill -9, resolved once the process is gone. */
  async kill9(): Promise<void> {
    await this.signal('SIGKILL', 10_000);
  }

  /** SIGTERM and wait for the clean shutdown to finish (its exit code must be 0). */
  async term(timeoutMs = 60_000): Promise<void> {
    const child = this.child;
    await this.signal('SIGTERM', timeoutMs);
    if (child?.exitCode !== 0)
      throw new Error(`${this.name} exited ${child?.exitCode ?? child?.signalCode} after SIGTERM:\n${this.output()}`);
  }

  /** What the process wrote last (stdout and stderr of all its runs). */
  output(): string {
    return this.tail;
  }

  /** The exit code of the last run, undefined while it runs. */
  exitCode(): number | string | undefined {
    return this.running ? undefined : (this.child?.exitCode ?? this.child?.signalCode ?? undefined);
  }

  /** Resolves when the current run exits by itself (a process with a fixed duration, such as the load generator). */
  async done(timeoutMs: number): Promise<void> {
    await waitFor(`${this.name} to finish`, () => !this.running, { timeoutMs, intervalMs: 200 });
  }

  private async signal(sig: NodeJS.Signals, timeoutMs: number): Promise<void> {
    if (!this.running) throw new Error(`${this.name} is not running:\n${this.output()}`);
    this.child!.kill(sig);
    const exited = this.exited!;
    await waitFor(`${this.name} to exit on ${sig}`, () => !this.running, { timeoutMs, intervalMs: 50 });
    await exited;
  }
}

/** Member ids of a consumer group once it is Stable (undefined while it rebalances). */
export async function stableMembers(admin: Admin, groupId: string): Promise<string[] | undefined> {
  const { groups } = await admin.describeGroups([groupId]);
  const g = groups[0];
  if (!g || g.state !== 'Stable') return undefined;
  return g.members.map((m) => m.memberId).sort();
}

/**
 * Waits until every group is Stable with its number of members. A worker that exits meanwhile
 * fails the wait at once with what it wrote last (nothing restarts it here). On a timeout the
 * error gives each group's states as they changed, with the seconds since the wait began.
 * Resolves with the milliseconds the wait took.
 */
export async function waitForGroups(
  admin: Admin,
  members: Record<string, number>,
  processes: WorkerProcess[],
  timeoutMs = 90_000,
): Promise<number> {
  const began = Date.now();
  const history = new Map<string, string[]>();
  const note = (groupId: string, state: string) => {
    const seen = history.get(groupId) ?? [];
    const last = seen.at(-1);
    if (!last?.endsWith(` ${state}`)) seen.push(`${((Date.now() - began) / 1000).toFixed(1)}s ${state}`);
    history.set(groupId, seen);
  };
  let exited: WorkerProcess[] = [];
  await waitFor(
    'every worker in its group',
    async () => {
      exited = processes.filter((w) => !w.running);
      if (exited.length) return true;
      const { groups } = await admin.describeGroups(Object.keys(members));
      for (const g of groups) note(g.groupId, `${g.state}/${g.members.length}`);
      const wrong = groups.filter((g) => g.state !== 'Stable' || g.members.length !== members[g.groupId]);
      if (wrong.length === 0) return true;
      throw new Error(
        wrong.map((g) => `${g.groupId} (want Stable/${members[g.groupId]}): ${history.get(g.groupId)!.join(', ')}`).join('\n'),
      );
    },
    { timeoutMs, intervalMs: 500 },
  );
  if (exited.length) {
    throw new Error(
      [
        `a worker exited while waiting for every worker in its group:`,
        ...exited.map((w) => `${w.name} exited ${w.exitCode()}:\n${w.output().slice(-4000)}`),
      ].join('\n'),
    );
  }
  return Date.now() - began;
}

/**
 * Waits until a group is Stable with `size` members and its membership differs from `before`:
 * after a restart, the dead member has expired and the new process has joined.
 */
export async function waitForRejoin(admin: Admin, groupId: string, size: number, before: string[], timeoutMs = 90_000): Promise<string[]> {
  return waitFor(
    `group ${groupId} stable with ${size} new members`,
    async () => {
      const now = await stableMembers(admin, groupId);
      return now && now.length === size && now.join() !== before.join() && now;
    },
    { timeoutMs, intervalMs: 250 },
  );
}

/** Committed offsets of a group against the ends of a topic, per partition (a missing commit counts as 0). */
export async function groupOffsets(
  admin: Admin,
  groupId: string,
  topic: string,
): Promise<{ partition: number; committed: number; end: number }[]> {
  const [committed] = await admin.fetchOffsets({ groupId, topics: [topic] });
  const ends = await admin.fetchTopicOffsets(topic);
  return ends.map((e) => {
    const c = committed.partitions.find((p) => p.partition === e.partition);
    return { partition: e.partition, committed: c && Number(c.offset) >= 0 ? Number(c.offset) : 0, end: Number(e.high) };
  });
}

/**
 * A read_committed reader of a whole topic (its own group). Its position per partition follows
 * every fetched batch, those holding only transaction markers or aborted records included, so
 * `caughtUp` (position at every partition's end) means it has seen every committed record there is.
 */
export class TopicReader {
  readonly messages: (EachMessagePayload['message'] & { partition: number })[] = [];
  readonly groupId = uniqueName('test-reader');
  private readonly position = new Map<number, number>();
  /** partition/offset of every record kept: the reader's own group may be handed a record again (a rebalance of its own, a refetch); that is not a duplicate in the topic. */
  private readonly seen = new Set<string>();

  private constructor(readonly topic: string) {}

  static async start(ctx: TestContext, topic: string): Promise<TopicReader> {
    const r = new TopicReader(topic);
    const consumer = ctx.kafka('test-reader').consumer({ groupId: r.groupId, readUncommitted: false, maxWaitTimeInMs: 200 });
    consumer.on(consumer.events.END_BATCH_PROCESS, ({ payload }) => {
      const next = Number(payload.lastOffset) + 1;
      if (next > (r.position.get(payload.partition) ?? 0)) r.position.set(payload.partition, next);
    });
    await consumer.connect();
    ctx.defer(() => consumer.disconnect());
    await consumer.subscribe({ topic, fromBeginning: true });
    await consumer.run({
      eachMessage: async ({ message, partition }) => {
        const at = `${partition}/${message.offset}`;
        if (r.seen.has(at)) return;
        r.seen.add(at);
        r.messages.push({ ...message, partition });
      },
    });
    return r;
  }

  async caughtUp(admin: Admin): Promise<boolean> {
    const ends = await admin.fetchTopicOffsets(this.topic);
    return ends.every((e) => (this.position.get(e.partition) ?? 0) >= Number(e.high));
  }

  /** The offset after the last record read, per partition: what a consumer that has read everything has committed at least. */
  dataEnds(): Map<number, number> {
    const out = new Map<number, number>();
    for (const m of this.messages) out.set(m.partition, Math.max(out.get(m.partition) ?? 0, Number(m.offset) + 1));
    return out;
  }
}

/**
 * Whether a group has consumed every record a reader saw: its commit is at or past the reader's
 * data end at every partition (a trailing transaction marker needs no commit past it).
 */
export async function consumedAll(admin: Admin, groupId: string, reader: TopicReader): Promise<boolean> {
  const ends = reader.dataEnds();
  return (await groupOffsets(admin, groupId, reader.topic)).every((p) => p.committed >= (ends.get(p.partition) ?? 0));
}
