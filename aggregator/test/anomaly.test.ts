import { AlertEvaluator, AlertStates, SNAPSHOT_CHUNK } from '../src/alert-evaluator';
import type { AlertChange } from '../src/alert-evaluator';
import { parseRules } from '../src/alert-rules';
import type { WindowRecord } from '../src/window-record';

const anomalyRule = {
  id: 'p99-anomaly',
  type: 'anomaly',
  selector: { service: 's' },
  metric: 'latencyMs.p99',
  k: 3,
  windows: 2,
  minCount: 50,
};
const rules = () => parseRules(JSON.stringify({ rules: [anomalyRule] }));

/** Anomaly rules judge windows ending on a window-length boundary: one such window per minute. */
const WINDOW = 60_000;

function rec(i: number, p99: number, count = 600, key = 'k'): WindowRecord {
  return {
    id: `${key}@${i * WINDOW}`,
    seriesKey: key,
    service: 's',
    operation: 'o',
    kind: 'SERVER',
    windowEnd: new Date(i * WINDOW).toISOString(),
    count,
    latencyMs: { p99 },
    exemplars: [{ traceId: `trace-${i}`, durationMs: p99 }],
  } as unknown as WindowRecord;
}

/** A steady series: 100 ms with a deterministic ±8 % wiggle (no two windows alike). */
const steady = (i: number) => 100 * (1 + 0.08 * Math.sin(i * 1.7) * Math.cos(i * 0.31));

function run(
  values: number[],
  states = new AlertStates(),
  counts?: number[],
  from = 0,
): { changes: Array<[number, AlertChange]>; states: AlertStates } {
  const ev = new AlertEvaluator();
  const r = rules();
  const changes: Array<[number, AlertChange]> = [];
  values.forEach((v, j) => {
    for (const c of ev.evaluate(r, rec(from + j, v, counts?.[j]), states, 0)) changes.push([from + j, c]);
  });
  return { changes, states };
}

describe('anomaly rules', () => {
  it('steady traffic raises nothing over 500 windows', () => {
    const { changes, states } = run(Array.from({ length: 500 }, (_, i) => steady(i)));
    expect(changes).toEqual([]);
    const b = [...states.baselines.values()][0];
    expect(b.n).toBe(500);
    expect(b.mean).toBeGreaterThan(95);
    expect(b.mean).toBeLessThan(105);
  });

  it('a 3x latency shift fires on the second shifted window with measure, baseline, deviation and exemplar, and resolves 2 windows after it ends', () => {
    const values = [
      ...Array.from({ length: 100 }, (_, i) => steady(i)),
      ...Array.from({ length: 6 }, (_, i) => 3 * steady(100 + i)),
      ...Array.from({ length: 10 }, (_, i) => steady(106 + i)),
    ];
    const { changes } = run(values);
    expect(changes.map(([i, c]) => [i, c.state])).toEqual([
      [101, 'firing'],
      [107, 'resolved'],
    ]);
    const fired = changes[0][1];
    expect(fired.id).toBe(`p99-anomaly|k|${new Date(101 * WINDOW).toISOString()}|firing`);
    expect(fired.type).toBe('anomaly');
    expect(fired.comparison).toBe('>');
    expect(fired.value).toBeCloseTo(3 * steady(101));
    expect(fired.forSeconds).toBe(5);
    const a = fired.anomaly!;
    expect(a.measure).toBe('latencyMs.p99');
    expect(a.baseline).toBeGreaterThan(95);
    expect(a.baseline).toBeLessThan(110);
    expect(a.deviation).toBeGreaterThan(3);
    expect(fired.threshold).toBeGreaterThan(a.baseline);
    expect(fired.threshold).toBeLessThan(fired.value);
    expect(a.exemplarTraceId).toBe('trace-101');
    expect(a.baselineWindows).toBe(101);
    // The anomalous windows moved the baseline only a little (clipped learning).
    expect(changes[1][1].anomaly!.baseline).toBeLessThan(120);
  });

  it('a single spike never fires, a dip does not fire an "up" rule, and a lasting shift becomes the new normal', () => {
    const spike = run([...Array.from({ length: 60 }, (_, i) => steady(i)), 500, ...Array.from({ length: 20 }, (_, i) => steady(61 + i))]);
    expect(spike.changes).toEqual([]);
    const dip = run([...Array.from({ length: 60 }, (_, i) => steady(i)), ...Array.from({ length: 10 }, () => 10)]);
    expect(dip.changes).toEqual([]);
    const lasting = run([...Array.from({ length: 60 }, (_, i) => steady(i)), ...Array.from({ length: 600 }, (_, i) => 3 * steady(60 + i))]);
    expect(lasting.changes.map(([, c]) => c.state)).toEqual(['firing', 'resolved']);
    expect(lasting.changes[1][0]).toBeLessThan(60 + 400);
  });

  it('quiet windows (below minCount) are neither judged nor learned, and a flat series does not fire on tiny moves', () => {
    // 10 spans per window, wild p99: no baseline, no alert.
    const quiet = run(
      Array.from({ length: 100 }, (_, i) => (i % 2 ? 5 : 900)),
      new AlertStates(),
      Array.from({ length: 100 }, () => 10),
    );
    expect(quiet.changes).toEqual([]);
    expect(quiet.states.baselines.size).toBe(0);
    // Exactly flat, then +10 %: stddev 0, but the 20 % relative floor (minRatio) holds it.
    const flat = run([...Array.from({ length: 50 }, () => 100), ...Array.from({ length: 10 }, () => 110)]);
    expect(flat.changes).toEqual([]);
    // Warming up (fewer than 12 windows learned): nothing is judged.
    const young = run([100, 100, 100, 400, 400, 400]);
    expect(young.changes).toEqual([]);
  });

  it('the learned baselines survive a restart through the partials-topic snapshot (in chunks): the restored state decides as the live one', () => {
    const before = Array.from({ length: 80 }, (_, i) => steady(i));
    const after = [300, 310, 305, 100, 101, 99, 100];
    const live = run(before).states;
    // Many series' baselines: the snapshot is chunked, the alert entries first.
    for (let s = 0; s < SNAPSHOT_CHUNK; s++) new AlertEvaluator().evaluate(rules(), rec(79, 100, 600, `other${s}`), live, 0);
    const snap = JSON.parse(JSON.stringify(live.snapshot(79 * WINDOW))) as ReturnType<AlertStates['snapshot']>;
    expect(snap.map((m) => [m.seq, m.last, m.alerts.length, m.baselines?.length])).toEqual([
      [0, false, 0, SNAPSHOT_CHUNK],
      [1, true, 0, 1],
    ]);
    const restored = new AlertStates();
    for (const m of snap) restored.restore(m);
    expect(restored.through).toBe(79 * WINDOW);
    expect(restored.baselines.size).toBe(SNAPSHOT_CHUNK + 1);
    const a = run(after, live, undefined, 80).changes;
    const b = run(after, restored, undefined, 80).changes;
    expect(b).toEqual(a);
    expect(a.map(([i, c]) => [i, c.state])).toEqual([
      [81, 'firing'],
      [84, 'resolved'],
    ]);
  });

  it('forgets the baselines of a gone series or a removed rule, and starts over when the rule measures another metric', () => {
    const { states } = run(Array.from({ length: 20 }, (_, i) => steady(i)));
    const ev = new AlertEvaluator();
    ev.expire(rules(), states, 100_000, () => true, 0);
    expect(states.baselines.size).toBe(1);
    ev.expire(rules(), states, 100_000, () => false, 0);
    expect(states.baselines.size).toBe(0);
    run(
      Array.from({ length: 20 }, (_, i) => steady(i)),
      states,
    );
    ev.expire([], states, 200_000, () => true, 0);
    expect(states.baselines.size).toBe(0);
    run(
      Array.from({ length: 20 }, (_, i) => steady(i)),
      states,
    );
    const other = parseRules(JSON.stringify({ rules: [{ ...anomalyRule, metric: 'errorRate' }] }));
    ev.evaluate(other, { ...rec(21, 100), errorRate: 0.5 } as WindowRecord, states, 0);
    expect([...states.baselines.values()].map((x) => [x.metric, x.n, x.mean])).toEqual([['errorRate', 1, 0.5]]);
  });

  it('parses anomaly rules with defaults and refuses threshold fields or bad values, naming the rule', () => {
    const [r] = parseRules(JSON.stringify({ rules: [{ id: 'a', type: 'anomaly', metric: 'errorRate' }] }));
    expect(r).toEqual({
      type: 'anomaly',
      id: 'a',
      selector: {},
      metric: 'errorRate',
      direction: 'up',
      k: 3,
      forMs: 5000,
      minCount: 30,
      minDelta: 0,
      minRatio: 0.2,
      warmup: 12,
      learnWindows: 60,
    });
    expect(() => parseRules(JSON.stringify({ rules: [{ id: 'a', type: 'anomaly', metric: 'errorRate', threshold: 1 }] }))).toThrow(
      /rules\[0\]\.threshold is not used by an anomaly rule/,
    );
    expect(() => parseRules(JSON.stringify({ rules: [{ id: 'a', type: 'anomaly', metric: 'errorRate', direction: 'sideways' }] }))).toThrow(
      /rules\[0\]\.direction must be up, down or both/,
    );
    expect(() => parseRules(JSON.stringify({ rules: [{ id: 'a', type: 'anomaly', metric: 'errorRate', windows: 0 }] }))).toThrow(
      /rules\[0\]\.windows must be an integer >= 1/,
    );
    expect(() => parseRules(JSON.stringify({ rules: [{ id: 'a', type: 'sometimes', metric: 'errorRate' }] }))).toThrow(
      /rules\[0\]\.type must be/,
    );
  });
});
