import { spawn } from 'node:child_process';
import type { Admin } from 'kafkajs';
import { TestContext, uniqueName, waitFor } from '../../shared/testing';
import { encodeTraces, TraceGenerator } from '../src/loadgen/trace-generator';
import { INGEST_MAIN, ingestTopics, spansOf, spawnIngest, startIngest } from './helpers';

/** Publishes `messages` OTLP requests of 5 traces each, in sends of 50; returns every span id sent. */
async function publish(ctx: TestContext, topic: string, messages: number): Promise<Set<string>> {
  const gen = new TraceGenerator({ errorRate: 0 });
  const ids = new Set<string>();
  const producer = await ctx.producer();
  for (let done = 0; done < messages; done += 50) {
    const msgs = Array.from({ length: Math.min(50, messages - done) }, () => {
      const traces = Array.from({ length: 5 }, () => gen.trace(Date.now()));
      for (const s of traces.flat()) ids.add(s.spanId.toString('hex'));
      return { value: encodeTraces(traces, 'protobuf') };
    });
    await producer.send({ topic, acks: -1, messages: msgs });
  }
  return ids;
}

/** Publishes OTLP requests (20 per send, about 50 sends a second) until stop(), which returns every span id sent. */
async function startStream(ctx: TestContext, topic: string): Promise<{ stop: () => Promise<Set<string>> }> {
  const gen = new TraceGenerator({ errorRate: 0 });
  const ids = new Set<string>();
  const producer = await ctx.producer();
  let running = true;
  const loop = (async () => {
    while (running) {
      const messages = Array.from({ length: 20 }, () => {
        const traces = Array.from({ length: 3 }, () => gen.trace(Date.now()));
        for (const s of traces.flat()) ids.add(s.spanId.toString('hex'));
        return { value: encodeTraces(traces, 'protobuf') };
      });
      await producer.send({ topic, acks: -1, messages });
      await new Promise((r) => setTimeout(r, 20)); // pacing of the load, not a synchronisation
    }
  })();
  return {
    stop: async () => {
      running = false;
      await loop;
      return ids;
    },
  };
}

/** The group's one member id while the group is Stable with exactly one member, else undefined. */
async function soleMember(admin: Admin, groupId: string): Promise<string | undefined> {
  const {
    groups: [g],
  } = await admin.describeGroups([groupId]);
  return g.state === 'Stable' && g.members.length === 1 ? g.members[0].memberId : undefined;
}

/** Committed offsets of the group equal the topic's high watermarks, partition by partition. */
async function committedToEnd(admin: Admin, groupId: string, topic: string): Promise<boolean> {
  const [committed] = await admin.fetchOffsets({ groupId, topics: [topic] });
  const high = await admin.fetchTopicOffsets(topic);
  return high.every((h) => committed.partitions.find((c) => c.partition === h.partition)?.offset === h.high);
}

async function readiness(port: number): Promise<number> {
  return (await fetch(`http://127.0.0.1:${port}/readyz`)).status;
}

async function unsettledAge(port: number, topic: string): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
  const ages = [...text.matchAll(/^mplp_consumer_oldest_unsettled_seconds\{([^}]*)\} ([\d.e+-]+)$/gm)]
    .filter((m) => m[1].includes(`topic="${topic}"`))
    .map((m) => Number(m[2]));
  return Math.max(0, ...ages);
}

describe('ingest consumption on the real Kafka: stalls, heartbeats, crashes', () => {
  const ctx = new TestContext();
  afterAll(() => ctx.cleanup());

  it('an output stall longer than the session timeout: the member keeps its place, /metrics and /readyz report the stalled partition, and once output flows everything is produced and committed', async () => {
    const admin = await ctx.admin();
    // The output topic does not exist yet: every produce is retried, nothing settles, the in-flight bound fills.
    const { raw, env } = await ingestTopics(ctx, {
      MPLP_INGEST_SESSION_TIMEOUT: '6000',
      MPLP_INGEST_MAX_IN_FLIGHT_BYTES: '65536',
      MPLP_INGEST_TASK_BYTES: '8192',
      MPLP_INGEST_PRODUCER: 'kafkajs',
      MPLP_KAFKA_MAX_UNSETTLED_AGE: '3000',
      MPLP_LOG_LEVEL: 'fatal',
    });
    const validated = uniqueName('test.validated');
    env.MPLP_TOPIC_VALIDATED = validated;
    ctx.defer(() => admin.deleteTopics({ topics: [validated] }).catch(() => undefined));
    const sent = await publish(ctx, raw, 120);
    const service = await startIngest(ctx, env);
    const port = service.port()!;
    const groupId = env.MPLP_INGEST_GROUP_ID;
    const member = await waitFor('the worker alone in its group', () => soleMember(admin, groupId), { timeoutMs: 30_000 });

    await waitFor('/readyz not ready: a partition stalled past MPLP_KAFKA_MAX_UNSETTLED_AGE', async () => (await readiness(port)) === 503, {
      timeoutMs: 30_000,
      intervalMs: 250,
    });
    expect(await unsettledAge(port, raw)).toBeGreaterThan(3);
    // Three session timeouts of stall: the group keeps the same member all along (no eviction, no rebalance).
    const until = Date.now() + 18_000;
    while (Date.now() < until) {
      expect(await soleMember(admin, groupId)).toBe(member);
      await new Promise((r) => setTimeout(r, 1000));
    }

    await admin.createTopics({ topics: [{ topic: validated, numPartitions: 3, replicationFactor: 1 }], waitForLeaders: true });
    const out = await ctx.collect(validated);
    const seen = await waitFor(
      'every span once output flows',
      () => {
        const got = new Set(spansOf(out.messages).map((s) => s.spanId));
        return got.size >= sent.size ? got : undefined;
      },
      { timeoutMs: 90_000, intervalMs: 250 },
    );
    expect(seen).toEqual(sent);
    await waitFor('committed to the end of the input', () => committedToEnd(admin, groupId, raw), { timeoutMs: 30_000, intervalMs: 250 });
    await waitFor('/readyz ready again', async () => (await readiness(port)) === 200, { timeoutMs: 10_000, intervalMs: 250 });
    expect(await unsettledAge(port, raw)).toBe(0);
    expect(await soleMember(admin, groupId)).toBe(member);
  });

  it('a non-retriable consumer crash (the group speaks another assignment protocol) ends the process with a non-zero exit', async () => {
    const { raw, env } = await ingestTopics(ctx);
    const groupId = env.MPLP_INGEST_GROUP_ID;
    // A member of the group whose only partition assignor the worker does not speak: its JoinGroup gets INCONSISTENT_GROUP_PROTOCOL.
    const other = ctx.kafka('test-other-protocol').consumer({
      groupId,
      partitionAssigners: [
        () => ({
          name: 'test-only-assignor',
          version: 0,
          protocol: () => ({ name: 'test-only-assignor', metadata: Buffer.alloc(0) }),
          assign: async () => [],
        }),
      ],
    });
    await other.connect();
    ctx.defer(() => other.disconnect());
    await other.subscribe({ topic: raw });
    await other.run({ eachMessage: async () => undefined });
    const admin = await ctx.admin();
    await waitFor('the other member in the group', async () => (await admin.describeGroups([groupId])).groups[0].state === 'Stable', {
      timeoutMs: 30_000,
    });

    const child = spawn(process.execPath, [INGEST_MAIN], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    ctx.defer(() => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    });
    let log = '';
    child.stdout.on('data', (d: Buffer) => {
      log += d.toString();
    });
    child.stderr.on('data', () => undefined);
    const code = await new Promise<number | null>((resolve) => child.once('exit', (c) => resolve(c)));
    expect(code).toBe(1);
    expect(log).toContain('consumer crashed with a non-retriable error');
    expect(log).toContain('"code":23'); // INCONSISTENT_GROUP_PROTOCOL
  });

  /** Every span id in the collected output, with repeats: a replay shows as a repeat. */
  const spanIdsOf = (messages: { value: Buffer | null }[]) => spansOf(messages).map((s) => s.spanId);
  const exited = (child: ReturnType<typeof spawnIngest>) => new Promise<number | null>((resolve) => child.once('exit', (c) => resolve(c)));
  const stream = {
    MPLP_INGEST_FETCH_MAX_BYTES_PER_PARTITION: '65536',
    MPLP_INGEST_PARTITIONS_CONCURRENTLY: '1',
    MPLP_INGEST_TASK_BYTES: '16384',
  };

  it('SIGTERM under load: exit 0 after a clean commit, and the restarted worker replays nothing (every span exactly once)', async () => {
    const { raw, validated, env } = await ingestTopics(ctx, stream);
    const out = await ctx.collect(validated);
    const load = await startStream(ctx, raw);
    const first = spawnIngest(ctx, env);
    await waitFor('spans flowing through the first worker', () => spanIdsOf(out.messages).length > 2000, {
      timeoutMs: 90_000,
      intervalMs: 20,
    });
    first.kill('SIGTERM');
    expect(await exited(first)).toBe(0);
    const sent = await load.stop();
    expect(new Set(spanIdsOf(out.messages)).size).toBeLessThan(sent.size); // stopped mid-stream
    spawnIngest(ctx, env);
    await waitFor('every span after the restart', () => new Set(spanIdsOf(out.messages)).size >= sent.size, {
      timeoutMs: 120_000,
      intervalMs: 250,
    });
    const admin = await ctx.admin();
    await waitFor('committed to the end of the input', () => committedToEnd(admin, env.MPLP_INGEST_GROUP_ID, raw), {
      timeoutMs: 30_000,
      intervalMs: 250,
    });
    const ids = spanIdsOf(out.messages);
    expect(new Set(ids)).toEqual(sent);
    expect(ids.length).toBe(sent.size);
  });

  it('a second worker joining mid-stream (rebalance with chunks in flight) loses nothing and duplicates nothing', async () => {
    const { raw, validated, env } = await ingestTopics(ctx, stream);
    const admin = await ctx.admin();
    const out = await ctx.collect(validated);
    const load = await startStream(ctx, raw);
    spawnIngest(ctx, env);
    await waitFor('spans flowing through the first worker', () => spanIdsOf(out.messages).length > 2000, {
      timeoutMs: 90_000,
      intervalMs: 20,
    });
    spawnIngest(ctx, env);
    await waitFor(
      'both workers in the group',
      async () => {
        const {
          groups: [g],
        } = await admin.describeGroups([env.MPLP_INGEST_GROUP_ID]);
        return g.state === 'Stable' && g.members.length === 2;
      },
      { timeoutMs: 60_000, intervalMs: 100 },
    );
    const before = spanIdsOf(out.messages).length;
    await waitFor('spans flowing after the rebalance', () => spanIdsOf(out.messages).length > before + 2000, {
      timeoutMs: 60_000,
      intervalMs: 20,
    });
    const sent = await load.stop();
    await waitFor('every span', () => new Set(spanIdsOf(out.messages)).size >= sent.size, { timeoutMs: 120_000, intervalMs: 250 });
    await waitFor('committed to the end of the input', () => committedToEnd(admin, env.MPLP_INGEST_GROUP_ID, raw), {
      timeoutMs: 60_000,
      intervalMs: 250,
    });
    const ids = spanIdsOf(out.messages);
    expect(new Set(ids)).toEqual(sent);
    expect(ids.length).toBe(sent.size);
  });
});
