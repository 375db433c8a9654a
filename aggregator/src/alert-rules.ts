import { readFileSync, statSync } from 'node:fs';
import { ConfigError, parseDurationMs } from '../../shared/src';
import { PANE_MS } from './config';

/**
 * Alert rules file (JSON): { "rules": [ { "id", "selector": { service?, operation?, kind? },
 * "metric": "latencyMs.p99" | "errorRate" | ..., "op": ">" | ">=" | "<" | "<=", "threshold": n, "for": "30s" } ] }.
 * A selector field absent or "*" matches anything.
 */
export type Comparison = '>' | '>=' | '<' | '<=';
export type Selector = { service?: string; operation?: string; kind?: string };
export interface ThresholdRule {
  type: 'threshold';
  id: string;
  selector: Selector;
  metric: string;
  op: Comparison;
  threshold: number;
  forMs: number;
}
/**
 * An anomaly rule (`"type": "anomaly"`): no threshold; the metric is judged against a baseline
 * learned per series (see anomaly.ts). `forMs` = (windows - 1) × 5 s: consecutive windows that
 * must breach to fire, and not breach to resolve.
 */
export interface AnomalyRule {
  type: 'anomaly';
  id: string;
  selector: Selector;
  metric: string;
  forMs: number;
  direction: 'up' | 'down' | 'both';
  k: number;
  minCount: number;
  minDelta: number;
  minRatio: number;
  warmup: number;
  learnWindows: number;
}
export type AlertRule = ThresholdRule | AnomalyRule;

export function parseRules(text: string, file = 'rules file'): AlertRule[] {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (err) {
    throw new ConfigError('MPLP_AGGREGATOR_RULES_FILE', `${file} is not JSON: ${(err as Error).message}`);
  }
  const bad = (why: string) => new ConfigError('MPLP_AGGREGATOR_RULES_FILE', `${file}: ${why}`);
  const rules = (doc as { rules?: unknown }).rules;
  if (!Array.isArray(rules)) throw bad('expected an object with a "rules" array');
  const ids = new Set<string>();
  return rules.map((r: Record<string, unknown>, i) => {
    const at = `rules[${i}]`;
    if (typeof r !== 'object' || r === null) throw bad(`${at} is not an object`);
    if (typeof r.id !== 'string' || !r.id) throw bad(`${at}.id must be a non-empty string`);
    if (ids.has(r.id)) throw bad(`${at}.id "${r.id}" is duplicated`);
    ids.add(r.id);
    const sel = (r.selector ?? {}) as Record<string, unknown>;
    for (const k of Object.keys(sel)) {
      if (!['service', 'operation', 'kind'].includes(k)) throw bad(`${at}.selector.${k} is unknown (service, operation, kind)`);
      if (typeof sel[k] !== 'string') throw bad(`${at}.selector.${k} must be a string`);
    }
    if (r.type !== undefined && r.type !== 'threshold' && r.type !== 'anomaly')
      throw bad(`${at}.type must be "threshold" (the default) or "anomaly"`);
    if (
      typeof r.metric !== 'string' ||
      !/^(count|errorCount|errorRate|ratePerSecond|lateCount|latencyMs\.(min|max|mean|stddev|p50|p90|p95|p99|p999))$/.test(r.metric)
    ) {
      throw bad(
        `${at}.metric must be count, errorCount, errorRate, ratePerSecond, lateCount or latencyMs.<min|max|mean|stddev|p50|p90|p95|p99|p999>`,
      );
    }
    if (r.type === 'anomaly') return parseAnomaly(r, at, sel as Selector, bad);
    if (!['>', '>=', '<', '<='].includes(r.op as string)) throw bad(`${at}.op must be one of > >= < <=`);
    if (typeof r.threshold !== 'number' || !Number.isFinite(r.threshold)) throw bad(`${at}.threshold must be a number`);
    const forMs = r.for === undefined ? 0 : parseFor(r.for, at, bad);
    return {
      type: 'threshold',
      id: r.id,
      selector: sel as Selector,
      metric: r.metric,
      op: r.op as Comparison,
      threshold: r.threshold,
      forMs,
    };
  });
}

function parseFor(v: unknown, at: string, bad: (why: string) => Error): number {
  const ms = parseDurationMs(String(v));
  if (ms === undefined) throw bad(`${at}.for must be a duration like 30s or 2m`);
  return ms;
}

/** Defaults of an anomaly rule's optional fields (README "Anomaly rules"). */
export const ANOMALY_DEFAULTS = {
  direction: 'up',
  k: 3,
  windows: 2,
  minCount: 30,
  minDelta: 0,
  minRatio: 0.2,
  warmup: 12,
  learnWindows: 60,
} as const;

function parseAnomaly(r: Record<string, unknown>, at: string, selector: Selector, bad: (why: string) => Error): AnomalyRule {
  for (const k of ['op', 'threshold', 'for'])
    if (r[k] !== undefined) throw bad(`${at}.${k} is not used by an anomaly rule (it learns its baseline; use "windows")`);
  const num = (k: keyof typeof ANOMALY_DEFAULTS, min: number, int = false): number => {
    const v = r[k] ?? ANOMALY_DEFAULTS[k];
    if (typeof v !== 'number' || !Number.isFinite(v) || v < min || (int && !Number.isInteger(v)))
      throw bad(`${at}.${k} must be ${int ? 'an integer' : 'a number'} >= ${min}`);
    return v;
  };
  const direction = r.direction ?? ANOMALY_DEFAULTS.direction;
  if (direction !== 'up' && direction !== 'down' && direction !== 'both') throw bad(`${at}.direction must be up, down or both`);
  return {
    type: 'anomaly',
    id: r.id as string,
    selector,
    metric: r.metric as string,
    direction,
    k: num('k', 0),
    forMs: (num('windows', 1, true) - 1) * PANE_MS,
    minCount: num('minCount', 0, true),
    minDelta: num('minDelta', 0),
    minRatio: num('minRatio', 0),
    warmup: num('warmup', 1, true),
    learnWindows: num('learnWindows', 1, true),
  };
}

/** Holds the rules in force; reloads the file when it changes and keeps the old rules if the new file is bad. */
export class RulesFile {
  private rules: AlertRule[] = [];
  private stamp = '';
  private timer?: NodeJS.Timeout;
  constructor(
    private readonly path: string,
    private readonly onResult: (ok: boolean, detail: { rules?: number; err?: Error }) => void,
  ) {}

  get current(): AlertRule[] {
    return this.rules;
  }

  /** First load: a bad file stops the process at start. */
  loadInitial(): void {
    if (!this.path) return;
    this.rules = parseRules(this.read(), this.path);
    this.onResult(true, { rules: this.rules.length });
  }

  watch(pollMs: number): void {
    if (!this.path) return;
    this.timer = setInterval(() => this.check(), pollMs);
    this.timer.unref();
  }

  check(): void {
    let stamp: string;
    try {
      const s = statSync(this.path);
      stamp = `${s.mtimeMs}:${s.size}`;
    } catch {
      return;
    }
    if (stamp === this.stamp) return;
    try {
      const text = readFileSync(this.path, 'utf8');
      this.stamp = stamp;
      this.rules = parseRules(text, this.path);
      this.onResult(true, { rules: this.rules.length });
    } catch (err) {
      this.onResult(false, { err: err as Error });
    }
  }

  private read(): string {
    try {
      const s = statSync(this.path);
      this.stamp = `${s.mtimeMs}:${s.size}`;
      return readFileSync(this.path, 'utf8');
    } catch (err) {
      throw new ConfigError('MPLP_AGGREGATOR_RULES_FILE', `cannot read ${this.path}: ${(err as Error).message}`);
    }
  }

  stop(): void {
    clearInterval(this.timer);
  }
}
