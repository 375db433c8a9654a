import type { Admin, Consumer, EachBatchPayload, Kafka, Producer } from 'kafkajs';
import type Piscina from 'piscina';
import type { Logger } from '../../shared/src';
import { AggregatorSettings, PANE_MS } from './config';
import type { AggregatorMetrics } from './metrics';
import { emptyStats, mergeStats, OVERFLOW_OPERATION, SeriesId, seriesKey, Stats } from './partial';
import type { AggregateResult, AggregateTask, MergePanesTask } from './pane-worker';
import { SerialQueue } from './serial-queue';

/** Value of a message on the internal partials topic. */
export type PartialMessage =
  | { t: 'p'; key: string; series: SeriesId; pane: number; src: number; stats: Stats; hist?: string }
  | { t: 'w'; src: number; w: number };

interface PaneSeries { series: SeriesId; stats: Stats; pieces: string[] }
interface OpenPane { firstOffset: bigint; watermarkBefore: number; series: Map<string, PaneSeries> }
interface PartitionState {
  watermark: number;
  /** Panes ending at or before this were published before the last restart. */
  skipThrough: number;
  nextOffset: bigint;
  panes: Map<number, OpenPane>;
  lastDataAt: number;
  caughtUpSince?: number;
}

/** What a source partition's commit carries, so a restart replays deterministically. */
interface CommitMeta { w: number; skip: number }

/**
 * SourceStage: consumes the validated topic, pre-aggregates 5 s panes per source partition in
 * the pool, and publishes each closed pane's partial (keyed by series) plus the partition's
 * watermark to the partials topic. A source offset is committed only once every pane holding
 * spans before it has been published; the commit metadata carries the watermark so a replay
 * after a crash rebuilds the same panes and skips those already published.
 */
export class SourceStage {
  private consumer?: Consumer;
  private readonly parts = new Map<number, PartitionState>();
  private assigned: number[] = [];
  private generation = 0;
  private readonly queue = new SerialQueue();
  private timer?: NodeJS.Timeout;
  private partialPartitions = 1;
  private readonly live = new Map<string, number>();
  joined = false;

  constructor(private readonly d: {
    kafka: Kafka; admin: Admin; producer: Producer; pool: Piscina; settings: AggregatorSettings; topic: string;
    metrics: AggregatorMetrics; logger: Logger; dimensions: string[];
  }) {}

  async start(): Promise<void> {
    const { settings: s } = this.d;
    const meta = await this.d.admin.fetchTopicMetadata({ topics: [s.partialsTopic] });
    this.partialPartitions = meta.topics[0].partitions.length;
    const consumer = this.d.kafka.consumer({ groupId: s.groupId, maxBytesPerPartition: s.fetchMaxBytesPerPartition, maxWaitTimeInMs: 250 });
    this.consumer = consumer;
    consumer.on(consumer.events.GROUP_JOIN, (e) => {
      // Every rebalance restarts each partition from its commit: state built since is dropped,
      // and replay rebuilds it exactly (deterministic panes).
      this.generation++;
      this.parts.clear();
      this.assigned = (e.payload.memberAssignment[this.d.topic] ?? []).slice().sort((a, b) => a - b);
      this.joined = true;
    });
    await consumer.connect();
    await consumer.subscribe({ topic: this.d.topic, fromBeginning: true });
    await consumer.run({
      autoCommit: false,
      eachBatchAutoResolve: false,
      partitionsConsumedConcurrently: s.partitionsConcurrently,
      eachBatch: (p) => this.onBatch(p),
    });
    this.timer = setInterval(() => { void this.queue.run(() => this.tick()).catch((err) => this.d.logger.warn({ err }, 'source tick failed')); }, s.heartbeatIntervalMs);
  }

  private async initPartition(partition: number, gen: number): Promise<PartitionState | undefined> {
    const [res] = await this.d.admin.fetchOffsets({ groupId: this.d.settings.groupId, topics: [this.d.topic] });
    const committed = res.partitions.find((p) => p.partition === partition);
    let nextOffset = -1n;
    let meta: CommitMeta = { w: 0, skip: 0 };
    if (committed && Number(committed.offset) >= 0) {
      nextOffset = BigInt(committed.offset);
      if (committed.metadata) { try { meta = JSON.parse(committed.metadata) as CommitMeta; } catch { /* foreign commit: start plain */ } }
    } else {
      const offs = await this.d.admin.fetchTopicOffsets(this.d.topic);
      nextOffset = BigInt(offs.find((o) => o.partition === partition)?.low ?? '0');
    }
    if (gen !== this.generation) return undefined;
    const st: PartitionState = { watermark: meta.w, skipThrough: meta.skip, nextOffset, panes: new Map(), lastDataAt: Date.now() };
    this.parts.set(partition, st);
    return st;
  }

  private async onBatch({ batch, isStale }: EachBatchPayload): Promise<void> {
    const gen = this.generation;
    const partition = batch.partition;
    const st = this.parts.get(partition) ?? await this.initPartition(partition, gen);
    if (!st || gen !== this.generation || isStale()) return;
    const msgs = batch.messages.filter((m) => BigInt(m.offset) >= st.nextOffset);
    if (msgs.length === 0) return;
    if (BigInt(msgs[0].offset) > st.nextOffset) {
      // The consumer's position is ahead of our commit (kept across a rebalance): go back so
      // the panes are rebuilt from their first span.
      this.consumer!.seek({ topic: this.d.topic, partition, offset: st.nextOffset.toString() });
      return;
    }
    let total = 0;
    for (const m of msgs) total += m.value?.length ?? 0;
    const ab = new ArrayBuffer(total);
    const view = new Uint8Array(ab);
    const bounds = new Int32Array(msgs.length * 2);
    let pos = 0;
    msgs.forEach((m, i) => {
      bounds[2 * i] = pos;
      if (m.value) { view.set(m.value, pos); pos += m.value.length; }
      bounds[2 * i + 1] = pos;
    });
    const s = this.d.settings;
    const task: AggregateTask = {
      kind: 'aggregate', buf: ab, bounds, offsets: msgs.map((m) => m.offset), watermark: st.watermark, skipThrough: st.skipThrough,
      latenessMs: s.allowedLatenessMs, paneMs: PANE_MS, hdr: { digits: s.hdrDigits, wasm: s.hdrWasm }, exemplars: s.exemplars,
      dimensions: this.d.dimensions, maxBytes: s.maxDecompressedBytes,
    };
    const res = await this.d.pool.run(task, { transferList: [ab] }) as AggregateResult;
    if (gen !== this.generation || isStale()) return;
    this.absorb(st, res);
    st.nextOffset = BigInt(msgs[msgs.length - 1].offset) + 1n;
    st.lastDataAt = Date.now();
    st.caughtUpSince = undefined;
    this.d.metrics.spans.inc(res.spans);
    this.d.metrics.lateSpans.inc(res.late);
    if (res.badMessages) this.d.metrics.badMessages.inc(res.badMessages);
    if (this.readyPanes(st).length) await this.queue.run(() => this.closeAndCommit(partition, st, gen));
  }

  /** Folds one fetch's groups into the open panes, applying the live-series cap. */
  private absorb(st: PartitionState, res: AggregateResult): void {
    const now = Date.now();
    const k = this.d.settings.exemplars;
    for (const g of res.groups) {
      let key = g.key;
      let series = g.series;
      if (!this.live.has(key) && this.live.size >= this.d.settings.maxSeries) {
        series = { service: g.series.service, operation: OVERFLOW_OPERATION, kind: 'INTERNAL' };
        key = seriesKey(series);
        this.d.metrics.overflowSpans.inc(g.stats.count);
      }
      this.live.set(key, now);
      let pane = st.panes.get(g.pane);
      const first = BigInt(g.firstOffset);
      if (!pane) { pane = { firstOffset: first, watermarkBefore: g.watermarkBefore, series: new Map() }; st.panes.set(g.pane, pane); }
      else if (first < pane.firstOffset) { pane.firstOffset = first; pane.watermarkBefore = g.watermarkBefore; }
      let ps = pane.series.get(key);
      if (!ps) { ps = { series, stats: emptyStats(), pieces: [] }; pane.series.set(key, ps); }
      mergeStats(ps.stats, g.stats, k);
      if (g.hist) ps.pieces.push(g.hist);
    }
    st.watermark = Math.max(st.watermark, res.watermark);
    this.d.metrics.liveSeries.set(this.live.size);
  }

  private readyPanes(st: PartitionState): number[] {
    return [...st.panes.keys()].filter((p) => p + PANE_MS <= st.watermark).sort((a, b) => a - b);
  }

  /** Publishes every closed pane of a partition, its watermark, then commits. Runs serialised. */
  private async closeAndCommit(partition: number, st: PartitionState, gen: number): Promise<void> {
    const closedThrough = st.watermark;
    const ready = this.readyPanes(st);
    const hdr = { digits: this.d.settings.hdrDigits, wasm: this.d.settings.hdrWasm };
    const messages: { key?: string; value: string; partition?: number }[] = [];
    for (const paneStart of ready) {
      const pane = st.panes.get(paneStart)!;
      const entries = [...pane.series.entries()];
      const multi = entries.filter(([, ps]) => ps.pieces.length > 1);
      if (multi.length) {
        const merged = await this.d.pool.run({ kind: 'mergePanes', items: multi.map(([, ps]) => ps.pieces), hdr } satisfies MergePanesTask) as string[];
        multi.forEach(([, ps], i) => { ps.pieces = [merged[i]]; });
      }
      for (const [key, ps] of entries) {
        const msg: PartialMessage = { t: 'p', key, series: ps.series, pane: paneStart, src: partition, stats: ps.stats, hist: ps.pieces[0] };
        messages.push({ key, value: JSON.stringify(msg, (_k, v) => (v === Number.POSITIVE_INFINITY ? null : v)) });
      }
    }
    for (let q = 0; q < this.partialPartitions; q++) {
      messages.push({ partition: q, value: JSON.stringify({ t: 'w', src: partition, w: closedThrough } satisfies PartialMessage) });
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
    for (const pane of st.panes.values()) if (pane.firstOffset < offset) { offset = pane.firstOffset; w = pane.watermarkBefore; }
    if (offset < 0n) return;
    const meta: CommitMeta = { w: offset === st.nextOffset ? closedThrough : w, skip: closedThrough };
    try {
      await this.consumer!.commitOffsets([{ topic: this.d.topic, partition, offset: offset.toString(), metadata: JSON.stringify(meta) }]);
    } catch (err) {
      this.d.logger.warn({ err, partition }, 'commit refused (rebalance in progress?); the next owner replays');
    }
  }

  /** Heartbeat: idle partitions advance by wall clock, closed panes are published, watermarks re-sent. */
  private async tick(): Promise<void> {
    if (!this.joined) return;
    const gen = this.generation;
    const now = Date.now();
    for (const [key, at] of this.live) if (now - at > this.d.settings.seriesExpiryMs) this.live.delete(key);
    const high = await this.d.admin.fetchTopicOffsets(this.d.topic);
    for (const partition of this.assigned) {
      if (gen !== this.generation) return;
      const st = this.parts.get(partition) ?? await this.initPartition(partition, gen);
      if (!st) return;
      const hw = BigInt(high.find((o) => o.partition === partition)?.high ?? '0');
      if (st.nextOffset >= hw) {
        st.caughtUpSince ??= now;
        if (now - Math.max(st.caughtUpSince, st.lastDataAt) >= this.d.settings.idleTimeoutMs) {
          st.watermark = Math.max(st.watermark, now - this.d.settings.allowedLatenessMs);
        }
      } else {
        st.caughtUpSince = undefined;
      }
      await this.closeAndCommit(partition, st, gen);
    }
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    await this.consumer?.stop();
    await this.queue.idle();
    await this.consumer?.disconnect();
  }
}
