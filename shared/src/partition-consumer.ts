import type { Admin, Consumer, ConsumerConfig, EachBatchPayload, Kafka, KafkaMessage } from 'kafkajs';
import { Gauge, Registry } from 'prom-client';
import type { ByteBudget } from './byte-budget';
import { CommitSlot, CommitTracker } from './commit-tracker';
import type { Logger } from './logger';

/** Where a partition resumes: its committed offset and metadata, else its low watermark. */
export interface CommittedPosition {
  offset: bigint;
  metadata?: string;
}

export interface PartitionConsumerOptions<S> {
  kafka: Kafka;
  groupId: string;
  topics: string[];
  logger: Logger;
  /** kafkajs consumer settings besides the group id (fetch sizes, session timeout, heartbeat interval). */
  consumerConfig?: Omit<ConsumerConfig, 'groupId'>;
  partitionsConsumedConcurrently?: number;
  /** A partition whose oldest unsettled offset has waited longer than this makes `ready` false. */
  maxUnsettledAgeMs: number;
  /** Registry of /metrics: the oldest-unsettled age per partition goes there. */
  registry?: Registry;
  /** Given, each newly assigned partition's committed offset and metadata are read and passed to onAssigned. */
  admin?: Admin;
  /** The worker's handler: a batch of messages never handed to it before. */
  handleBatch(batch: BatchContext<S>): Promise<void>;
  /** A partition became ours; returns its state. Batches of it wait until this resolves. */
  onAssigned?(partition: AssignedPartition<S>, committed?: CommittedPosition): Promise<S> | S;
  /** Partitions stopped being ours (rebalance, crash): work in flight for them may finish, it commits nothing. */
  onRevoked?(partitions: readonly AssignedPartition<S>[]): void;
  /** A commit of the partition was confirmed by the broker. */
  onCommitted?(partition: AssignedPartition<S>, offset: string): void;
  /**
   * Runs first when a partition becomes ours, before its start position is decided (needs `admin`):
   * ingest initializes the partition's transactional producer here, which fences the previous
   * owner and ends its open transaction. The committed position is then read (after it, so it
   * includes whatever that owner's last transaction committed) and the partition is read from there,
   * not from the offset kafkajs read when it joined.
   */
  fence?(partition: AssignedPartition<S>): Promise<void>;
  /**
   * The handler commits offsets itself (ingest's transactions send them with the output): the
   * settled prefix is then only recorded, no consumer commit is sent.
   */
  offsetsCommittedByHandler?: boolean;
}

type Committer = (offset: string, metadata: string | undefined) => Promise<void>;

/** Fetches within this much time of each other share one entry of the oldest-unsettled clock. */
const FETCH_CLOCK_RESOLUTION_MS = 1000;

/**
 * One partition while it is assigned to this member: the worker's state for it, the CommitTracker
 * of the input handed out (settled-prefix commits), and its commit loop (one commit in flight, a
 * newer target replacing a waiting one, nothing once revoked).
 */
export class AssignedPartition<S = undefined> {
  /** The worker's state, from onAssigned (undefined without it). */
  state!: S;
  readonly tracker: CommitTracker;
  highWatermark = 0n;
  /**
   * The latest run of records kafkajs read past without a batch for the handler: transaction
   * markers and aborted records only (read_committed). A handler whose position is at or past
   * `from` has seen every committed record below `to`.
   */
  skipped?: { from: bigint; to: bigint };
  private revokedNow = false;
  /** After the last offset handed out: a kept partition read again from its commit skips below it. */
  private handedOutTo?: bigint;
  private committed?: { offset: bigint; metadata?: string };
  private target?: { offset: string; metadata?: string };
  private loop?: Promise<void>;
  private again = false;
  /** Fetch times of the input not yet committed, one entry per FETCH_CLOCK_RESOLUTION_MS. */
  private readonly fetched: { last: bigint; at: number }[] = [];
  /** @internal onAssigned in progress or done. */
  init?: Promise<void>;

  constructor(
    readonly topic: string,
    readonly partition: number,
    private readonly committer: Committer,
  ) {
    this.tracker = new CommitTracker(topic, partition);
  }

  get revoked(): boolean {
    return this.revokedNow;
  }

  /** Registers input ending at `lastOffset` (in offset order) with `parts` to settle; see CommitTracker.add. */
  register(lastOffset: string, parts = 1): CommitSlot {
    return this.tracker.add(lastOffset, parts);
  }

  /**
   * Commits an explicit position, for handlers whose commit point comes from their own state (the
   * aggregator's open panes) rather than from settled slots. Resolves when it was sent (a failure is
   * logged, and the position stays offered to the next round).
   */
  commitAt(offset: string, metadata?: string): Promise<void> {
    this.target = { offset, metadata };
    return this.requestCommit();
  }

  /** Commits what became committable; one commit in flight, a request meanwhile makes one more round. */
  requestCommit(): Promise<void> {
    if (this.revokedNow) return Promise.resolve();
    if (this.loop) {
      this.again = true;
      return this.loop;
    }
    this.loop = (async () => {
      do {
        this.again = false;
        if (!(await this.commitOnce())) break;
      } while (this.again && !this.revokedNow);
    })().finally(() => {
      this.loop = undefined;
    });
    return this.loop;
  }

  /** Every slot registered is settled (and what that allows is committed or being committed). */
  get settled(): boolean {
    this.tracker.toCommit();
    return this.tracker.done;
  }

  /** Wall-clock ms when the oldest input not yet committed was fetched; undefined when everything is. */
  oldestUnsettledAt(): number | undefined {
    return this.fetched[0]?.at;
  }

  /** @internal false when the commit failed (it stays offered). */
  private async commitOnce(): Promise<boolean> {
    const next =
      this.target ??
      (() => {
        const o = this.tracker.toCommit();
        return o === undefined ? undefined : { offset: o, metadata: undefined };
      })();
    if (!next || this.revokedNow) return true;
    if (this.committed && this.committed.offset === BigInt(next.offset) && this.committed.metadata === next.metadata) {
      this.target = undefined;
      return true;
    }
    try {
      await this.committer(next.offset, next.metadata);
    } catch {
      return false;
    }
    if (this.target === next) this.target = undefined;
    this.tracker.confirmCommitted(next.offset);
    this.committed = { offset: BigInt(next.offset), metadata: next.metadata };
    while (this.fetched.length && this.fetched[0].last < this.committed.offset) this.fetched.shift();
    return true;
  }

  /** @internal The messages not handed out before, noting when they were fetched. */
  fresh(messages: KafkaMessage[], now: number): KafkaMessage[] {
    const from = this.handedOutTo;
    const out = from === undefined ? messages : messages.filter((m) => BigInt(m.offset) >= from);
    if (out.length) {
      const last = BigInt(out[out.length - 1].offset);
      const newest = this.fetched[this.fetched.length - 1];
      if (newest && now - newest.at < FETCH_CLOCK_RESOLUTION_MS) {
        if (last > newest.last) newest.last = last;
      } else if (!newest || last > newest.last) this.fetched.push({ last, at: now });
    }
    return out;
  }

  /** @internal */
  handOut(offset: string): void {
    const next = BigInt(offset) + 1n;
    if (this.handedOutTo === undefined || next > this.handedOutTo) this.handedOutTo = next;
  }

  /** @internal The partition is read from `offset`: input below it is not the handler's, input from it is. */
  startAt(offset: bigint): void {
    this.handedOutTo = offset;
  }

  /** @internal A seek back: the handler is to be given that input again. */
  rewind(offset: string): void {
    const o = BigInt(offset);
    if (this.handedOutTo !== undefined && o < this.handedOutTo) this.handedOutTo = o;
  }

  /** @internal kafkajs read records from..to-1 and none was for the handler. */
  skip(from: bigint, to: bigint): void {
    if (!this.skipped || to > this.skipped.to) this.skipped = { from, to };
  }

  /** @internal */
  revoke(): void {
    this.revokedNow = true;
  }
}

/** What the handler gets for one fetched batch of one partition. */
export interface BatchContext<S> {
  readonly partition: AssignedPartition<S>;
  /** The batch's messages not handed to the handler before, in offset order (never empty). */
  readonly messages: KafkaMessage[];
  readonly highWatermark: string;
  /**
   * The batch's first and last offsets counting the records kafkajs filtered out (transaction
   * markers, aborted records): offsets of a transactional topic have gaps, and a handler that
   * handled the batch has seen every committed record from `firstOffset` through `lastOffset`.
   */
  readonly firstOffset: string;
  readonly lastOffset: string;
  /**
   * Input up to `offset` is taken over by the handler: kafkajs fetches past it, and a kept
   * partition read again from its commit after a rebalance never gives it to the handler twice.
   * Committing is separate (register/settle or commitAt).
   */
  handedOut(offset: string): void;
  /** The batch is still ours to handle: no rebalance, seek, revocation or shutdown since it came. */
  active(): boolean;
  /**
   * Holds the handler, and with it fetching, until `budget` has room, heartbeating meanwhile so an
   * output stall longer than the session timeout does not evict the member. false: return now (a
   * rebalance waits for the handler, or the consumer stops).
   */
  waitForRoom(budget: ByteBudget): Promise<boolean>;
  /** kafkajs' heartbeat (sent at most every heartbeat interval); never rejects: a rebalance it reports is the consumer's to handle. */
  heartbeat(): Promise<void>;
}

/**
 * PartitionConsumer: the one Kafka consumption loop of every worker. It owns the consumer group
 * membership and assignment (per-partition state created on assignment, dropped on revocation),
 * hands each batch's new messages to the worker's handler, commits per partition only the settled
 * prefix of the input handed out (CommitTracker) or a position the handler computes, holds
 * fetching with heartbeats while the worker's byte budget is full, and applies the
 * crash/readiness rule: `ready` only while joined, not crashed, and no partition's oldest
 * unsettled input older than maxUnsettledAgeMs; a non-retriable consumer crash settles `failure`,
 * which the process harness turns into a non-zero exit. Composed like Jaeger's ingester
 * (cmd/ingester/app/consumer: a partition consumer per assignment, an offset.Manager marking
 * processed offsets and committing the lowest contiguous one, the processor behind it).
 */
export class PartitionConsumer<S = undefined> {
  private consumer?: Consumer;
  private readonly partitions = new Map<string, AssignedPartition<S>>();
  private readonly owner = new WeakMap<CommitTracker, AssignedPartition<S>>();
  private readonly running = new Set<Promise<void>>();
  private readonly settledSince = new Set<AssignedPartition<S>>();
  private memberId?: string;
  private joined = false;
  private stopping = false;
  private failedWith?: Error;
  private resolveFailure!: (err: Error) => void;
  /** Settles with the error of a non-retriable consumer crash; never otherwise. */
  readonly failure: Promise<Error>;
  private timer?: NodeJS.Timeout;
  private readonly stalled = new Set<string>();
  private commitWarnedAt = 0;
  /** A heartbeat answered that the group is rebalancing: hand nothing new out, settle and commit first. */
  private rebalancing?: Promise<void>;

  constructor(private readonly opts: PartitionConsumerOptions<S>) {
    this.failure = new Promise((resolve) => {
      this.resolveFailure = resolve;
    });
    if (opts.registry) registerAgeGauge(opts.registry, this);
  }

  get groupId(): string {
    return this.opts.groupId;
  }

  /** Joined, not crashed, and no partition stalled past maxUnsettledAgeMs. */
  get ready(): boolean {
    return this.joined && !this.failedWith && this.stalledPartitions(Date.now()).length === 0;
  }

  /** The partition while it is ours. */
  assignedPartition(topic: string, partition: number): AssignedPartition<S> | undefined {
    return this.partitions.get(`${topic}/${partition}`);
  }

  /** Partitions of `topic` currently ours, ascending. */
  assigned(topic: string): AssignedPartition<S>[] {
    return [...this.partitions.values()].filter((p) => p.topic === topic).sort((a, b) => a.partition - b.partition);
  }

  /**
   * n parts of the slot are settled (durable downstream or dead-lettered); what became committable
   * is committed once the caller's synchronous run of settles is over (one commit for a whole bulk).
   */
  settle(slot: CommitSlot, n = 1): void {
    CommitTracker.settle(slot, n);
    const p = this.owner.get(slot.tracker);
    if (!p || p.revoked) return;
    this.settledSince.add(p);
    if (this.settledSince.size === 1) {
      queueMicrotask(() => {
        for (const q of this.settledSince) void q.requestCommit();
        this.settledSince.clear();
      });
    }
  }

  /**
   * The partition stopped being ours without a rebalance telling us (ingest: its transactional
   * producer was fenced). It is dropped like a revoked one (its work in flight commits nothing) and,
   * while kafkajs still assigns it to this member, taken again from the start: `fence`, the
   * committed position, a fresh tracker. If another member owns it now, that member's next
   * transaction fences this one again until the group's rebalance reaches this member.
   */
  retake(p: AssignedPartition<S>): void {
    if (p.revoked || this.partitions.get(`${p.topic}/${p.partition}`) !== p) return;
    this.revoke([p]);
    if (!this.stopping) this.assign(p.topic, p.partition, Promise.resolve(new Map()));
  }

  /** Reads `offset` next (the handler is given that input again). */
  seek(p: AssignedPartition<S>, offset: string): void {
    p.rewind(offset);
    this.consumer?.seek({ topic: p.topic, partition: p.partition, offset });
  }

  async start(): Promise<void> {
    const { kafka, groupId, topics, consumerConfig, partitionsConsumedConcurrently } = this.opts;
    // read_committed (kafkajs' default, pinned): records of an aborted or still open transaction (ingest's) are never handed out.
    const consumer = kafka.consumer({ ...consumerConfig, groupId, readUncommitted: false });
    this.consumer = consumer;
    // CRASH first: the unit tests' scripted consumers keep one listener, the last (GROUP_JOIN).
    consumer.on(consumer.events.CRASH, (e) => this.crashed(e.payload.error, e.payload.restart));
    // kafkajs found the rebalance itself (not through a handler's heartbeat) and rejoins now: commit
    // at once what is settled, so the request goes out ahead of the JoinGroup on the coordinator's connection.
    consumer.on(consumer.events.REBALANCING, () => {
      for (const p of this.partitions.values()) void p.requestCommit();
    });
    // A fetch of markers and aborted records only never reaches eachBatch: note what it passed over.
    consumer.on(consumer.events.END_BATCH_PROCESS, ({ payload: b }) => {
      if (b.batchSize !== 0 || b.firstOffset === null) return;
      this.partitions.get(`${b.topic}/${b.partition}`)?.skip(BigInt(b.firstOffset), BigInt(b.lastOffset) + 1n);
    });
    consumer.on(consumer.events.GROUP_JOIN, (e) => this.joinedGroup(e.payload.memberId, e.payload.memberAssignment));
    await consumer.connect();
    await consumer.subscribe({ topics, fromBeginning: true });
    this.timer = setInterval(() => this.maintain(), 1000);
    this.timer.unref();
    await consumer.run({
      autoCommit: false,
      eachBatchAutoResolve: false,
      partitionsConsumedConcurrently: partitionsConsumedConcurrently ?? 1,
      eachBatch: (payload) => this.track(this.onBatch(payload)),
    });
  }

  /**
   * Clean stop: no more fetching, handlers in progress return, `drain` waits for the worker's work
   * in flight, then what it settled is committed while still a member, then the group is left.
   */
  async stop(drain?: () => Promise<unknown>): Promise<void> {
    this.stopping = true;
    clearInterval(this.timer);
    try {
      this.consumer?.pause(this.opts.topics.map((topic) => ({ topic })));
    } catch {
      /* not running */
    }
    while (this.running.size) await Promise.allSettled([...this.running]);
    if (drain) await drain();
    await Promise.allSettled([...this.partitions.values()].map((p) => p.requestCommit()));
    try {
      await this.consumer?.disconnect();
    } catch (err) {
      this.opts.logger.warn({ err }, 'consumer disconnect failed');
    }
  }

  private track(run: Promise<void>): Promise<void> {
    this.running.add(run);
    void run.then(
      () => this.running.delete(run),
      () => this.running.delete(run),
    );
    return run;
  }

  private async onBatch(payload: EachBatchPayload): Promise<void> {
    const { batch, isRunning, isStale, resolveOffset } = payload;
    if (this.stopping || this.rebalancing || batch.messages.length === 0 || !isRunning() || isStale()) return;
    // kafkajs joins before it fetches; a batch of a partition never announced (scripted tests) is assigned here.
    const p =
      this.partitions.get(`${batch.topic}/${batch.partition}`) ?? this.assign(batch.topic, batch.partition, Promise.resolve(new Map()));
    await this.initialized(p);
    const active = () => !this.stopping && !p.revoked && isRunning() && !isStale();
    if (!active()) return;
    p.highWatermark = BigInt(batch.highWatermark);
    const messages = p.fresh(batch.messages, Date.now());
    if (messages.length === 0) {
      resolveOffset(batch.messages[batch.messages.length - 1].offset);
      return;
    }
    const heartbeatMs = this.heartbeatMs;
    const heartbeat = () => this.heartbeat(payload);
    try {
      await this.opts.handleBatch({
        partition: p,
        messages,
        highWatermark: batch.highWatermark,
        firstOffset: batch.firstOffset() ?? messages[0].offset,
        lastOffset: batch.lastOffset(),
        active,
        // A rebalance it reports is this component's to handle (below), not the handler's.
        heartbeat: () => heartbeat().catch(() => undefined),
        handedOut: (offset) => {
          p.handOut(offset);
          resolveOffset(offset);
        },
        waitForRoom: (budget) => waitWithHeartbeats(budget, heartbeatMs, active, heartbeat),
      });
      await heartbeat().catch(() => undefined);
    } finally {
      // kafkajs rejoins once the handlers return: first let the input in flight settle and commit
      // it with the generation that owns it, so the partitions' next owners (maybe this member)
      // start past it — what Java consumers do in onPartitionsRevoked. The group waits for the
      // rejoin up to its rebalance timeout (kafkajs: 60 s).
      if (this.rebalancing) await this.rebalancing;
    }
  }

  private get heartbeatMs(): number {
    return this.opts.consumerConfig?.heartbeatInterval ?? 3000;
  }

  /** kafkajs' heartbeat; a rebalance it reports starts the settle-and-commit step before the rejoin. */
  private async heartbeat(payload: EachBatchPayload): Promise<void> {
    try {
      await payload.heartbeat();
    } catch (err) {
      if (isRebalancing(err)) this.rebalancing ??= this.settleBeforeRebalance(payload);
      throw err;
    }
  }

  /** Waits (heartbeating, so the member is not dropped) until every slot handed out settled or the bound passed, then commits. */
  private async settleBeforeRebalance(payload: EachBatchPayload): Promise<void> {
    const started = Date.now();
    const deadline = started + Math.min(30_000, this.opts.consumerConfig?.rebalanceTimeout ?? 60_000) / 2;
    let beat = Date.now();
    while (Date.now() < deadline && ![...this.partitions.values()].every((p) => p.settled)) {
      await new Promise((r) => setTimeout(r, 20));
      if (Date.now() - beat >= this.heartbeatMs) {
        beat = Date.now();
        await payload.heartbeat().catch(() => undefined);
      }
    }
    const settled = [...this.partitions.values()].every((p) => p.settled);
    await Promise.allSettled([...this.partitions.values()].map((p) => p.requestCommit()));
    this.opts.logger.info(
      { groupId: this.opts.groupId, settled, ms: Date.now() - started },
      'rebalance: input in flight settled and committed before rejoining',
    );
  }

  private assign(topic: string, partition: number, committed: Promise<Map<string, CommittedPosition>>): AssignedPartition<S> {
    const p: AssignedPartition<S> = new AssignedPartition<S>(topic, partition, (offset, metadata) =>
      this.opts.offsetsCommittedByHandler ? Promise.resolve() : this.commit(p, offset, metadata),
    );
    this.partitions.set(`${topic}/${partition}`, p);
    this.owner.set(p.tracker, p);
    this.prepare(p, committed);
    return p;
  }

  /** Waits for onAssigned; a failed one (an admin request) is tried again with the next batch. */
  private async initialized(p: AssignedPartition<S>): Promise<void> {
    try {
      await p.init;
    } catch (err) {
      this.prepare(p, this.opts.fence ? Promise.resolve(new Map()) : this.readCommitted([p]));
      this.opts.logger.warn({ err, topic: p.topic, partition: p.partition }, 'preparing an assigned partition failed; retrying');
      throw err;
    }
  }

  /** Runs onAssigned with the partition's committed position; batches of it wait for this. */
  private prepare(p: AssignedPartition<S>, committed: Promise<Map<string, CommittedPosition>>): void {
    const key = `${p.topic}/${p.partition}`;
    p.init = (async () => {
      let position: CommittedPosition | undefined;
      if (this.opts.fence) {
        await this.opts.fence(p);
        // Read only now: the previous owner's last transaction is committed or aborted by the fence.
        position = (await this.readCommitted([p])).get(key);
        if (position && !p.revoked) {
          p.startAt(position.offset);
          this.consumer?.seek({ topic: p.topic, partition: p.partition, offset: position.offset.toString() });
        }
      } else position = (await committed).get(key);
      p.state = (await this.opts.onAssigned?.(p, position)) as S;
    })();
    p.init.catch(() => undefined); // awaited by the partition's next batch, which retries it
  }

  private joinedGroup(memberId: string | undefined, assignment: Record<string, number[]>): void {
    // A new member id: this member was out of the group meanwhile, and every partition may have had another owner.
    const rejoined = this.memberId !== undefined && memberId !== this.memberId;
    this.rebalancing = undefined;
    this.memberId = memberId;
    const owned = new Set(Object.entries(assignment).flatMap(([topic, ps]) => ps.map((p) => `${topic}/${p}`)));
    this.revoke([...this.partitions.entries()].filter(([key]) => rejoined || !owned.has(key)).map(([, p]) => p));
    const added = Object.entries(assignment)
      .flatMap(([topic, ps]) => ps.map((partition) => ({ topic, partition })))
      .filter(({ topic, partition }) => !this.partitions.has(`${topic}/${partition}`));
    // With a fence, each partition's position is read after its own fence (prepare).
    const committed = this.opts.fence ? Promise.resolve(new Map<string, CommittedPosition>()) : this.readCommitted(added);
    for (const { topic, partition } of added) this.assign(topic, partition, committed);
    this.joined = true;
    this.opts.logger.info({ groupId: this.opts.groupId, memberAssignment: assignment, added: added.length }, 'joined consumer group');
  }

  private revoke(lost: AssignedPartition<S>[]): void {
    if (!lost.length) return;
    for (const p of lost) {
      p.revoke();
      this.partitions.delete(`${p.topic}/${p.partition}`);
    }
    this.opts.onRevoked?.(lost);
  }

  private crashed(error: Error, restart: boolean): void {
    this.joined = false;
    this.revoke([...this.partitions.values()]);
    if (restart) {
      this.opts.logger.warn({ err: error, groupId: this.opts.groupId }, 'consumer crashed; kafkajs restarts it');
      return;
    }
    this.opts.logger.error(
      { err: error, groupId: this.opts.groupId },
      'consumer crashed with a non-retriable error; not ready, the process must be restarted',
    );
    this.failedWith = error;
    this.resolveFailure(error);
  }

  private async readCommitted(parts: { topic: string; partition: number }[]): Promise<Map<string, CommittedPosition>> {
    const out = new Map<string, CommittedPosition>();
    const { admin, groupId } = this.opts;
    if (!admin || !parts.length) return out;
    for (const topic of new Set(parts.map((p) => p.topic))) {
      const [committed] = await admin.fetchOffsets({ groupId, topics: [topic] });
      const low = await admin.fetchTopicOffsets(topic);
      for (const { partition } of parts.filter((p) => p.topic === topic)) {
        const c = committed.partitions.find((x) => x.partition === partition);
        out.set(
          `${topic}/${partition}`,
          c && Number(c.offset) >= 0
            ? { offset: BigInt(c.offset), metadata: c.metadata ?? undefined }
            : { offset: BigInt(low.find((o) => o.partition === partition)?.low ?? '0') },
        );
      }
    }
    return out;
  }

  private async commit(p: AssignedPartition<S>, offset: string, metadata: string | undefined): Promise<void> {
    try {
      await this.consumer!.commitOffsets([
        { topic: p.topic, partition: p.partition, offset, ...(metadata !== undefined ? { metadata } : {}) },
      ]);
    } catch (err) {
      // A rebalance or a broker hiccup: the position stays offered, and the next round (a settle, or maintain()) sends it.
      if (Date.now() - this.commitWarnedAt > 10_000) {
        this.commitWarnedAt = Date.now();
        this.opts.logger.warn({ err, topic: p.topic, partition: p.partition, offset }, 'offset commit failed; a later commit covers it');
      }
      throw err;
    }
    this.opts.onCommitted?.(p, offset);
  }

  /** Every second: commits left offered by a failed round, and stall transitions logged once each. */
  private maintain(): void {
    const now = Date.now();
    for (const p of this.partitions.values()) void p.requestCommit();
    const stalled = new Set(this.stalledPartitions(now).map((p) => `${p.topic}/${p.partition}`));
    for (const key of stalled)
      if (!this.stalled.has(key))
        this.opts.logger.error(
          { groupId: this.opts.groupId, partition: key, maxUnsettledAgeMs: this.opts.maxUnsettledAgeMs },
          'partition stalled: its oldest unsettled input is older than the limit; not ready',
        );
    for (const key of this.stalled)
      if (!stalled.has(key)) this.opts.logger.info({ groupId: this.opts.groupId, partition: key }, 'partition no longer stalled');
    this.stalled.clear();
    for (const key of stalled) this.stalled.add(key);
  }

  private stalledPartitions(now: number): AssignedPartition<S>[] {
    return [...this.partitions.values()].filter((p) => now - (p.oldestUnsettledAt() ?? now) > this.opts.maxUnsettledAgeMs);
  }

  /** @internal For the gauge: [topic, partition, age in seconds] of every partition ours. */
  unsettledAges(now: number): [string, number, number][] {
    return [...this.partitions.values()].map((p) => [p.topic, p.partition, (now - (p.oldestUnsettledAt() ?? now)) / 1000]);
  }
}

/** The heartbeating wait of BatchContext.waitForRoom. */
function isRebalancing(err: unknown): boolean {
  const type = (err as { type?: string }).type;
  return type === 'REBALANCE_IN_PROGRESS' || type === 'NOT_COORDINATOR_FOR_GROUP' || type === 'ILLEGAL_GENERATION';
}

async function waitWithHeartbeats(
  budget: ByteBudget,
  heartbeatMs: number,
  active: () => boolean,
  heartbeat: () => Promise<void>,
): Promise<boolean> {
  while (budget.full) {
    if (!active()) return false;
    if (await budget.waitForRoom(heartbeatMs)) break;
    try {
      await heartbeat();
    } catch {
      // REBALANCE_IN_PROGRESS (or the member was dropped): kafkajs rejoins once the handler returns.
      return false;
    }
  }
  return active();
}

interface AgeSource {
  readonly groupId: string;
  unsettledAges(now: number): [string, number, number][];
}

const consumersOf = new WeakMap<Registry, Set<AgeSource>>();

/** One gauge per registry, over every PartitionConsumer registered in it, computed at scrape time. */
function registerAgeGauge(registry: Registry, consumer: AgeSource): void {
  let set = consumersOf.get(registry);
  if (!set) {
    const consumers = new Set<AgeSource>();
    set = consumers;
    consumersOf.set(registry, consumers);
    new Gauge({
      name: 'mplp_consumer_oldest_unsettled_seconds',
      help: 'age of the oldest input of the partition fetched and not yet committed (0: everything committed); past MPLP_KAFKA_MAX_UNSETTLED_AGE /readyz fails',
      labelNames: ['group', 'topic', 'partition'],
      registers: [registry],
      collect() {
        this.reset();
        const now = Date.now();
        for (const c of consumers)
          for (const [topic, partition, age] of c.unsettledAges(now))
            this.set({ group: c.groupId, topic, partition: String(partition) }, age);
      },
    });
  }
  set.add(consumer);
}
