import type { EachBatchPayload, Kafka, KafkaMessage } from 'kafkajs';
import { Registry } from 'prom-client';
import type { Admin } from 'kafkajs';
import { BatchContext, ByteBudget, CommitSlot, createLogger, PartitionConsumer, PartitionConsumerOptions } from '../src';

/**
 * PartitionConsumer against a scripted kafkajs consumer (unit test: no cluster). What is checked
 * is the commit rule (only the settled prefix, one commit in flight per partition), revocation,
 * the heartbeating wait for room, and the crash/readiness rule.
 */
function harness(
  opts: {
    maxUnsettledAgeMs?: number;
    commitFails?: () => boolean;
    onBatch?: (b: BatchContext<undefined>) => Promise<void>;
    extra?: Partial<PartitionConsumerOptions<undefined>>;
  } = {},
) {
  const commits: string[] = [];
  const seeks: string[] = [];
  const listeners = new Map<string, (e: { payload: unknown }) => void>();
  let eachBatch: ((p: EachBatchPayload) => Promise<void>) | undefined;
  let release: (() => void) | undefined;
  let holdCommits = false;
  const consumer = {
    events: { GROUP_JOIN: 'join', CRASH: 'crash', END_BATCH_PROCESS: 'end-batch' },
    on: (name: string, f: (e: { payload: unknown }) => void) => {
      listeners.set(name, f);
    },
    connect: async () => undefined,
    subscribe: async () => undefined,
    pause: () => undefined,
    disconnect: async () => undefined,
    seek: (o: { partition: number; offset: string }) => seeks.push(`${o.partition}:${o.offset}`),
    run: async (o: { eachBatch: typeof eachBatch }) => {
      eachBatch = o.eachBatch;
    },
    commitOffsets: async (o: Array<{ topic: string; partition: number; offset: string; metadata?: string }>) => {
      if (holdCommits)
        await new Promise<void>((r) => {
          release = r;
        });
      if (opts.commitFails?.()) throw new Error('REBALANCE_IN_PROGRESS');
      commits.push(`${o[0].partition}:${o[0].offset}${o[0].metadata ? `:${o[0].metadata}` : ''}`);
    },
  };
  const kafka = { consumer: () => consumer } as unknown as Kafka;
  const registry = new Registry();
  const handed: string[] = [];
  const slots = new Map<string, CommitSlot>();
  const revoked: number[] = [];
  const pc = new PartitionConsumer({
    kafka,
    groupId: 'g',
    topics: ['t'],
    logger: createLogger({ name: 't', level: 'silent' }),
    registry,
    maxUnsettledAgeMs: opts.maxUnsettledAgeMs ?? 60_000,
    consumerConfig: { heartbeatInterval: 20 },
    onRevoked: (lost) => revoked.push(...lost.map((p) => p.partition)),
    handleBatch:
      opts.onBatch ??
      (async (b) => {
        for (const m of b.messages) {
          handed.push(`${b.partition.partition}:${m.offset}`);
          slots.set(`${b.partition.partition}:${m.offset}`, b.partition.register(m.offset));
        }
        b.handedOut(b.messages[b.messages.length - 1].offset);
      }),
    ...opts.extra,
  });
  const heartbeats: number[] = [];
  let heartbeatError: Error | undefined;
  const feed = (partition: number, offsets: string[]) =>
    eachBatch!({
      batch: {
        topic: 't',
        partition,
        highWatermark: '100',
        messages: offsets.map((offset) => ({ offset, value: Buffer.from('x'), headers: {} }) as unknown as KafkaMessage),
        firstOffset: () => offsets[0],
        lastOffset: () => offsets[offsets.length - 1],
      },
      resolveOffset: () => undefined,
      isRunning: () => true,
      isStale: () => false,
      heartbeat: async () => {
        heartbeats.push(Date.now());
        if (heartbeatError) throw heartbeatError;
      },
    } as unknown as EachBatchPayload);
  const tick = () => new Promise((r) => setImmediate(r)).then(() => new Promise((r) => setImmediate(r)));
  return {
    pc,
    commits,
    seeks,
    handed,
    revoked,
    registry,
    heartbeats,
    feed,
    tick,
    settle: (key: string) => pc.settle(slots.get(key)!),
    join: (memberId: string, partitions: number[]) =>
      listeners.get('join')!({ payload: { memberId, memberAssignment: { t: partitions } } }),
    /** kafkajs finished a fetched batch: batchSize 0 when every record was a marker or aborted. */
    endBatch: (partition: number, batchSize: number, firstOffset: string | null, lastOffset: string) =>
      listeners.get('end-batch')!({ payload: { topic: 't', partition, batchSize, firstOffset, lastOffset } }),
    crash: (restart: boolean) => listeners.get('crash')!({ payload: { error: new Error('INCONSISTENT_GROUP_PROTOCOL'), restart } }),
    holdCommits: (on: boolean) => {
      holdCommits = on;
      if (!on) release?.();
    },
    failHeartbeats: (err?: Error) => {
      heartbeatError = err;
    },
  };
}

describe('PartitionConsumer', () => {
  it('notes a fetch of transaction markers and aborted records only (never a handler batch), so a caught-up partition can be told from a behind one', async () => {
    const h = harness();
    await h.pc.start();
    h.join('m1', [0]);
    await h.feed(0, ['0', '1', '2']);
    const p = h.pc.assignedPartition('t', 0)!;
    expect(p.skipped).toBeUndefined();
    h.endBatch(0, 3, '0', '3');
    expect(p.skipped).toBeUndefined();
    h.endBatch(0, 0, '3', '9');
    expect(p.skipped).toEqual({ from: 3n, to: 10n });
    h.endBatch(0, 0, null, '9');
    h.endBatch(1, 0, '0', '5');
    expect(p.skipped).toEqual({ from: 3n, to: 10n });
  });

  it('with a fence: the start offset is read after the fence (a fenced owner committed meanwhile), the partition is read from it, and the handler commits', async () => {
    let committed = '10';
    const order: string[] = [];
    const admin = {
      fetchOffsets: async () => {
        order.push(`read ${committed}`);
        return [{ topic: 't', partitions: [{ partition: 0, offset: committed }] }];
      },
      fetchTopicOffsets: async () => [{ partition: 0, low: '0', high: '100' }],
    } as unknown as Admin;
    const h = harness({
      extra: {
        admin,
        offsetsCommittedByHandler: true,
        fence: async (p) => {
          order.push(`fence ${p.partition}`);
          committed = '12'; // the previous owner's last transaction, completed by the fence
        },
      },
    });
    await h.pc.start();
    h.join('m1', [0]);
    await h.feed(0, ['10', '11', '12', '13']); // kafkajs' fetch from the offset it read when joining
    expect(order).toEqual(['fence 0', 'read 12']);
    expect(h.seeks).toEqual(['0:12']);
    expect(h.handed).toEqual(['0:12', '0:13']);
    h.settle('0:12');
    h.settle('0:13');
    await h.tick();
    expect(h.commits).toEqual([]); // the handler's transactions carry the offsets

    // Fenced: dropped like a revoked partition and taken again, fence first.
    h.pc.retake(h.pc.assignedPartition('t', 0)!);
    expect(h.revoked).toEqual([0]);
    await h.feed(0, ['12', '13', '14']);
    expect(order).toEqual(['fence 0', 'read 12', 'fence 0', 'read 12']);
    expect(h.handed).toEqual(['0:12', '0:13', '0:12', '0:13', '0:14']);
  });

  it('commits only the settled prefix, in offset order, whatever order input settles in', async () => {
    const h = harness();
    await h.pc.start();
    h.join('m1', [0]);
    await h.feed(0, ['10', '11', '12', '13']);
    h.settle('0:12');
    h.settle('0:13');
    await h.tick();
    expect(h.commits).toEqual([]); // 10 and 11 are out
    h.settle('0:11');
    await h.tick();
    expect(h.commits).toEqual([]);
    h.settle('0:10');
    await h.tick();
    expect(h.commits).toEqual(['0:14']);
    await h.pc.stop();
  });

  it('keeps one commit in flight per partition; settles meanwhile go with one more commit of the newest offset', async () => {
    const h = harness();
    await h.pc.start();
    h.join('m1', [0]);
    await h.feed(0, ['0', '1', '2', '3']);
    h.holdCommits(true);
    h.settle('0:0');
    await h.tick();
    h.settle('0:1');
    await h.tick();
    h.settle('0:2');
    await h.tick();
    expect(h.commits).toEqual([]);
    h.holdCommits(false);
    await h.tick();
    await h.tick();
    expect(h.commits).toEqual(['0:1', '0:3']);
    await h.pc.stop();
  });

  it("after a rebalance: commits nothing for a lost partition, and never hands a kept partition's input out twice", async () => {
    const h = harness();
    await h.pc.start();
    h.join('m1', [0, 1]);
    await h.feed(0, ['5']);
    await h.feed(1, ['7']);
    h.join('m1', [1]); // partition 0 went to another member
    expect(h.revoked).toEqual([0]);
    h.settle('0:5');
    await h.tick();
    expect(h.commits).toEqual([]);
    // kafkajs reads the kept partition again from its committed offset.
    await h.feed(1, ['7', '8']);
    expect(h.handed).toEqual(['0:5', '1:7', '1:8']);
    h.settle('1:7');
    h.settle('1:8');
    await h.tick();
    expect(h.commits).toEqual(['1:9']);
    await h.pc.stop();
  });

  it('treats a new member id (this member was dropped from the group meanwhile) as losing every partition', async () => {
    const h = harness();
    await h.pc.start();
    h.join('m1', [0]);
    await h.feed(0, ['5']);
    h.join('m2', [0]);
    expect(h.revoked).toEqual([0]);
    h.settle('0:5');
    await h.tick();
    expect(h.commits).toEqual([]); // someone else may have committed further meanwhile
    await h.feed(0, ['5']);
    expect(h.handed).toEqual(['0:5', '0:5']);
    await h.pc.stop();
  });

  it('commits a position the handler computes, with its metadata, and again when only the metadata changes', async () => {
    const h = harness({
      onBatch: async (b) => {
        b.handedOut(b.messages[0].offset);
      },
    });
    await h.pc.start();
    h.join('m1', [2]);
    await h.feed(2, ['40']);
    const p = h.pc.assignedPartition('t', 2)!;
    await p.commitAt('30', '{"w":1}');
    await p.commitAt('30', '{"w":1}');
    await p.commitAt('30', '{"w":2}');
    expect(h.commits).toEqual(['2:30:{"w":1}', '2:30:{"w":2}']);
    await h.pc.stop();
  });

  it('a failed commit stays offered and goes with the next one', async () => {
    let fail = true;
    const h = harness({ commitFails: () => fail });
    await h.pc.start();
    h.join('m1', [0]);
    await h.feed(0, ['0', '1']);
    h.settle('0:0');
    await h.tick();
    expect(h.commits).toEqual([]);
    fail = false;
    await h.pc.assignedPartition('t', 0)!.requestCommit();
    expect(h.commits).toEqual(['0:1']);
    await h.pc.stop();
  });

  it('holds the handler while the budget is full, heartbeating, and lets it go when room frees or a rebalance starts', async () => {
    const budget = new ByteBudget(100);
    const results: boolean[] = [];
    const h = harness({
      onBatch: async (b) => {
        results.push(await b.waitForRoom(budget));
      },
    });
    await h.pc.start();
    h.join('m1', [0]);
    budget.take(100);
    const held = h.feed(0, ['0']);
    while (h.heartbeats.length < 3) await new Promise((r) => setTimeout(r, 5));
    budget.give(50);
    await held;
    expect(results).toEqual([true]);
    budget.take(50);
    h.failHeartbeats(Object.assign(new Error('rebalancing'), { type: 'REBALANCE_IN_PROGRESS' }));
    await h.feed(0, ['1']);
    expect(results).toEqual([true, false]);
    await h.pc.stop();
  });

  it('when a heartbeat reports a rebalance, settles the input in flight and commits it before the handler returns (and kafkajs rejoins)', async () => {
    const h = harness();
    await h.pc.start();
    h.join('m1', [0, 1]);
    await h.feed(0, ['0', '1']);
    h.failHeartbeats(Object.assign(new Error('rebalancing'), { type: 'REBALANCE_IN_PROGRESS' }));
    let returned = false;
    const batch = h.feed(1, ['5']).then(() => {
      returned = true;
    });
    await new Promise((r) => setTimeout(r, 100));
    expect(returned).toBe(false); // 0:0, 0:1 and 1:5 are still in flight
    h.settle('0:0');
    h.settle('0:1');
    h.settle('1:5');
    await batch;
    expect(h.commits.sort()).toEqual(['0:2', '1:6']);
    await h.feed(1, ['6']); // nothing new is handed out until the group is joined again
    expect(h.handed).toEqual(['0:0', '0:1', '1:5']);
    h.failHeartbeats(undefined);
    h.join('m1', [1]);
    await h.feed(1, ['6']);
    expect(h.handed).toEqual(['0:0', '0:1', '1:5', '1:6']);
    await h.pc.stop();
  });

  it('a non-retriable crash makes it not ready and settles `failure`; a retriable one does neither for good', async () => {
    const h = harness();
    await h.pc.start();
    h.join('m1', [0]);
    expect(h.pc.ready).toBe(true);
    h.crash(true);
    expect(h.pc.ready).toBe(false); // kafkajs restarts it and it joins again
    h.join('m2', [0]);
    expect(h.pc.ready).toBe(true);
    let failed: Error | undefined;
    void h.pc.failure.then((err) => {
      failed = err;
    });
    h.crash(false);
    await h.tick();
    expect(h.pc.ready).toBe(false);
    expect(failed?.message).toBe('INCONSISTENT_GROUP_PROTOCOL');
    h.join('m3', [0]);
    expect(h.pc.ready).toBe(false); // a crashed process stays not ready until it is restarted
    await h.pc.stop();
  });

  it("is not ready while a partition's oldest unsettled input is older than the limit, and exports its age", async () => {
    const h = harness({ maxUnsettledAgeMs: 1000 });
    await h.pc.start();
    h.join('m1', [0]);
    const realNow = Date.now;
    const t0 = realNow();
    try {
      Date.now = () => t0;
      await h.feed(0, ['0', '1']);
      expect(h.pc.ready).toBe(true);
      Date.now = () => t0 + 1500;
      expect(h.pc.ready).toBe(false);
      const text = await h.registry.getSingleMetricAsString('mplp_consumer_oldest_unsettled_seconds');
      expect(text).toContain('mplp_consumer_oldest_unsettled_seconds{group="g",topic="t",partition="0"} 1.5');
      h.settle('0:0');
      h.settle('0:1');
      await h.tick();
      expect(h.commits).toEqual(['0:2']);
      expect(h.pc.ready).toBe(true);
    } finally {
      Date.now = realNow;
    }
    await h.pc.stop();
  });

  it('on stop: handlers return, the worker drains, what it settled is committed before leaving', async () => {
    const h = harness();
    await h.pc.start();
    h.join('m1', [0]);
    await h.feed(0, ['0', '1']);
    await h.pc.stop(async () => {
      h.settle('0:0');
      h.settle('0:1');
    });
    expect(h.commits).toEqual(['0:2']);
  });
});
