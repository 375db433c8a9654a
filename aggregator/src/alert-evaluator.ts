import type { AlertRule } from './alert-rules';
import type { WindowRecord } from './window-record';

export interface AlertChange {
  id: string;
  ruleId: string;
  state: 'firing' | 'resolved';
  series: { key: string; service: string; operation: string; kind: string };
  metric: string;
  comparison: string;
  value: number;
  threshold: number;
  forSeconds: number;
  windowEnd: string;
  evaluatedAt: string;
  /** Only on a `resolved` not decided by a window's value: the series has no more windows, or its rule was removed. */
  reason?: 'series-gone' | 'rule-removed';
}

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
export interface AlertSnapshotMessage { t: 'a'; end: number; seq: number; last: boolean; alerts: AlertEntry[] }
export const SNAPSHOT_CHUNK = 500;

/**
 * Alert state of one partials partition (the series it owns). It survives a restart or a
 * rebalance through the snapshots: the partition's commit is never past the latest one (it
 * keeps the partials of the series the entries are about), so the next owner's replay reads it.
 */
export class AlertStates {
  readonly entries = new Map<string, AlertEntry>();
  /** Windows ending at or before this are already reflected in `entries` (evaluated or restored). */
  through = Number.NEGATIVE_INFINITY;
  /** The last snapshot written held entries: the next one is due even if empty. */
  private snapshotHeld = false;
  private restoring?: { end: number; next: number; entries: AlertEntry[] };

  static key(ruleId: string, seriesKey: string): string { return `${ruleId}\u0000${seriesKey}`; }

  /**
   * Takes in a snapshot chunk read from the partials topic. A complete snapshot newer than what
   * the state reflects (a replay) replaces it; an older one (our own, read back) is ignored.
   */
  restore(m: AlertSnapshotMessage): void {
    if (m.end <= this.through) return;
    if (m.seq === 0) this.restoring = { end: m.end, next: 0, entries: [] };
    const r = this.restoring;
    if (!r || r.end !== m.end || r.next !== m.seq) { this.restoring = undefined; return; } // a torn snapshot: keep the previous one
    r.entries.push(...m.alerts);
    r.next++;
    if (!m.last) return;
    this.restoring = undefined;
    this.entries.clear();
    for (const e of r.entries) this.entries.set(AlertStates.key(e.ruleId, e.seriesKey), e);
    this.through = m.end;
    this.snapshotHeld = r.entries.length > 0;
  }

  /** The snapshot to write after window `end`: none when empty and the last one written was empty too. */
  snapshot(end: number): AlertSnapshotMessage[] {
    if (!this.entries.size && !this.snapshotHeld) return [];
    this.snapshotHeld = this.entries.size > 0;
    const all = [...this.entries.values()];
    const out: AlertSnapshotMessage[] = [];
    for (let i = 0; i === 0 || i < all.length; i += SNAPSHOT_CHUNK) {
      out.push({ t: 'a', end, seq: out.length, last: i + SNAPSHOT_CHUNK >= all.length, alerts: all.slice(i, i + SNAPSHOT_CHUNK) });
    }
    return out;
  }
}

function metricValue(r: WindowRecord, path: string): number {
  if (path.startsWith('latencyMs.')) return r.latencyMs[path.slice(10) as keyof WindowRecord['latencyMs']];
  return (r as unknown as Record<string, number>)[path];
}

function holds(v: number, op: string, t: number): boolean {
  switch (op) { case '>': return v > t; case '>=': return v >= t; case '<': return v < t; default: return v <= t; }
}

/**
 * AlertEvaluator: per (rule, series) state machine over event time. A condition must hold on
 * every window for the `for` duration to fire, and fail on every window for the same duration
 * to resolve, so a single noisy window never flips the state (no flapping). The state is the
 * caller's (one AlertStates per partials partition), so it moves with the partition.
 */
export class AlertEvaluator {
  evaluate(rules: readonly AlertRule[], r: WindowRecord, states: AlertStates, now = Date.now()): AlertChange[] {
    const out: AlertChange[] = [];
    const end = Date.parse(r.windowEnd);
    for (const rule of rules) {
      const sel = rule.selector;
      if (sel.service && sel.service !== '*' && sel.service !== r.service) continue;
      if (sel.operation && sel.operation !== '*' && sel.operation !== r.operation) continue;
      if (sel.kind && sel.kind !== '*' && sel.kind !== r.kind) continue;
      const value = metricValue(r, rule.metric);
      const k = AlertStates.key(rule.id, r.seriesKey);
      const st = states.entries.get(k) ?? { ruleId: rule.id, seriesKey: r.seriesKey, firing: false, value };
      st.value = value;
      const breach = holds(value, rule.op, rule.threshold);
      // `since` marks the first window of a run that disagrees with the current state.
      if (breach !== st.firing) {
        st.since ??= end;
        if (end - st.since >= rule.forMs) {
          st.firing = breach;
          st.since = undefined;
          const change: AlertChange = {
            id: `${rule.id}|${r.seriesKey}|${r.windowEnd}|${breach ? 'firing' : 'resolved'}`,
            ruleId: rule.id, state: breach ? 'firing' : 'resolved',
            series: { key: r.seriesKey, service: r.service, operation: r.operation, kind: r.kind },
            metric: rule.metric, comparison: rule.op, value, threshold: rule.threshold, forSeconds: rule.forMs / 1000,
            windowEnd: r.windowEnd, evaluatedAt: new Date(now).toISOString(),
          };
          st.fired = breach ? change : undefined;
          out.push(change);
        }
      } else {
        st.since = undefined;
      }
      if (st.firing || st.since !== undefined) states.entries.set(k, st);
      else states.entries.delete(k);
    }
    return out;
  }

  /**
   * After window `end`: forgets the entries of series that will have no more windows (`alive`
   * says no) and of rules no longer defined; a firing one gets its `resolved` (with the reason),
   * since no window will ever resolve it.
   */
  expire(rules: readonly AlertRule[], states: AlertStates, end: number, alive: (seriesKey: string) => boolean, now = Date.now()): AlertChange[] {
    const out: AlertChange[] = [];
    const ruleIds = new Set(rules.map((r) => r.id));
    for (const [k, st] of states.entries) {
      const reason = !ruleIds.has(st.ruleId) ? 'rule-removed' : !alive(st.seriesKey) ? 'series-gone' : undefined;
      if (!reason) continue;
      states.entries.delete(k);
      if (!st.firing || !st.fired) continue;
      const windowEnd = new Date(end).toISOString();
      out.push({
        ...st.fired, id: `${st.ruleId}|${st.seriesKey}|${windowEnd}|resolved`, state: 'resolved', value: st.value,
        windowEnd, evaluatedAt: new Date(now).toISOString(), reason,
      });
    }
    return out;
  }
}
