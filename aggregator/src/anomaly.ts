import type { AnomalyRule } from './alert-rules';

/**
 * The learned baseline of one (anomaly rule, series): an exponentially weighted mean and variance
 * of the rule's metric over the series' windows (one value per emitted window, every 5 s). It
 * rides the partials-topic alert snapshots, so it survives a restart or a rebalance.
 */
export interface Baseline {
  ruleId: string;
  seriesKey: string;
  /** The metric learned: a rule changed to another metric starts over. */
  metric: string;
  /** Windows learned so far. */
  n: number;
  mean: number;
  variance: number;
}

/** How one window's value compares with the baseline it is judged against (before it is learned). */
export interface Judgement {
  breach: boolean;
  /** Below minCount or still warming up: neither judged nor (for minCount) learned. */
  judged: boolean;
  mean: number;
  stddev: number;
  /** (value − mean) / stddev, stddev floored at 1 % of |mean| so a flat series gives finite numbers. */
  deviation: number;
  /** The value past which this window would breach (upper bound, or lower for direction "down"). */
  threshold: number;
  /** The sign of the breach: '>' above the baseline, '<' below. */
  comparison: '>' | '<';
}

/**
 * The distance from the mean past which a value is anomalous: k deviations, but never less than
 * the rule's absolute (minDelta) and relative (minRatio × |mean|) floors, so a quiet or very steady
 * series (stddev ~0) does not fire on noise.
 */
export function breachDistance(rule: AnomalyRule, b: Baseline): number {
  return Math.max(rule.k * effectiveStddev(b), rule.minDelta, rule.minRatio * Math.abs(b.mean));
}

function effectiveStddev(b: Baseline): number {
  return Math.max(Math.sqrt(b.variance), 0.01 * Math.abs(b.mean), 1e-9);
}

/** Judges `value` (a window of `count` spans) against the baseline as learned so far. */
export function judge(rule: AnomalyRule, b: Baseline | undefined, value: number, count: number): Judgement {
  const mean = b?.mean ?? value;
  const sd = b ? effectiveStddev(b) : 0;
  const delta = value - mean;
  const comparison = delta < 0 || rule.direction === 'down' ? '<' : '>';
  const none = { mean, stddev: b ? Math.sqrt(b.variance) : 0, deviation: sd ? delta / sd : 0, comparison } as const;
  if (!b || count < rule.minCount || b.n < rule.warmup) return { ...none, breach: false, judged: false, threshold: mean };
  const dist = breachDistance(rule, b);
  const up = rule.direction !== 'down' && delta > dist;
  const down = rule.direction !== 'up' && -delta > dist;
  return { ...none, breach: up || down, judged: true, threshold: comparison === '<' ? mean - dist : mean + dist };
}

/**
 * Learns one window's value. Exponential weights with α = 2 / (learnWindows + 1) (a cumulative mean
 * for the first windows, so the start is not biased to the first value). Once warm, the value is
 * clipped to the breach distance before it is learned: one outlier moves the baseline by at most
 * α × distance, so an anomaly is not absorbed within the windows it needs to fire, while a lasting
 * shift still becomes the new normal (after roughly learnWindows × ln(shift) / minRatio windows).
 */
export function learn(rule: AnomalyRule, b: Baseline, value: number): void {
  if (b.n === 0) {
    b.mean = value;
    b.variance = 0;
    b.n = 1;
    return;
  }
  const alpha = Math.max(2 / (rule.learnWindows + 1), 1 / (b.n + 1));
  let x = value;
  if (b.n >= rule.warmup) {
    const dist = breachDistance(rule, b);
    x = Math.min(b.mean + dist, Math.max(b.mean - dist, x));
  }
  const d = x - b.mean;
  b.mean += alpha * d;
  b.variance = (1 - alpha) * (b.variance + alpha * d * d);
  b.n++;
}
