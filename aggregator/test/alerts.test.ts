import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { AlertEvaluator, AlertStates, SNAPSHOT_CHUNK } from '../src/alert-evaluator';
import { parseRules, RulesFile } from '../src/alert-rules';
import type { WindowRecord } from '../src/window-record';

const rule = { id: 'r', selector: { service: 's' }, metric: 'latencyMs.p99', op: '>', threshold: 100, for: '10s' };
const rec = (end: number, p99: number) =>
  ({
    id: `k@${end}`,
    seriesKey: 'k',
    service: 's',
    operation: 'o',
    kind: 'SERVER',
    windowEnd: new Date(end).toISOString(),
    latencyMs: { p99 },
  }) as unknown as WindowRecord;

describe('alert rules', () => {
  it('fires only after the condition held for `for`, ignores a one-window blip, and resolves after `for`', () => {
    const rules = parseRules(JSON.stringify({ rules: [rule] }));
    const ev = new AlertEvaluator();
    const states = new AlertStates();
    const seq = [50, 200, 50, 200, 200, 200, 200, 50, 200, 50, 50, 50];
    const out = seq.flatMap((v, i) => ev.evaluate(rules, rec(i * 5000, v), states).map((c) => `${i}:${c.state}`));
    expect(out).toEqual(['5:firing', '11:resolved']);
    // Only firing or pending alerts hold an entry: resolved and quiet, the map is empty again.
    expect(states.entries.size).toBe(0);
  });

  it('a snapshot restores the state exactly, in chunks, and an older snapshot read back is ignored', () => {
    const rules = parseRules(JSON.stringify({ rules: [{ ...rule, selector: {} }] }));
    const ev = new AlertEvaluator();
    const live = new AlertStates();
    const many = 2 * SNAPSHOT_CHUNK + 7;
    const recAt = (end: number, i: number, p99: number) => ({ ...rec(end, p99), seriesKey: `k${i}`, id: `k${i}@${end}` }) as WindowRecord;
    for (let end = 0; end <= 10_000; end += 5000) for (let i = 0; i < many; i++) ev.evaluate(rules, recAt(end, i, 200), live);
    const snap = live.snapshot(10_000);
    expect(snap.map((m) => [m.seq, m.last, m.alerts.length])).toEqual([
      [0, false, SNAPSHOT_CHUNK],
      [1, false, SNAPSHOT_CHUNK],
      [2, true, 7],
    ]);
    // A fresh owner replays the partition: the restored state resolves exactly as the live one does.
    const restored = new AlertStates();
    for (const m of JSON.parse(JSON.stringify(snap)) as typeof snap) restored.restore(m);
    expect(restored.through).toBe(10_000);
    const resolveAll = (st: AlertStates) =>
      [15_000, 20_000, 25_000].flatMap((end) =>
        Array.from({ length: many }, (_, i) => ev.evaluate(rules, recAt(end, i, 50), st, 0)).flat(),
      );
    expect(resolveAll(restored)).toEqual(resolveAll(live));
    expect(restored.entries.size).toBe(0);
    // Our own older snapshot, read back later, does not roll the state back.
    for (const m of snap) restored.restore({ ...m, end: 5_000 });
    expect(restored.entries.size).toBe(0);
    // Empty now: one empty snapshot (so a replay does not resurrect the old one), then none.
    expect(restored.snapshot(25_000)).toEqual([{ t: 'a', end: 25_000, seq: 0, last: true, alerts: [] }]);
    expect(restored.snapshot(30_000)).toEqual([]);
  });

  it('resolves a firing alert whose series is gone or whose rule was removed, and forgets pending ones', () => {
    const rules = parseRules(JSON.stringify({ rules: [rule, { ...rule, id: 'other' }] }));
    const ev = new AlertEvaluator();
    const states = new AlertStates();
    for (let end = 0; end <= 10_000; end += 5000) ev.evaluate(rules, rec(end, 200), states, 0);
    ev.evaluate(rules, { ...rec(10_000, 200), seriesKey: 'pending' } as WindowRecord, states, 0);
    expect(states.entries.size).toBe(4); // k firing under both rules, "pending" pending under both
    // Rule "other" removed: its firing alert resolves; pending entries are forgotten without a record.
    const removed = ev.expire([rules[0]], states, 15_000, (k) => k === 'k', 0);
    expect(removed.map((c) => [c.id, c.state, c.reason])).toEqual([
      ['other|k|1970-01-01T00:00:15.000Z|resolved', 'resolved', 'rule-removed'],
    ]);
    const gone = ev.expire([rules[0]], states, 20_000, () => false, 0);
    expect(gone.map((c) => [c.id, c.state, c.reason, c.value])).toEqual([
      ['r|k|1970-01-01T00:00:20.000Z|resolved', 'resolved', 'series-gone', 200],
    ]);
    expect(states.entries.size).toBe(0);
  });

  it('refuses a bad rules file with a clear error and keeps the old rules', () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'rules-'));
    const file = path.join(dir, 'r.json');
    writeFileSync(file, JSON.stringify({ rules: [rule] }));
    const results: Array<[boolean, string | undefined]> = [];
    const rf = new RulesFile(file, (ok, d) => results.push([ok, d.err?.message]));
    rf.loadInitial();
    writeFileSync(
      file,
      JSON.stringify({
        rules: [
          { ...rule, op: '!=' },
          { ...rule, id: 'x' },
        ],
      }) + ' ',
    );
    rf.check();
    expect(rf.current.map((r) => r.id)).toEqual(['r']);
    expect(results[1][0]).toBe(false);
    expect(results[1][1]).toMatch(/rules\[0\]\.op must be one of/);
    writeFileSync(file, JSON.stringify({ rules: [rule, { ...rule, id: 'two' }] }));
    rf.check();
    expect(rf.current.map((r) => r.id)).toEqual(['r', 'two']);
  });
});
