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
}

interface RuleState { firing: boolean; since?: number }

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
 * to resolve, so a single noisy window never flips the state (no flapping).
 */
export class AlertEvaluator {
  private readonly state = new Map<string, RuleState>();

  evaluate(rules: readonly AlertRule[], r: WindowRecord, now = Date.now()): AlertChange[] {
    const out: AlertChange[] = [];
    const end = Date.parse(r.windowEnd);
    for (const rule of rules) {
      const sel = rule.selector;
      if (sel.service && sel.service !== '*' && sel.service !== r.service) continue;
      if (sel.operation && sel.operation !== '*' && sel.operation !== r.operation) continue;
      if (sel.kind && sel.kind !== '*' && sel.kind !== r.kind) continue;
      const value = metricValue(r, rule.metric);
      const k = `${rule.id}\u0000${r.seriesKey}`;
      const st = this.state.get(k) ?? { firing: false };
      this.state.set(k, st);
      const breach = holds(value, rule.op, rule.threshold);
      // `since` marks the first window of a run that disagrees with the current state.
      if (breach !== st.firing) {
        st.since ??= end;
        if (end - st.since >= rule.forMs) {
          st.firing = breach;
          st.since = undefined;
          out.push({
            id: `${rule.id}|${r.seriesKey}|${r.windowEnd}|${breach ? 'firing' : 'resolved'}`,
            ruleId: rule.id, state: breach ? 'firing' : 'resolved',
            series: { key: r.seriesKey, service: r.service, operation: r.operation, kind: r.kind },
            metric: rule.metric, comparison: rule.op, value, threshold: rule.threshold, forSeconds: rule.forMs / 1000,
            windowEnd: r.windowEnd, evaluatedAt: new Date(now).toISOString(),
          });
        }
      } else {
        st.since = undefined;
      }
    }
    return out;
  }
}
