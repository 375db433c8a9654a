import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';

const ROOT = path.join(__dirname, '..', '..', '..');
const RULES = path.join(ROOT, 'aggregator', 'prometheus', 'mplp-rules.yml');
const DEMO = path.join(ROOT, 'scripts', 'demo-rules.json');

interface DemoRule {
  id: string;
  selector: { service?: string; operation?: string };
  metric: string;
  op: string;
  threshold: number;
  for: string;
}

/** The alert blocks of a rules file: `- alert: name` up to the next one. */
function alerts(yml: string): Map<string, string> {
  const out = new Map<string, string>();
  const parts = yml.split(/^\s*- alert: /m).slice(1);
  for (const p of parts) out.set(p.slice(0, p.indexOf('\n')).trim(), p);
  return out;
}

describe('Prometheus rules file', () => {
  it('has an alert for every demo rule, on the spanmetrics names, with its selector, threshold and for', () => {
    const demo = (JSON.parse(readFileSync(DEMO, 'utf8')) as { rules: DemoRule[] }).rules;
    const blocks = alerts(readFileSync(RULES, 'utf8'));
    expect([...blocks.keys()].sort()).toEqual(demo.map((r) => r.id).sort());
    for (const r of demo) {
      const b = blocks.get(r.id)!;
      expect(b).toContain(`mplp_rule_id: ${r.id}`);
      expect(b).toContain(`for: ${r.for}`);
      if (r.selector.service) expect(b).toContain(`service_name="${r.selector.service}"`);
      if (r.selector.operation) expect(b).toContain(`span_name="${r.selector.operation}"`);
      if (r.metric === 'latencyMs.p99') {
        expect(b).toMatch(/histogram_quantile\(0\.99,[\s\S]*traces_span_metrics_duration_seconds_bucket/);
        expect(b).toMatch(new RegExp(`\\) ${r.op.replace(/[>]/g, '\\>')} ${r.threshold / 1000}\\n`));
      } else {
        expect(r.metric).toBe('errorRate');
        expect(b).toContain('status_code="STATUS_CODE_ERROR"');
        expect(b).toMatch(new RegExp(`\\) ${r.op} ${r.threshold}\\n`));
      }
    }
  });

  it('passes promtool check rules (when promtool is installed: PROMTOOL or ~/go/bin/promtool)', () => {
    const promtool = process.env.PROMTOOL ?? path.join(process.env.HOME ?? '', 'go', 'bin', 'promtool');
    if (!existsSync(promtool)) return;
    expect(execFileSync(promtool, ['check', 'rules', RULES]).toString()).toMatch(/SUCCESS: 2 rules found/);
  });
});
