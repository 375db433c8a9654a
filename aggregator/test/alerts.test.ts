import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { AlertEvaluator } from '../src/alert-evaluator';
import { parseRules, RulesFile } from '../src/alert-rules';
import type { WindowRecord } from '../src/window-record';

const rule = { id: 'r', selector: { service: 's' }, metric: 'latencyMs.p99', op: '>', threshold: 100, for: '10s' };
const rec = (end: number, p99: number) => ({ id: `k@${end}`, seriesKey: 'k', service: 's', operation: 'o', kind: 'SERVER', windowEnd: new Date(end).toISOString(), latencyMs: { p99 } } as unknown as WindowRecord);

describe('alert rules', () => {
  it('fires only after the condition held for `for`, ignores a one-window blip, and resolves after `for`', () => {
    const rules = parseRules(JSON.stringify({ rules: [rule] }));
    const ev = new AlertEvaluator();
    const seq = [50, 200, 50, 200, 200, 200, 200, 50, 200, 50, 50, 50];
    const out = seq.flatMap((v, i) => ev.evaluate(rules, rec(i * 5000, v)).map((c) => `${i}:${c.state}`));
    expect(out).toEqual(['5:firing', '11:resolved']);
  });

  it('refuses a bad rules file with a clear error and keeps the old rules', () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'rules-'));
    const file = path.join(dir, 'r.json');
    writeFileSync(file, JSON.stringify({ rules: [rule] }));
    const results: Array<[boolean, string | undefined]> = [];
    const rf = new RulesFile(file, (ok, d) => results.push([ok, d.err?.message]));
    rf.loadInitial();
    writeFileSync(file, JSON.stringify({ rules: [{ ...rule, op: '!=' }, { ...rule, id: 'x' }] }) + ' ');
    rf.check();
    expect(rf.current.map((r) => r.id)).toEqual(['r']);
    expect(results[1][0]).toBe(false);
    expect(results[1][1]).toMatch(/rules\[0\]\.op must be one of/);
    writeFileSync(file, JSON.stringify({ rules: [rule, { ...rule, id: 'two' }] }));
    rf.check();
    expect(rf.current.map((r) => r.id)).toEqual(['r', 'two']);
  });
});
