import type { Admin, Kafka, Producer } from 'kafkajs';
import type Piscina from 'piscina';
import type { Registry } from 'prom-client';
import { AssignedPartition, BatchContext, CommittedPosition, groupTimeouts, Logger, PartitionConsumer } from '../../shared/src';
import { AlertStates, type AlertEvaluator, type AlertChange, type AlertSnapshotMessage } from './alert-evaluator';
import type { RulesFile } from './alert-rules';
import { AggregatorSettings, PANE_MS, WINDOW_MS } from './config';
import type { AggregatorMetrics } from './metrics';
import { emptyStats, mergeStats, SeriesId, Stats } from './partial';
import type { MergePanesTask, WindowHistogram, WindowsTask } from './pane-worker';
import { freshMessages } from './partition-position';
import { KeyedSerialQueues } from './serial-queue';
import type { SpanMetrics } from './span-metrics';
import type { PartialMessage } from './source-stage';
import { buildWindowRecord, WindowRecord } from './window-record';
import { cachedPane, PaneCache, PanePartials, PreMerge, preMergePlan, StoredPartial, windowHists } from './window-plan';

interface SeriesPanes {
  series: SeriesId;
  panes: PanePartials;
  /**
   * A pane's histograms of every source merged into one, built in the background once the pane
   * is complete, so rebuilding a pre-merge decodes ~12 histograms per series instead of 12 ×
   * source partitions × pieces. A cache only: `of` holds the partials it was made of, and it is
   * used only while they are exactly the pane's partials (a replay replaces one and invalidates it).
   */
  merged: Map<number, PaneCache>;
  /**
   * The next window's histogram merged ahead of time from the partials known so far (see
   * PreMerge): at close, only the partials that arrived since are decoded.
   */
  pre?: PreMerge;
}
/** When a source watermark step happened: for the close→publish measurement only. */
interface WatermarkStep {
  w: number;
  at: number;
  sent: number;
  recv: number;
}

/** Timings of one published window, for the bench and /metrics (all wall-clock ms). */
export interface WindowTiming {
  end: number;
  /** The last source partition's watermark passed end (+ lateness): the window became closable. */
  closableAt: number;
  /** The last of those watermarks was handed to the producer by the source stage. */
  sentAt: number;
  /** The merge stage received it. */
  receivedAt: number;
  /** The window histograms were computed (pool task done). */
  computedAt: number;
  /** The records were acknowledged by Kafka. */
  publishedAt: number;
  records: number;
}

interface MergePartition {
  wm: Map<number, number>;
  steps: Map<number, WatermarkStep[]>;
  series: Map<string, SeriesPanes>;
  /** End of the last window emitted for this partition (restored from the commit metadata). */
  cursor?: number;
  nextOffset: bigint;
  /** Alert state of the series this partition owns (restored from the snapshots a replay reads). */
  alerts: AlertStates;
  /** A background merge (pane caches, then pre-merges) is running. */
  merging?: boolean;
  /** Partials arrived while it ran: run it again when it ends. */
  again?: boolean;
  /** A run of the pre-merge step is due at the end of the quiet after an emit. */
  waiting?: NodeJS.Timeout;
}

/**
 * Pre-merges are rebuilt no sooner than this after a window was emitted: all partitions' windows
 * of one close are computed within tens of ms, and rebuilding every pre-merge then (≈12 decodes
 * per series) would take the cores their window tasks need; the next close is 5 s away. (Pane
 * caches are not held back: while catching up, windows follow each other and need them.)
 */
const QUIET_AFTER_EMIT_MS = 500;

/**
 * WindowMerger: owns partitions of the partials topic (so every series has one owner), keeps
 * partials by (series, pane, source partition) — a replayed partial replaces itself — and emits
 * the 60 s windows ending every 5 s once every source partition's watermark has passed them.
 * Commits keep every partial a future window needs; the metadata carries the last emitted window
 * end so a restart skips windows already published.
 */
export class WindowMerger {
  private consumer?: PartitionConsumer<MergePartition>;
  private readonly parts = new Map<number, MergePartition>();
  private generation = 0;
  private sourcePartitions = 1;
  /** Per partials partition: windows in order, never waiting on another partition's produce. */
  private readonly queues = new KeyedSerialQueues();
  /** No pre-merge step starts before this (wall clock): see QUIET_AFTER_EMIT_MS. */
  private quietUntil = 0;
  /** Called for every published window batch: the bench's probe. */
  onPublished?: (t: WindowTiming) => void;

  constructor(
    private readonly d: {
      kafka: Kafka;
      admin: Admin;
      producer: Producer;
      pool: Piscina;
      mergePool: Piscina;
      settings: AggregatorSettings;
      sourceTopic: string;
      metricsTopic: string;
      alertsTopic: string;
      metrics: AggregatorMetrics;
      logger: Logger;
      rules: RulesFile;
      evaluator: AlertEvaluator;
      maxUnsettledAgeMs: number;
      registry?: Registry;
      spanMetrics?: SpanMetrics;
    },
  ) {}

  /**
   * Per partials partition, the newest window whose newest pane was counted in the span metrics:
   * kept across a revocation, so a partition that comes back (its replay re-emits windows after
   * the committed cursor) never counts a pane twice in this process.
   */
  private readonly spanCountedThrough = new Map<number, number>();

  private get groupId(): string {
    return `${this.d.settings.groupId}-merge`;
  }

  get ready(): boolean {
    return this.consumer?.ready ?? false;
  }

  /** Settles with the error of a non-retriable consumer crash (never before start). */
  readonly failure = new Promise<Error>((resolve) => {
    this.failed = resolve;
  });
  private failed!: (err: Error) => void;

  async start(): Promise<void> {
    const meta = await this.d.admin.fetchTopicMetadata({ topics: [this.d.sourceTopic, this.d.settings.partialsTopic] });
    this.sourcePartitions = meta.topics.find((t) => t.name === this.d.sourceTopic)!.partitions.length;
    const partialsPartitions = meta.topics.find((t) => t.name === this.d.settings.partialsTopic)!.partitions.length;
    this.consumer = new PartitionConsumer<MergePartition>({
      kafka: this.d.kafka,
      admin: this.d.admin,
      groupId: this.groupId,
      topics: [this.d.settings.partialsTopic],
      logger: this.d.logger,
      registry: this.d.registry,
      maxUnsettledAgeMs: this.d.maxUnsettledAgeMs,
      partitionsConsumedConcurrently: partialsPartitions,
      consumerConfig: { maxWaitTimeInMs: this.d.settings.fetchMaxWaitMs, ...groupTimeouts(this.d.settings.sessionTimeoutMs) },
      handleBatch: (batch) => this.onBatch(batch),
      onAssigned: (p, committed) => this.initPartition(p, committed),
      // Work in flight for a lost partition emits nothing more and commits nothing.
      onRevoked: (lost) => {
        this.generation++;
        for (const p of lost) {
          this.parts.delete(p.partition);
          this.d.spanMetrics?.dropPartition(p.partition);
        }
      },
    });
    void this.consumer.failure.then(this.failed);
    await this.consumer.start();
  }

  /** A partition became ours: the commit metadata carries the end of the last window emitted. */
  private initPartition(p: AssignedPartition<MergePartition>, pos: CommittedPosition | undefined): MergePartition {
    let cursor: number | undefined;
    if (pos?.metadata) {
      try {
        cursor = (JSON.parse(pos.metadata) as { cursor?: number }).cursor;
      } catch {
        /* none */
      }
    }
    const st: MergePartition = {
      wm: new Map(),
      steps: new Map(),
      series: new Map(),
      cursor,
      nextOffset: pos?.offset ?? 0n,
      alerts: new AlertStates(),
    };
    this.parts.set(p.partition, st);
    return st;
  }

  private async onBatch(batch: BatchContext<MergePartition>): Promise<void> {
    const gen = this.generation;
    const partition = batch.partition.partition;
    const st = batch.partition.state;
    const msgs = freshMessages(batch, st.nextOffset, (offset) => this.consumer!.seek(batch.partition, offset));
    if (!msgs) return;
    const recv = Date.now();
    for (const m of msgs) {
      if (!m.value) continue;
      let msg: PartialMessage | AlertSnapshotMessage;
      try {
        msg = JSON.parse(m.value.toString('utf8')) as PartialMessage | AlertSnapshotMessage;
      } catch {
        this.d.metrics.badMessages.inc();
        continue;
      }
      if (msg.t === 'a') {
        st.alerts.restore(msg);
      } else if (msg.t === 'w') {
        const prev = st.wm.get(msg.src) ?? Number.NEGATIVE_INFINITY;
        if (msg.w > prev) {
          let steps = st.steps.get(msg.src);
          if (!steps) {
            steps = [];
            st.steps.set(msg.src, steps);
          }
          steps.push({ w: msg.w, at: msg.at ?? msg.sent ?? recv, sent: msg.sent ?? recv, recv });
        }
        st.wm.set(msg.src, Math.max(prev, msg.w));
      } else if (msg.t === 'p') {
        // No future window needs a pane before cursor - 55 s (a replay after it was used).
        if (st.cursor !== undefined && msg.pane < st.cursor - WINDOW_MS + PANE_MS) continue;
        if (msg.stats.minNanos === null) msg.stats.minNanos = Number.POSITIVE_INFINITY;
        let sp = st.series.get(msg.key);
        if (!sp) {
          sp = { series: msg.series, panes: new Map(), merged: new Map() };
          st.series.set(msg.key, sp);
        }
        let bySrc = sp.panes.get(msg.pane);
        if (!bySrc) {
          bySrc = new Map();
          sp.panes.set(msg.pane, bySrc);
        }
        // `hist`: a single piece, as written before partials carried their pieces unmerged.
        const hists = msg.hists ?? (msg.hist ? [msg.hist] : []);
        bySrc.set(msg.src, { pane: msg.pane, src: msg.src, stats: msg.stats, hists, offset: BigInt(m.offset) });
      }
    }
    st.nextOffset = BigInt(msgs[msgs.length - 1].offset) + 1n;
    // Fetch on from here, not again from the commit (held back by partials future windows need).
    batch.handedOut(msgs[msgs.length - 1].offset);
    await this.queues.run(partition, () => this.emitReady(partition, st, gen));
    this.prepare(st, gen);
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
    for (;;) {
      if (gen !== this.generation) return;
      const end = this.nextEnd(st);
      if (end === undefined || end > minW) break;
      const keys: string[] = [];
      const statsList: Stats[] = [];
      const lateList: number[] = [];
      const items: string[][] = [];
      for (const [key, sp] of st.series) {
        const stats = emptyStats();
        let late = 0;
        for (const [pane, bySrc] of sp.panes) {
          if (pane < end - WINDOW_MS || pane >= end) continue;
          for (const part of bySrc.values()) {
            mergeStats(stats, { ...part.stats, lateCount: 0 }, s.exemplars);
            if (pane === end - PANE_MS) late += part.stats.lateCount;
          }
        }
        // The pre-merge plus what arrived since, when it is still valid; else every pane.
        const hists = windowHists(sp.panes, sp.merged, end, sp.pre);
        if (stats.count === 0 && late === 0) continue;
        keys.push(key);
        statsList.push(stats);
        lateList.push(late);
        items.push(hists);
      }
      const hs = items.length
        ? ((await this.d.mergePool.run({ kind: 'windows', items, digits: s.hdrDigits } satisfies WindowsTask)) as WindowHistogram[])
        : [];
      const computedAt = Date.now();
      const records: WindowRecord[] = keys.map((key, i) =>
        buildWindowRecord(key, st.series.get(key)!.series, end, statsList[i], lateList[i], hs[i], s.hdrDigits),
      );
      const changes = this.evaluateAlerts(st, end, records);
      const topicMessages: { topic: string; messages: { key?: string; value: string; partition?: number }[] }[] = [
        { topic: this.d.metricsTopic, messages: records.map((r) => ({ key: r.seriesKey, value: JSON.stringify(r) })) },
        { topic: this.d.alertsTopic, messages: changes.map((c) => ({ key: c.series.key, value: JSON.stringify(c) })) },
        // After the changes, in the same request: a snapshot exists only if its changes were sent.
        { topic: s.partialsTopic, messages: st.alerts.snapshot(end).map((a) => ({ partition, value: JSON.stringify(a) })) },
      ];
      if (topicMessages.some((t) => t.messages.length))
        await this.d.producer.sendBatch({ topicMessages: topicMessages.filter((t) => t.messages.length), acks: -1 });
      const publishedAt = Date.now();
      this.d.metrics.windowsPublished.inc(records.length);
      for (const c of changes) this.d.metrics.alertsPublished.inc({ state: c.state });
      // Not for a partition lost meanwhile: its series already left /metrics (onRevoked).
      if (gen === this.generation) this.countSpans(partition, st, end, keys);
      if (records.length) {
        const t = this.timing(st, end, completedAt, computedAt, publishedAt, records.length);
        this.d.metrics.closeToPublish.observe((publishedAt - t.closableAt) / 1000);
        this.onPublished?.(t);
      }
      st.cursor = end;
      this.quietUntil = Date.now() + QUIET_AFTER_EMIT_MS;
      // Drop panes no later window needs, and series left without panes (expiry).
      const keep = end - WINDOW_MS + PANE_MS;
      for (const [key, sp] of st.series) {
        for (const pane of sp.panes.keys())
          if (pane < keep) {
            sp.panes.delete(pane);
            sp.merged.delete(pane);
          }
        if (sp.panes.size === 0) {
          st.series.delete(key);
          this.d.spanMetrics?.dropSeries(partition, key);
        }
      }
    }
    // Also without a window: input holding no partial (watermarks) is committed past.
    await this.commit(partition, st, gen);
  }

  /**
   * Alert changes of window `end`: rules on its records (not again for a window a restored
   * snapshot already covers), then the entries of series with no later window (no pane a later
   * window needs) or of removed rules are resolved and pruned.
   */
  private evaluateAlerts(st: MergePartition, end: number, records: WindowRecord[]): AlertChange[] {
    if (end <= st.alerts.through) return [];
    const rules = this.d.rules.current;
    const changes: AlertChange[] = [];
    if (rules.length) for (const r of records) changes.push(...this.d.evaluator.evaluate(rules, r, st.alerts));
    st.alerts.through = end;
    if (!st.alerts.size) {
      this.noteAlertStates();
      return changes;
    }
    const keep = end - WINDOW_MS + PANE_MS;
    const alive = (key: string) => {
      const sp = st.series.get(key);
      return !!sp && [...sp.panes.keys()].some((p) => p >= keep);
    };
    changes.push(...this.d.evaluator.expire(rules, st.alerts, end, alive));
    this.noteAlertStates();
    return changes;
  }

  private noteAlertStates(): void {
    let held = 0,
      baselines = 0;
    for (const p of this.parts.values()) {
      held += p.alerts.entries.size;
      baselines += p.alerts.baselines.size;
    }
    this.d.metrics.alertStates.set(held);
    this.d.metrics.anomalyBaselines.set(baselines);
  }

  /**
   * Span metrics: window `end` is the first emitted window holding pane end − 5 s (its partials
   * are all in: every source watermark passed it), so that pane is counted now, once.
   */
  private countSpans(partition: number, st: MergePartition, end: number, keys: string[]): void {
    const sm = this.d.spanMetrics;
    if (!sm || end <= (this.spanCountedThrough.get(partition) ?? Number.NEGATIVE_INFINITY)) return;
    this.spanCountedThrough.set(partition, end);
    for (const key of keys) {
      const sp = st.series.get(key)!;
      const bySrc = sp.panes.get(end - PANE_MS);
      if (!bySrc) continue;
      const pane = emptyStats();
      for (const part of bySrc.values()) mergeStats(pane, { ...part.stats, exemplars: [] }, 0);
      sm.addPane(partition, key, sp.series, pane);
    }
  }

  /** The next window end: after the cursor, and no earlier than the first pane with data. */
  private nextEnd(st: MergePartition): number | undefined {
    const from = st.cursor === undefined ? Number.NEGATIVE_INFINITY : st.cursor - WINDOW_MS + PANE_MS;
    const first = this.earliestPane(st, from);
    if (first === undefined) return undefined;
    const end = first + PANE_MS;
    return st.cursor === undefined ? end : Math.max(end, st.cursor + PANE_MS);
  }

  /**
   * Off the close→publish path, in the big pool (never the window pool), one run per partition
   * at a time, again after each batch or emit: (1) merges each complete pane's partials (see
   * SeriesPanes.merged); (2) extends or rebuilds each series' pre-merge of the next window.
   */
  private prepare(st: MergePartition, gen: number): void {
    if (gen !== this.generation) return;
    if (st.merging) {
      st.again = true;
      return;
    }
    const wait = this.quietUntil - Date.now();
    if (wait > 0 && !st.waiting) {
      st.waiting = setTimeout(() => {
        st.waiting = undefined;
        this.prepare(st, gen);
      }, wait);
      st.waiting.unref();
    }
    st.merging = true;
    st.again = false;
    void this.prepareOnce(st, wait <= 0)
      .catch((err) => this.d.logger.warn({ err }, 'background merge failed; windows merge the partials themselves'))
      .finally(() => {
        st.merging = false;
        if (st.again) this.prepare(st, gen);
      });
  }

  private async prepareOnce(st: MergePartition, preMerges: boolean): Promise<void> {
    const digits = this.d.settings.hdrDigits;
    const minW = this.minWatermark(st);
    const paneJobs: { sp: SeriesPanes; pane: number; of: StoredPartial[]; pieces: string[] }[] = [];
    for (const sp of st.series.values()) {
      for (const [pane, bySrc] of sp.panes) {
        if (pane + PANE_MS > minW || cachedPane(sp.merged, pane, bySrc) !== undefined) continue;
        const of = [...bySrc.values()];
        const pieces = of.flatMap((p) => p.hists);
        if (pieces.length >= 2) paneJobs.push({ sp, pane, of, pieces });
      }
    }
    if (paneJobs.length) {
      const r = (await this.d.pool.run({
        kind: 'mergePanes',
        items: paneJobs.map((j) => j.pieces),
        digits,
      } satisfies MergePanesTask)) as string[];
      r.forEach((hist, i) => paneJobs[i].sp.merged.set(paneJobs[i].pane, { hist, of: paneJobs[i].of }));
    }
    if (!preMerges || Date.now() < this.quietUntil) return;
    const end = this.nextEnd(st);
    if (end === undefined) return;
    const preJobs: { sp: SeriesPanes; of: Set<StoredPartial>; pieces: string[] }[] = [];
    for (const sp of st.series.values()) {
      const plan = preMergePlan(sp.panes, sp.merged, end, sp.pre);
      if (!plan) continue;
      if (plan.pieces.length === 1) sp.pre = { end, hist: plan.pieces[0], of: plan.of };
      else preJobs.push({ sp, ...plan });
    }
    if (!preJobs.length) return;
    const r = (await this.d.pool.run({
      kind: 'mergePanes',
      items: preJobs.map((j) => j.pieces),
      digits,
    } satisfies MergePanesTask)) as string[];
    // Whatever happened meanwhile, each result is exactly the merge of its `of`: validity is
    // checked (by reference) when a window uses it.
    r.forEach((hist, i) => {
      preJobs[i].sp.pre = { end, hist, of: preJobs[i].of };
    });
  }

  /** When window `end` became closable: the latest, over source partitions, of the first watermark step past it. */
  private timing(
    st: MergePartition,
    end: number,
    receivedFallback: number,
    computedAt: number,
    publishedAt: number,
    records: number,
  ): WindowTiming {
    let closableAt = 0,
      sentAt = 0,
      receivedAt = 0;
    for (let p = 0; p < this.sourcePartitions; p++) {
      const step = st.steps.get(p)?.find((x) => x.w >= end);
      closableAt = Math.max(closableAt, step?.at ?? receivedFallback);
      sentAt = Math.max(sentAt, step?.sent ?? receivedFallback);
      receivedAt = Math.max(receivedAt, step?.recv ?? receivedFallback);
    }
    // Steps below the next window end are no longer needed (the newest one always stays).
    for (const steps of st.steps.values()) {
      let drop = 0;
      while (drop < steps.length - 1 && steps[drop].w < end + PANE_MS) drop++;
      if (drop) steps.splice(0, drop);
    }
    return { end, closableAt, sentAt, receivedAt, computedAt, publishedAt, records };
  }

  private async commit(partition: number, st: MergePartition, gen: number): Promise<void> {
    if (gen !== this.generation) return;
    let offset = st.nextOffset;
    for (const sp of st.series.values())
      for (const bySrc of sp.panes.values()) for (const p of bySrc.values()) if (p.offset < offset) offset = p.offset;
    // A refused commit (rebalance in progress?) stays offered; the next owner replays from the last one made.
    await this.consumer
      ?.assignedPartition(this.d.settings.partialsTopic, partition)
      ?.commitAt(offset.toString(), JSON.stringify({ cursor: st.cursor }));
  }

  async stop(): Promise<void> {
    // Windows in progress finish and commit while this is still a member.
    await this.consumer?.stop(() => this.queues.idle());
  }
}
