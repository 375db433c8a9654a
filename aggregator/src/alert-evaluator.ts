import type { AlertRecord, AnomalyDetail } from '../../shared/src';
import type { AlertRule, AnomalyRule, ThresholdRule } from './alert-rules';
import { Baseline, judge, Judgement, learn } from './anomaly';
import { WINDOW_MS } from './config';
import type { WindowRecord } from './window-record';

/** A record of `mplp.alerts` as this evaluator makes it. */
export type AlertChange = AlertRecord;
export type { AnomalyDetail };

/**
 * The state of one (rule, series) that is firing or about to change. Absent means "not firing,
 * nothing pending": entries exist only while they matter, so the map stays as small as the set
 * of firing and pending alerts.
 */
export interface AlertEntry {
  ruleId: string;
  seriesKey: string;
  firing: boolean;
  /** First window end of the current run of windows that disagree with `firing`. */
  since?: number;
  /** While firing: the change that fired it, to resolve it if the series or the rule goes away. */
  fired?: AlertChange;
  /** Value of the last evaluated window. */
  value: number;
}

/**
 * A partition's alert state after window `end`, on the partials topic (same partition): written
 * with the window's records and alert changes, in chunks of SNAPSHOT_CHUNK entries (`seq` from 0,
 * `last` on the final one) so no message nears the topic's size limit.
 */
export interface AlertSnapshotMessage {
  t: 'a';
  end: number;
  seq: number;
  last: boolean;
  alerts: AlertEntry[];
  baselines?: Baseline[];
}
export const SNAPSHOT_CHUNK = 500;

/**
 * Alert state of one partials partition (the series it owns). It survives a restart or a
 * rebalance through the snapshots: the partition's commit is never past the latest one (it
 * keeps the partials of the series the entries are about), so the next owner's replay reads it.
 */
export class AlertStates {
  readonly entries = new Map<string, AlertEntry>();
  /** Learned baselines of anomaly rules, by the same key as the entries. */
  readonly baselines = new Map<string, Baseline>();
  /** Windows ending at or before this are already reflected in `entries` (evaluated or restored). */
  through = Number.NEGATIVE_INFINITY;
  /** The last snapshot written held entries: the next one is due even if empty. */
  private snapshotHeld = false;
  private restoring?: { end: number; next: number; entries: AlertEntry[]; baselines: Baseline[] };

  static key(ruleId: string, seriesKey: string): string {
    return `${ruleId}\u0000${seriesKey}`;
  }

  /**
   * Takes in a snapshot chunk read from the partials topic. A complete snapshot newer than what
   * the state reflects (a replay) replaces it; an older one (our own, read back) is ignored.
   */
  restore(m: AlertSnapshotMessage): void {
    if (m.end <= this.through) return;
    if (m.seq === 0) this.restoring = { end: m.end, next: 0, entries: [], baselines: [] };
    const r = this.restoring;
    if (!r || r.end !== m.end || r.next !== m.seq) {
      this.restoring = undefined;
      return;
    } // a torn snapshot: keep the previous one
    r.entries.push(...m.alerts);
    if (m.baselines) r.baselines.push(...m.baselines);
    r.next++;
    if (!m.last) return;
    this.restoring = undefined;
    this.entries.clear();
    this.baselines.clear();
    for (const e of r.entries) this.entries.set(AlertStates.key(e.ruleId, e.seriesKey), e);
    for (const b of r.baselines) this.baselines.set(AlertStates.key(b.ruleId, b.seriesKey), b);
    this.through = m.end;
    this.snapshotHeld = r.entries.length + r.baselines.length > 0;
  }

  get size(): number {
    return this.entries.size + this.baselines.size;
  }

  /** The snapshot to write after window `end`: none when empty and the last one written was empty too. */
  snapshot(end: number): AlertSnapshotMessage[] {
    if (!this.size && !this.snapshotHeld) return [];
    this.snapshotHeld = this.size > 0;
    const alerts = [...this.entries.values()];
    const baselines = [...this.baselines.values()];
    const total = alerts.length + baselines.length;
    const out: AlertSnapshotMessage[] = [];
    // Chunks of SNAPSHOT_CHUNK items: the alert entries first, then the baselines.
    for (let i = 0; i === 0 || i < total; i += SNAPSHOT_CHUNK) {
      const j = i + SNAPSHOT_CHUNK;
      const m: AlertSnapshotMessage = { t: 'a', end, seq: out.length, last: j >= total, alerts: alerts.slice(i, j) };
      const b = baselines.slice(Math.max(0, i - alerts.length), Math.max(0, j - alerts.length));
      if (b.length) m.baselines = b;
      out.push(m);
    }
    return out;
  }
}

function metricValue(r: WindowRecord, path: string): number {
  if (path.startsWith('latencyMs.')) return r.latencyMs[path.slice(10) as keyof WindowRecord['latencyMs']];
  return (r as unknown as Record<string, number>)[path];
}

function holds(v: number, op: string, t: number): boolean {
  switch (op) {
    case '>':
      return v > t;
    case '>=':
      return v >= t;
    case '<':
      return v < t;
    default:
      return v <= t;
  }
}

/**
 * AlertEvaluator: threshold and anomaly rules on each window, through one per (rule, series)
 * state machine (`step`). The state is the caller's (one AlertStates per partials partition,
 * baselines included), so it moves with the partition.
 */
export class AlertEvaluator {
  evaluate(rules: readonly AlertRule[], r: WindowRecord, states: AlertStates, now = Date.now()): AlertChange[] {
    const out: AlertChange[] = [];
    for (const rule of rules) {
      const sel = rule.selector;
      if (sel.service && sel.service !== '*' && sel.service !== r.service) continue;
      if (sel.operation && sel.operation !== '*' && sel.operation !== r.operation) continue;
      if (sel.kind && sel.kind !== '*' && sel.kind !== r.kind) continue;
      const change = rule.type === 'anomaly' ? this.anomaly(rule, r, states, now) : this.threshold(rule, r, states, now);
      if (change) out.push(change);
    }
    return out;
  }

  private threshold(rule: ThresholdRule, r: WindowRecord, states: AlertStates, now: number): AlertChange | undefined {
    const value = metricValue(r, rule.metric);
    return step(states, rule, r, value, holds(value, rule.op, rule.threshold), (breach) => ({
      ...changeBase(rule.id, r, breach, now),
      metric: rule.metric,
      comparison: rule.op,
      value,
      threshold: rule.threshold,
      forSeconds: rule.forMs / 1000,
    }));
  }

  /**
   * An anomaly rule: the window is judged against the series' baseline as learned from the
   * windows before it, then learned (unless below minCount). The state machine is the threshold
   * rules' one (`windows` in a row to fire and to resolve).
   */
  private anomaly(rule: AnomalyRule, r: WindowRecord, states: AlertStates, now: number): AlertChange | undefined {
    // Sliding windows overlap (60 s every 5 s): judged every 5 s, one slow span would breach 12
    // windows in a row and the baseline's variance would be that of overlapping, correlated
    // samples. Only windows ending on a window-length boundary are judged and learned.
    if (Date.parse(r.windowEnd) % WINDOW_MS !== 0) return undefined;
    const value = metricValue(r, rule.metric);
    const k = AlertStates.key(rule.id, r.seriesKey);
    let b = states.baselines.get(k);
    if (b && b.metric !== rule.metric) b = undefined;
    const j: Judgement = judge(rule, b, value, r.count);
    const baselineWindows = b?.n ?? 0;
    if (r.count >= rule.minCount && Number.isFinite(value)) {
      if (!b) {
        b = { ruleId: rule.id, seriesKey: r.seriesKey, metric: rule.metric, n: 0, mean: 0, variance: 0 };
        states.baselines.set(k, b);
      }
      learn(rule, b, value);
    }
    return step(states, rule, r, value, j.breach, (breach) => ({
      ...changeBase(rule.id, r, breach, now),
      metric: rule.metric,
      comparison: j.comparison,
      value,
      threshold: round6(j.threshold),
      forSeconds: rule.forMs / 1000,
      type: 'anomaly',
      anomaly: {
        measure: rule.metric,
        baseline: round6(j.mean),
        stddev: round6(j.stddev),
        deviation: round6(j.deviation),
        k: rule.k,
        baselineWindows,
        ...(r.exemplars?.length ? { exemplarTraceId: r.exemplars[0].traceId } : {}),
      },
    }));
  }

  /**
   * After window `end`: forgets the entries and baselines of series that will have no more
   * windows (`alive` says no) and of rules no longer defined; a firing one gets its `resolved`
   * (with the reason), since no window will ever resolve it.
   */
  expire(
    rules: readonly AlertRule[],
    states: AlertStates,
    end: number,
    alive: (seriesKey: string) => boolean,
    now = Date.now(),
  ): AlertChange[] {
    const out: AlertChange[] = [];
    const ruleIds = new Set(rules.map((r) => r.id));
    for (const [k, b] of states.baselines) if (!ruleIds.has(b.ruleId) || !alive(b.seriesKey)) states.baselines.delete(k);
    for (const [k, st] of states.entries) {
      const reason = !ruleIds.has(st.ruleId) ? 'rule-removed' : !alive(st.seriesKey) ? 'series-gone' : undefined;
      if (!reason) continue;
      states.entries.delete(k);
      if (!st.firing || !st.fired) continue;
      const windowEnd = new Date(end).toISOString();
      out.push({
        ...st.fired,
        id: `${st.ruleId}|${st.seriesKey}|${windowEnd}|resolved`,
        state: 'resolved',
        value: st.value,
        windowEnd,
        evaluatedAt: new Date(now).toISOString(),
        reason,
      });
    }
    return out;
  }
}

const round6 = (n: number) => Math.round(n * 1e6) / 1e6;

function changeBase(ruleId: string, r: WindowRecord, firing: boolean, now: number) {
  const state = firing ? ('firing' as const) : ('resolved' as const);
  return {
    id: `${ruleId}|${r.seriesKey}|${r.windowEnd}|${state}`,
    ruleId,
    state,
    series: { key: r.seriesKey, service: r.service, operation: r.operation, kind: r.kind },
    windowEnd: r.windowEnd,
    evaluatedAt: new Date(now).toISOString(),
  };
}

/**
 * The per (rule, series) state machine over event time. A condition must hold on every window
 * for the `for` duration to fire, and fail on every window for the same duration to resolve, so
 * a single noisy window never flips the state (no flapping). `since` marks the first window of
 * a run that disagrees with the current state.
 */
function step(
  states: AlertStates,
  rule: AlertRule,
  r: WindowRecord,
  value: number,
  breach: boolean,
  change: (firing: boolean) => AlertChange,
): AlertChange | undefined {
  const end = Date.parse(r.windowEnd);
  const k = AlertStates.key(rule.id, r.seriesKey);
  const st = states.entries.get(k) ?? { ruleId: rule.id, seriesKey: r.seriesKey, firing: false, value };
  st.value = value;
  let out: AlertChange | undefined;
  if (breach !== st.firing) {
    st.since ??= end;
    if (end - st.since >= rule.forMs) {
      st.firing = breach;
      st.since = undefined;
      out = change(breach);
      st.fired = breach ? out : undefined;
    }
  } else {
    st.since = undefined;
  }
  if (st.firing || st.since !== undefined) states.entries.set(k, st);
  else states.entries.delete(k);
  return out;
}
