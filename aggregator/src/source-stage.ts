import type { Admin, Kafka, KafkaMessage, Producer } from 'kafkajs';
import type Piscina from 'piscina';
import type { Registry } from 'prom-client';
import {
  AssignedPartition,
  BatchContext,
  CommittedPosition,
  groupTimeouts,
  Logger,
  packBuffers,
  HEADER_SPAN_SUMMARY,
  PartitionConsumer,
} from '../../shared/src';
import { AggregatorSettings, PANE_MS } from './config';
import type { AggregatorMetrics } from './metrics';
import { emptyStats, mergeStats, SeriesId, Stats } from './partial';
import { SeriesCap } from './series-cap';
import type { AggregateResult, AggregateTask, MergePanesTask } from './pane-worker';
import { freshMessages, pastSkipped } from './partition-position';
import { KeyedSerialQueues } from './serial-queue';
import { UpstreamProgress } from './upstream-progress';

/** Value of a message on the internal partials topic. */
export type PartialMessage =
  /** hists: the pane series' encoded histogram pieces, unmerged (their merge is the pane's
   * histogram); `hist`, one merged piece, is read too, so partials already on the topic in that
   * form stay readable after an upgrade. */
  | { t: 'p'; key: string; series: SeriesId; pane: number; src: number; stats: Stats; hists?: string[]; hist?: string }
  /** at: wall clock when this partition's watermark first crossed a pane boundary since the
   * previous watermark message (when windows became closable); sent: just before the produce.
   * Both only for the close→publish measurement; the merge logic never reads them. */
  | { t: 'w'; src: number; w: number; at?: number; sent?: number };

interface PaneSeries {
  series: SeriesId;
  stats: Stats;
  pieces: string[];
}

/**
 * Pieces of one pane series that trigger a background merge: COMPACT_PIECES, or NEAR_PIECES once
 * the pane is within NEAR_CLOSE_MS of closing (watermark ≥ pane end - NEAR_CLOSE_MS), so a closed
 * pane's partial carries ~1-2 pieces (the close itself merges nothing: the merge stage decodes
 * them) without merging at every fetch all pane long. Measured (bench live, 40 series): merging
 * from 2 pieces all the time cost ~20% more CPU for no lower latency.
 */
const COMPACT_PIECES = 8;
const NEAR_PIECES = 2;
const NEAR_CLOSE_MS = 1000;
interface OpenPane {
  firstOffset: bigint;
  watermarkBefore: number;
  series: Map<string, PaneSeries>;
}
interface PartitionState {
  watermark: number;
  /** Panes ending at or before this were published before the last restart. */
  skipThrough: number;
  nextOffset: bigint;
  panes: Map<number, OpenPane>;
  lastDataAt: number;
  caughtUpSince?: number;
  /** Wall clock of the first pane-boundary crossing of the watermark not yet published. */
  crossAt?: number;
  /** A background merge of this partition's pane pieces is running. */
  compacting?: boolean;
}

/** What a source partition's commit carries, so a restart replays deterministically. */
interface CommitMeta {
  w: number;
  skip: number;
}

/**
 * SourceStage: consumes the validated topic, pre-aggregates 5 s panes per source partition in
 * the pool, and publishes each closed pane's partial (keyed by series) plus the partition's
 * watermark to the partials topic. A source offset is committed only once every pane holding
 * spans before it has been published; the commit metadata carries the watermark so a replay
 * after a crash rebuilds the same panes and skips those already published.
 */
const EMPTY = new Uint8Array(0);

/** Per message, its Kafka timestamp capped at `now` (a missing or bad timestamp counts as `now`). */
function recordClocks(msgs: KafkaMessage[], now: number): number[] {
  return msgs.map((m) => {
    const ts = Number(m.timestamp);
    return ts > 0 && ts < now ? ts : now;
  });
}

export class SourceStage {
  private readonly consumer: PartitionConsumer<PartitionState>;
  private readonly parts = new Map<number, PartitionState>();
  private generation = 0;
  /** Per source partition: its publishes and commits in order, never waiting on another partition's. */
  private readonly queues = new KeyedSerialQueues();
  private ticking = false;
  private timer?: NodeJS.Timeout;
  private partialPartitions = 1;
  private readonly cap: SeriesCap;
  private readonly upstream: UpstreamProgress;

  /** rawTopic: the topic the upstream group (MPLP_AGGREGATOR_UPSTREAM_GROUP) consumes to fill `topic`. */
  constructor(
    private readonly d: {
      kafka: Kafka;
      admin: Admin;
      producer: Producer;
      pool: Piscina;
      settings: AggregatorSettings;
      topic: string;
      rawTopic: string;
      metrics: AggregatorMetrics;
      logger: Logger;
      dimensions: string[];
      maxUnsettledAgeMs: number;
      registry?: Registry;
    },
  ) {
    this.cap = new SeriesCap(d.settings.maxSeries, d.settings.seriesExpiryMs, d.settings.maxOverflowSeries);
    const s = d.settings;
    this.upstream = new UpstreamProgress({
      admin: d.admin,
      groupId: s.upstreamGroupId,
      rawTopic: d.rawTopic,
      cacheMs: s.heartbeatIntervalMs,
      logger: d.logger,
    });
    this.consumer = new PartitionConsumer<PartitionState>({
      kafka: d.kafka,
      admin: d.admin,
      groupId: s.groupId,
      topics: [d.topic],
      logger: d.logger,
      registry: d.registry,
      maxUnsettledAgeMs: d.maxUnsettledAgeMs,
      partitionsConsumedConcurrently: s.partitionsConcurrently,
      consumerConfig: {
        maxBytesPerPartition: s.fetchMaxBytesPerPartition,
        maxWaitTimeInMs: s.fetchMaxWaitMs,
        ...groupTimeouts(s.sessionTimeoutMs),
      },
      handleBatch: (batch) => this.onBatch(batch),
      onAssigned: (p, committed) => this.initPartition(p, committed),
      // Work in flight for a lost partition publishes nothing more and commits nothing.
      onRevoked: (lost) => {
        this.generation++;
        for (const p of lost) this.parts.delete(p.partition);
      },
    });
  }

  get ready(): boolean {
    return this.consumer.ready;
  }

  get failure(): Promise<Error> {
    return this.consumer.failure;
  }

  async start(): Promise<void> {
    const { settings: s } = this.d;
    const meta = await this.d.admin.fetchTopicMetadata({ topics: [s.partialsTopic] });
    this.partialPartitions = meta.topics[0].partitions.length;
    await this.consumer.start();
    this.timer = setInterval(() => {
      void this.tick().catch((err) => this.d.logger.warn({ err }, 'source tick failed'));
    }, s.heartbeatIntervalMs);
  }

  /** A partition became ours: its panes are rebuilt by replay from the commit, which carries the watermark. */
  private initPartition(p: AssignedPartition<PartitionState>, pos: CommittedPosition | undefined): PartitionState {
    let meta: CommitMeta = { w: 0, skip: 0 };
    if (pos?.metadata) {
      try {
        meta = JSON.parse(pos.metadata) as CommitMeta;
      } catch {
        /* foreign commit: start plain */
      }
    }
    const st: PartitionState = {
      watermark: meta.w,
      skipThrough: meta.skip,
      nextOffset: pos?.offset ?? 0n,
      panes: new Map(),
      lastDataAt: Date.now(),
    };
    this.parts.set(p.partition, st);
    return st;
  }

  private async onBatch(batch: BatchContext<PartitionState>): Promise<void> {
    // The batch is in hand: if it moves the watermark past a window end, the window is closable now.
    const receivedAt = Date.now();
    const gen = this.generation;
    const partition = batch.partition.partition;
    const st = batch.partition.state;
    const msgs = freshMessages(batch, st.nextOffset, (offset) => this.consumer.seek(batch.partition, offset));
    if (!msgs) return;
    // A record with a span summary is counted from it (a few bytes a span instead of its lz4
    // NDJSON); attribute dimensions need the lines. A null value packs as an empty one: the pane
    // worker reports it like any undecodable record.
    const summaries = new Uint8Array(msgs.length);
    const parts = msgs.map((m, i) => {
      const h = this.d.dimensions.length ? undefined : m.headers?.[HEADER_SPAN_SUMMARY];
      if (Buffer.isBuffer(h)) {
        summaries[i] = 1;
        return h;
      }
      return m.value ?? EMPTY;
    });
    const { buf: ab, bounds } = packBuffers(parts);
    const s = this.d.settings;
    const task: AggregateTask = {
      kind: 'aggregate',
      buf: ab,
      bounds,
      summaries,
      offsets: msgs.map((m) => m.offset),
      clocks: recordClocks(msgs, receivedAt),
      maxSkewMs: s.maxClockSkewMs,
      watermark: st.watermark,
      skipThrough: st.skipThrough,
      latenessMs: s.allowedLatenessMs,
      paneMs: PANE_MS,
      digits: s.hdrDigits,
      exemplars: s.exemplars,
      dimensions: this.d.dimensions,
      maxBytes: s.maxDecompressedBytes,
    };
    const res = (await this.d.pool.run(task, { transferList: [ab] })) as AggregateResult;
    if (gen !== this.generation || !batch.active()) return;
    const before = st.watermark;
    this.absorb(st, res);
    this.noteCrossing(st, before, receivedAt);
    // Past the batch's trailing transaction markers too: caught up means at the end of the log.
    st.nextOffset = BigInt(batch.lastOffset) + 1n;
    // Fetch on from here. Unresolved, kafkajs would fetch again from the committed offset (held
    // back at the oldest open pane): every fetch re-reading the same bytes, and once they pass
    // the fetch size, no progress at all. Commits stay ours (autoCommit is off).
    batch.handedOut(msgs[msgs.length - 1].offset);
    st.lastDataAt = Date.now();
    st.caughtUpSince = undefined;
    this.d.metrics.spans.inc(res.spans);
    this.d.metrics.lateSpans.inc(res.late);
    if (res.badMessages) this.d.metrics.badMessages.inc(res.badMessages);
    if (this.readyPanes(st).length) await this.queues.run(partition, () => this.closeAndCommit(partition, st, gen));
  }

  /** Folds one fetch's groups into the open panes, applying the live-series cap. */
  private absorb(st: PartitionState, res: AggregateResult): void {
    const now = Date.now();
    const k = this.d.settings.exemplars;
    for (const g of res.groups) {
      const { key, series, overflow } = this.cap.admit(g.key, g.series, now);
      if (overflow) this.d.metrics.overflowSpans.inc(g.stats.count);
      if (overflow === 'global') this.d.metrics.globalOverflowSpans.inc(g.stats.count);
      let pane = st.panes.get(g.pane);
      const first = BigInt(g.firstOffset);
      if (!pane) {
        pane = { firstOffset: first, watermarkBefore: g.watermarkBefore, series: new Map() };
        st.panes.set(g.pane, pane);
      } else if (first < pane.firstOffset) {
        pane.firstOffset = first;
        pane.watermarkBefore = g.watermarkBefore;
      }
      let ps = pane.series.get(key);
      if (!ps) {
        ps = { series, stats: emptyStats(), pieces: [] };
        pane.series.set(key, ps);
      }
      mergeStats(ps.stats, g.stats, k);
      if (g.hist) ps.pieces.push(g.hist);
    }
    this.compact(st);
    st.watermark = Math.max(st.watermark, res.watermark);
    this.d.metrics.liveSeries.set(this.cap.size);
    this.d.metrics.overflowSeries.set(this.cap.overflowSize);
  }

  /**
   * Merges the pane series' pieces (one per fetch) in the background while the panes are open.
   * Measured: left to the close, a live pane had ~100 pieces per series (a fetch every ~50 ms),
   * and decoding them all then was most of the close→publish delay. One task per partition at a
   * time, for every series at once (per-series tasks could not keep up: ~40 series × 20 fetches/s
   * per partition), so it stays bounded and a partial carries a few pieces. A result replaces the
   * pieces only if they are still there; merging is order-free, so exact.
   */
  private compact(st: PartitionState): void {
    if (st.compacting) return;
    const jobs: { ps: PaneSeries; taken: string[] }[] = [];
    for (const [start, pane] of st.panes) {
      const min = start + PANE_MS - st.watermark <= NEAR_CLOSE_MS ? NEAR_PIECES : COMPACT_PIECES;
      for (const ps of pane.series.values()) if (ps.pieces.length >= min) jobs.push({ ps, taken: ps.pieces.slice() });
    }
    if (!jobs.length) return;
    st.compacting = true;
    void this.d.pool
      .run({ kind: 'mergePanes', items: jobs.map((j) => j.taken), digits: this.d.settings.hdrDigits } satisfies MergePanesTask)
      .then(
        (r) => {
          jobs.forEach(({ ps, taken }, i) => {
            if (taken.every((p, k) => ps.pieces[k] === p)) ps.pieces = [(r as string[])[i], ...ps.pieces.slice(taken.length)];
          });
        },
        (err) => this.d.logger.warn({ err }, 'pane compaction failed; the merge stage merges the pieces'),
      )
      .finally(() => {
        st.compacting = false;
      });
  }

  private noteCrossing(st: PartitionState, before: number, at: number): void {
    if (st.crossAt === undefined && Math.floor(st.watermark / PANE_MS) > Math.floor(before / PANE_MS)) st.crossAt = at;
  }

  private readyPanes(st: PartitionState): number[] {
    return [...st.panes.keys()].filter((p) => p + PANE_MS <= st.watermark).sort((a, b) => a - b);
  }

  /** Publishes every closed pane of a partition, its watermark, then commits. Runs serialised. */
  private async closeAndCommit(partition: number, st: PartitionState, gen: number): Promise<void> {
    const closedThrough = st.watermark;
    const at = st.crossAt;
    st.crossAt = undefined;
    const ready = this.readyPanes(st);
    const messages: { key?: string; value: string; partition?: number }[] = [];
    for (const paneStart of ready) {
      // No histogram work here (measured: merging the pieces at close, in one thread for every
      // partition closing at once, was the largest part of close→publish): the pieces go as they
      // are, few thanks to the background compaction, and the merge stage decodes them once.
      for (const [key, ps] of st.panes.get(paneStart)!.series) {
        const msg: PartialMessage = {
          t: 'p',
          key,
          series: ps.series,
          pane: paneStart,
          src: partition,
          stats: ps.stats,
          hists: ps.pieces.slice(),
        };
        messages.push({ key, value: JSON.stringify(msg, (_k, v) => (v === Number.POSITIVE_INFINITY ? null : v)) });
      }
    }
    const sent = Date.now();
    for (let q = 0; q < this.partialPartitions; q++) {
      messages.push({
        partition: q,
        value: JSON.stringify({ t: 'w', src: partition, w: closedThrough, at, sent } satisfies PartialMessage),
      });
    }
    // Partials are sent before the watermark that covers them, in one ordered request: the
    // merger sees a pane's partial before it sees this partition's watermark pass the pane.
    await this.d.producer.send({ topic: this.d.settings.partialsTopic, messages, acks: -1 });
    for (const p of ready) st.panes.delete(p);
    this.d.metrics.partialsPublished.inc(messages.length - this.partialPartitions);
    await this.commit(partition, st, gen, closedThrough);
  }

  private async commit(partition: number, st: PartitionState, gen: number, closedThrough: number): Promise<void> {
    if (gen !== this.generation || this.parts.get(partition) !== st) return;
    let offset = st.nextOffset;
    let w = st.watermark;
    for (const pane of st.panes.values())
      if (pane.firstOffset < offset) {
        offset = pane.firstOffset;
        w = pane.watermarkBefore;
      }
    if (offset < 0n) return;
    const meta: CommitMeta = { w: offset === st.nextOffset ? closedThrough : w, skip: closedThrough };
    // A refused commit (rebalance in progress?) stays offered; the next owner replays from the last one made.
    await this.consumer.assignedPartition(this.d.topic, partition)?.commitAt(offset.toString(), JSON.stringify(meta));
  }

  /** Heartbeat: idle partitions (caught up, nothing pending upstream) advance by wall clock, closed panes are published, watermarks re-sent. */
  private async tick(): Promise<void> {
    if (this.ticking) return;
    this.ticking = true;
    try {
      const gen = this.generation;
      const now = Date.now();
      if (this.cap.expire(now)) {
        this.d.metrics.liveSeries.set(this.cap.size);
        this.d.metrics.overflowSeries.set(this.cap.overflowSize);
      }
      // Outside the partition queues: a pane closed by a batch never waits on these round trips.
      // Upstream first, then the validated ends: whatever upstream had committed when it looked
      // drained is already below those ends, so a caught-up partition has really seen it.
      const upstreamPending = await this.upstream.pending(now);
      const high = await this.d.admin.fetchTopicOffsets(this.d.topic);
      await Promise.all(
        this.consumer.assigned(this.d.topic).map(({ partition }) =>
          this.queues.run(partition, async () => {
            const st = this.parts.get(partition);
            if (!st || gen !== this.generation) return;
            const hw = BigInt(high.find((o) => o.partition === partition)?.high ?? '0');
            const assigned = this.consumer.assignedPartition(this.d.topic, partition);
            if (assigned) st.nextOffset = pastSkipped(assigned, st.nextOffset);
            // Input pending upstream is spans on their way here: no partition is idle until it has
            // arrived, and the idle timeout restarts once upstream is drained (README: idleness).
            if (st.nextOffset >= hw && !upstreamPending) {
              st.caughtUpSince ??= now;
              if (now - Math.max(st.caughtUpSince, st.lastDataAt) >= this.d.settings.idleTimeoutMs) {
                const before = st.watermark;
                st.watermark = Math.max(st.watermark, now - this.d.settings.allowedLatenessMs);
                this.noteCrossing(st, before, now);
              }
            } else {
              st.caughtUpSince = undefined;
            }
            await this.closeAndCommit(partition, st, gen);
          }),
        ),
      );
      this.noteLead(now);
    } finally {
      this.ticking = false;
    }
  }

  private noteLead(now: number): void {
    let newest = Number.NEGATIVE_INFINITY;
    for (const st of this.parts.values()) newest = Math.max(newest, st.watermark);
    if (Number.isFinite(newest) && newest > 0) this.d.metrics.watermarkLead.set((newest - now) / 1000);
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    // Handlers and publishes in progress finish and commit while this is still a member.
    await this.consumer.stop(() => this.queues.idle());
  }
}
