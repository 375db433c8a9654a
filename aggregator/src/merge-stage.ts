import type { Admin, Consumer, EachBatchPayload, Kafka, Producer } from 'kafkajs';
import type Piscina from 'piscina';
import type { Logger } from '../../shared/src';
import type { AlertEvaluator, AlertChange } from './alert-evaluator';
import type { RulesFile } from './alert-rules';
import { AggregatorSettings, PANE_MS, WINDOW_MS } from './config';
import type { AggregatorMetrics } from './metrics';
import { emptyStats, mergeStats, SeriesId, Stats } from './partial';
import type { WindowHistogram, WindowsTask } from './pane-worker';
import { SerialQueue } from './serial-queue';
import type { PartialMessage } from './source-stage';
import { buildWindowRecord, WindowRecord } from './window-record';

interface StoredPartial { stats: Stats; hist?: string; offset: bigint }
interface SeriesPanes { series: SeriesId; panes: Map<number, Map<number, StoredPartial>> }
interface MergePartition {
  wm: Map<number, number>;
  series: Map<string, SeriesPanes>;
  /** End of the last window emitted for this partition (restored from the commit metadata). */
  cursor?: number;
  nextOffset: bigint;
}

/**
 * WindowMerger: owns partitions of the partials topic (so every series has one owner), keeps
 * partials by (series, pane, source partition) — a replayed partial replaces itself — and emits
 * the 60 s windows ending every 5 s once every source partition's watermark has passed them.
 * Commits keep every partial a future window needs; the metadata carries the last emitted window
 * end so a restart skips windows already published.
 */
export class WindowMerger {
  private consumer?: Consumer;
  private readonly parts = new Map<number, MergePartition>();
  private generation = 0;
  private sourcePartitions = 1;
  private readonly queue = new SerialQueue();
  /** Called with (windowEnd, completedAt, publishedAt) for every published window batch: the bench's probe. */
  onPublished?: (windowEnd: number, completedAt: number, publishedAt: number, records: number) => void;
  joined = false;

  constructor(private readonly d: {
    kafka: Kafka; admin: Admin; producer: Producer; pool: Piscina; settings: AggregatorSettings; sourceTopic: string;
    metricsTopic: string; alertsTopic: string; metrics: AggregatorMetrics; logger: Logger; rules: RulesFile; evaluator: AlertEvaluator;
  }) {}

  private get groupId(): string { return `${this.d.settings.groupId}-merge`; }

  async start(): Promise<void> {
    const meta = await this.d.admin.fetchTopicMetadata({ topics: [this.d.sourceTopic] });
    this.sourcePartitions = meta.topics[0].partitions.length;
    const consumer = this.d.kafka.consumer({ groupId: this.groupId, maxWaitTimeInMs: 100 });
    this.consumer = consumer;
    consumer.on(consumer.events.GROUP_JOIN, () => { this.generation++; this.parts.clear(); this.joined = true; });
    await consumer.connect();
    await consumer.subscribe({ topic: this.d.settings.partialsTopic, fromBeginning: true });
    await consumer.run({ autoCommit: false, eachBatchAutoResolve: false, partitionsConsumedConcurrently: 1, eachBatch: (p) => this.onBatch(p) });
  }

  private async initPartition(partition: number, gen: number): Promise<MergePartition | undefined> {
    const [res] = await this.d.admin.fetchOffsets({ groupId: this.groupId, topics: [this.d.settings.partialsTopic] });
    const c = res.partitions.find((p) => p.partition === partition);
    let nextOffset: bigint;
    let cursor: number | undefined;
    if (c && Number(c.offset) >= 0) {
      nextOffset = BigInt(c.offset);
      try { cursor = (JSON.parse(c.metadata ?? '{}') as { cursor?: number }).cursor; } catch { /* none */ }
    } else {
      const offs = await this.d.admin.fetchTopicOffsets(this.d.settings.partialsTopic);
      nextOffset = BigInt(offs.find((o) => o.partition === partition)?.low ?? '0');
    }
    if (gen !== this.generation) return undefined;
    const st: MergePartition = { wm: new Map(), series: new Map(), cursor, nextOffset };
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
      this.consumer!.seek({ topic: this.d.settings.partialsTopic, partition, offset: st.nextOffset.toString() });
      return;
    }
    for (const m of msgs) {
      if (!m.value) continue;
      let msg: PartialMessage;
      try { msg = JSON.parse(m.value.toString('utf8')) as PartialMessage; } catch { this.d.metrics.badMessages.inc(); continue; }
      if (msg.t === 'w') {
        st.wm.set(msg.src, Math.max(st.wm.get(msg.src) ?? Number.NEGATIVE_INFINITY, msg.w));
      } else if (msg.t === 'p') {
        // No future window needs a pane before cursor - 55 s (a replay after it was used).
        if (st.cursor !== undefined && msg.pane < st.cursor - WINDOW_MS + PANE_MS) continue;
        if (msg.stats.minNanos === null) msg.stats.minNanos = Number.POSITIVE_INFINITY;
        let sp = st.series.get(msg.key);
        if (!sp) { sp = { series: msg.series, panes: new Map() }; st.series.set(msg.key, sp); }
        let bySrc = sp.panes.get(msg.pane);
        if (!bySrc) { bySrc = new Map(); sp.panes.set(msg.pane, bySrc); }
        bySrc.set(msg.src, { stats: msg.stats, hist: msg.hist, offset: BigInt(m.offset) });
      }
    }
    st.nextOffset = BigInt(msgs[msgs.length - 1].offset) + 1n;
    await this.queue.run(() => this.emitReady(partition, st, gen));
  }

  private minWatermark(st: MergePartition): number {
    let min = Number.POSITIVE_INFINITY;
    for (let p = 0; p < this.sourcePartitions; p++) min = Math.min(min, st.wm.get(p) ?? Number.NEGATIVE_INFINITY);
    return min;
  }

  private earliestPane(st: MergePartition, from: number): number | undefined {
    let min: number | undefined;
    for (const sp of st.series.values()) for (const p of sp.panes.keys()) if (p >= from && (min === undefined || p < min)) min = p;
    return min;
  }

  /** Emits every window of this partition that all source watermarks have passed, in order. */
  private async emitReady(partition: number, st: MergePartition, gen: number): Promise<void> {
    const completedAt = Date.now();
    const minW = this.minWatermark(st);
    if (Number.isFinite(minW)) this.d.metrics.watermarkLag.set(Math.max(0, (Date.now() - minW) / 1000));
    const s = this.d.settings;
    const hdr = { digits: s.hdrDigits, wasm: s.hdrWasm };
    let emitted = false;
    for (;;) {
      if (gen !== this.generation) return;
      // The next window end: after the cursor, and no earlier than the first pane with data.
      const from = st.cursor === undefined ? Number.NEGATIVE_INFINITY : st.cursor - WINDOW_MS + PANE_MS;
      const first = this.earliestPane(st, from);
      if (first === undefined) break;
      let end = first + PANE_MS;
      if (st.cursor !== undefined) end = Math.max(end, st.cursor + PANE_MS);
      if (end > minW) break;
      const keys: string[] = [];
      const statsList: Stats[] = [];
      const lateList: number[] = [];
      const items: string[][] = [];
      for (const [key, sp] of st.series) {
        const stats = emptyStats();
        const hists: string[] = [];
        let late = 0;
        for (const [pane, bySrc] of sp.panes) {
          if (pane < end - WINDOW_MS || pane >= end) continue;
          for (const part of bySrc.values()) {
            mergeStats(stats, { ...part.stats, lateCount: 0 }, s.exemplars);
            if (pane === end - PANE_MS) late += part.stats.lateCount;
            if (part.hist) hists.push(part.hist);
          }
        }
        if (stats.count === 0 && late === 0) continue;
        keys.push(key); statsList.push(stats); lateList.push(late); items.push(hists);
      }
      const hs = items.length ? await this.d.pool.run({ kind: 'windows', items, hdr } satisfies WindowsTask) as WindowHistogram[] : [];
      const records: WindowRecord[] = keys.map((key, i) => buildWindowRecord(key, st.series.get(key)!.series, end, statsList[i], lateList[i], hs[i], s.hdrDigits));
      const changes: AlertChange[] = [];
      const rules = this.d.rules.current;
      if (rules.length) for (const r of records) changes.push(...this.d.evaluator.evaluate(rules, r));
      const topicMessages = [{ topic: this.d.metricsTopic, messages: records.map((r) => ({ key: r.seriesKey, value: JSON.stringify(r) })) }];
      if (changes.length) topicMessages.push({ topic: this.d.alertsTopic, messages: changes.map((c) => ({ key: c.series.key, value: JSON.stringify(c) })) });
      if (records.length) await this.d.producer.sendBatch({ topicMessages, acks: -1 });
      const publishedAt = Date.now();
      this.d.metrics.windowsPublished.inc(records.length);
      for (const c of changes) this.d.metrics.alertsPublished.inc({ state: c.state });
      if (records.length) { this.d.metrics.closeToPublish.observe((publishedAt - completedAt) / 1000); this.onPublished?.(end, completedAt, publishedAt, records.length); }
      st.cursor = end;
      emitted = true;
      // Drop panes no later window needs, and series left without panes (expiry).
      const keep = end - WINDOW_MS + PANE_MS;
      for (const [key, sp] of st.series) {
        for (const pane of sp.panes.keys()) if (pane < keep) sp.panes.delete(pane);
        if (sp.panes.size === 0) st.series.delete(key);
      }
    }
    if (emitted) await this.commit(partition, st, gen);
  }

  private async commit(partition: number, st: MergePartition, gen: number): Promise<void> {
    if (gen !== this.generation) return;
    let offset = st.nextOffset;
    for (const sp of st.series.values()) for (const bySrc of sp.panes.values()) for (const p of bySrc.values()) if (p.offset < offset) offset = p.offset;
    try {
      await this.consumer!.commitOffsets([{ topic: this.d.settings.partialsTopic, partition, offset: offset.toString(), metadata: JSON.stringify({ cursor: st.cursor }) }]);
    } catch (err) {
      this.d.logger.warn({ err, partition }, 'merge commit refused (rebalance in progress?); the next owner replays');
    }
  }

  async stop(): Promise<void> {
    await this.consumer?.stop();
    await this.queue.idle();
    await this.consumer?.disconnect();
  }
}
