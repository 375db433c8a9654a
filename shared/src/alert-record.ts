/**
 * One record of `mplp.alerts` (docs/architecture.md): the contract between the aggregator, which
 * publishes a record on each change of an alert's state, and its readers (indexer, notifier).
 */
export interface AlertRecord {
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
  /** Only on records of anomaly rules (absent: a threshold rule). */
  type?: 'anomaly';
  anomaly?: AnomalyDetail;
}

/** What an anomaly record adds (`type: "anomaly"`): the measure, its baseline and how far off it was. */
export interface AnomalyDetail {
  /** The rule's metric (e.g. latencyMs.p99), as in `metric`. */
  measure: string;
  /** Baseline mean and standard deviation the window was judged against (before learning it). */
  baseline: number;
  stddev: number;
  /** (value − baseline) / stddev (stddev floored at 1 % of the baseline). */
  deviation: number;
  k: number;
  /** Windows the baseline has learned. */
  baselineWindows: number;
  /** The slowest span of the window (absent when the window kept no exemplar). */
  exemplarTraceId?: string;
}
