/**
 * The checks of deploy/ that kubeconform cannot make (scripts/validate-deploy.sh runs kubeconform
 * first, then this): the Grafana dashboard's queries name only metrics the code registers (or the
 * spanmetrics connector's), and the settings the manifests give each worker load through that
 * worker's own config schema, with the ops ports and KEDA's FromEnv names agreeing with them.
 * Prints one line per problem and exits 1 when there is any.
 */
import fs from 'node:fs';
import path from 'node:path';
import { createRegistry, loadProcessConfig, Schema } from '../shared/src';
import { workerCommand } from './worker-node-flags';

/** Names the OpenTelemetry Collector's spanmetrics connector exports (namespace traces.span.metrics, histogram unit s), and Prometheus's own `up`. */
export const EXTERNAL_METRICS = [
  'traces_span_metrics_calls_total',
  'traces_span_metrics_duration_seconds_bucket',
  'traces_span_metrics_duration_seconds_sum',
  'traces_span_metrics_duration_seconds_count',
  'up',
];

const SERIES_SUFFIXES: Record<string, string[]> = { histogram: ['_bucket', '_sum', '_count'], summary: ['', '_sum', '_count'] };

/** Every metric name (with a histogram's series suffixes) registered in the TypeScript sources under root, plus the Node process metrics every worker's registry has. */
export async function registeredMetricNames(root: string): Promise<Set<string>> {
  const names = new Set<string>();
  const add = (name: string, type: string) => {
    for (const s of SERIES_SUFFIXES[type] ?? ['']) names.add(name + s);
  };
  for (const file of sourceFiles(root)) {
    const text = fs.readFileSync(file, 'utf8');
    for (const m of text.matchAll(/new\s+(Counter|Gauge|Histogram|Summary)\s*(?:<[^>]*>)?\(\s*\{\s*name:\s*['"`](mplp_\w+)['"`]/g))
      add(m[2], m[1].toLowerCase());
  }
  for (const m of await createRegistry().getMetricsAsJSON()) add(m.name, String(m.type));
  return names;
}

function sourceFiles(root: string): string[] {
  const out: string[] = [];
  const walk = (dir: string) => {
    for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
      const p = path.join(dir, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.name.endsWith('.ts') && !e.name.endsWith('.d.ts')) out.push(p);
    }
  };
  for (const e of fs.readdirSync(root, { withFileTypes: true })) {
    const src = path.join(root, e.name, 'src');
    if (e.isDirectory() && !['node_modules', 'dist'].includes(e.name) && fs.existsSync(src)) walk(src);
  }
  return out;
}

const PROMQL_WORDS = new Set([
  'by',
  'without',
  'on',
  'ignoring',
  'group_left',
  'group_right',
  'bool',
  'offset',
  'and',
  'or',
  'unless',
  'inf',
  'nan',
]);

/** Metric names a PromQL expression selects: identifiers outside label matchers, strings, ranges and grouping clauses that are not called as functions. */
export function promqlMetricNames(expr: string): string[] {
  const stripped = expr
    .replace(/"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'/g, ' ')
    .replace(/\{[^}]*\}/g, ' ')
    .replace(/\[[^\]]*\]/g, ' ')
    .replace(/\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, ' ')
    .replace(/\$\{?\w+\}?/g, ' ');
  const names: string[] = [];
  for (const m of stripped.matchAll(/[A-Za-z_:][\w:]*/g)) {
    const after = stripped.slice(m.index! + m[0].length).trimStart();
    if (after.startsWith('(') || PROMQL_WORDS.has(m[0].toLowerCase())) continue;
    if (/^\d/.test(m[0])) continue;
    names.push(m[0]);
  }
  return names;
}

/** The first bracket that does not pair up, outside string literals (a cheap guard against truncated queries; the full grammar is Prometheus's). */
export function unbalancedBracket(expr: string): string | undefined {
  const stack: string[] = [];
  const pairs: Record<string, string> = { ')': '(', '}': '{', ']': '[' };
  const text = expr.replace(/"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'/g, '""');
  if (/["']/.test(text.replace(/""/g, ''))) return 'an unterminated string';
  for (const c of text) {
    if ('({['.includes(c)) stack.push(c);
    else if (c in pairs && stack.pop() !== pairs[c]) return `an unmatched "${c}"`;
  }
  return stack.length > 0 ? `an unclosed "${stack[stack.length - 1]}"` : undefined;
}

interface Panel {
  title?: string;
  type?: string;
  targets?: { expr?: string }[];
  panels?: Panel[];
}

/** Problems of a Grafana dashboard: panels without queries, queries naming no metric or an unknown one, variables querying unknown metrics. */
export function dashboardProblems(
  dashboard: { panels?: Panel[]; templating?: { list?: { name: string; query?: unknown }[] } },
  known: Set<string>,
): string[] {
  const problems: string[] = [];
  const check = (where: string, expr: string) => {
    const unbalanced = unbalancedBracket(expr);
    if (unbalanced) problems.push(`${where}: ${unbalanced} in ${expr}`);
    const names = promqlMetricNames(expr);
    if (names.length === 0) problems.push(`${where}: query names no metric: ${expr}`);
    for (const n of names) if (!known.has(n)) problems.push(`${where}: metric ${n} is not registered by the code (nor a spanmetrics name)`);
  };
  const panels = (dashboard.panels ?? []).flatMap((p) => [p, ...(p.panels ?? [])]);
  if (!panels.some((p) => p.type !== 'row')) problems.push('dashboard has no panels');
  for (const p of panels) {
    if (p.type === 'row') continue;
    const where = `panel "${p.title ?? '?'}"`;
    if (!p.targets?.length) problems.push(`${where}: no queries`);
    for (const t of p.targets ?? []) {
      if (!t.expr) problems.push(`${where}: a query without expr`);
      else check(where, t.expr);
    }
  }
  for (const v of dashboard.templating?.list ?? []) {
    const q = typeof v.query === 'string' ? v.query : (v.query as { query?: string } | undefined)?.query;
    const m = q && /^label_values\(\s*([^,)]+)/.exec(q);
    if (m) check(`variable $${v.name}`, m[1]);
  }
  return problems;
}

/** KEY=VALUE lines of a kustomize env file (comments and blank lines skipped). */
export function readEnvFile(file: string): Record<string, string> {
  const env: Record<string, string> = {};
  for (const line of fs.readFileSync(file, 'utf8').split('\n')) {
    const t = line.trim();
    if (t === '' || t.startsWith('#')) continue;
    const eq = t.indexOf('=');
    if (eq <= 0) throw new Error(`${file}: not KEY=VALUE: ${t}`);
    env[t.slice(0, eq)] = t.slice(eq + 1);
  }
  return env;
}

/** Where each worker's manifest and own env file are; optional components are checked once their worker is built. */
const WORKERS = [
  { name: 'ingest', manifest: 'base/ingest.yaml', env: 'base/config/ingest.env', port: 'MPLP_INGEST_HTTP_PORT' },
  { name: 'aggregator', manifest: 'base/aggregator.yaml', env: 'base/config/aggregator.env', port: 'MPLP_AGGREGATOR_HTTP_PORT' },
  { name: 'indexer', manifest: 'base/indexer.yaml', env: 'base/config/indexer.env', port: 'MPLP_INDEXER_HTTP_PORT' },
  { name: 'archiver', manifest: 'base/archiver.yaml', env: 'base/config/archiver.env', port: 'MPLP_ARCHIVER_HTTP_PORT' },
  {
    name: 'receiver',
    manifest: 'components/receiver/receiver.yaml',
    env: 'components/receiver/receiver.env',
    port: 'MPLP_RECEIVER_OPS_PORT',
  },
  {
    name: 'notifier',
    manifest: 'components/notifier/notifier.yaml',
    env: 'components/notifier/notifier.env',
    port: 'MPLP_NOTIFIER_HTTP_PORT',
  },
];

/** The worker's config schema from its compiled config module (the export named <worker>Schema); undefined if the worker is not in this build. */
function workerSchema(distRoot: string, worker: string): Schema | undefined {
  const file = path.join(distRoot, worker, 'src', 'config.js');
  if (!fs.existsSync(file)) return undefined;
  const schema = (require(file) as Record<string, unknown>)[`${worker}Schema`];
  if (!schema) throw new Error(`${file} exports no ${worker}Schema`);
  return schema as Schema;
}

/**
 * Problems of the settings in deploy/: each worker's environment as the manifests build it (shared
 * ConfigMap, overlay merges, its own ConfigMap, the Secret keys of the shared namespace or its own
 * prefix) must load through the worker's schema; the manifest's ops port, Prometheus port and
 * KEDA FromEnv names must match that environment.
 */
export function settingsProblems(deployDir: string, distRoot: string): string[] {
  const problems: string[] = [];
  const shared = readEnvFile(path.join(deployDir, 'base/config/shared.env'));
  const overlays: Record<string, { shared: Record<string, string>; secrets: Record<string, string> }> = {
    base: { shared: {}, secrets: {} },
  };
  const overlayRoot = path.join(deployDir, 'overlays');
  for (const o of fs.existsSync(overlayRoot) ? fs.readdirSync(overlayRoot) : []) {
    const f = (n: string) => path.join(overlayRoot, o, n);
    overlays[o] = {
      shared: fs.existsSync(f('shared.env')) ? readEnvFile(f('shared.env')) : {},
      secrets: fs.existsSync(f('secrets.env')) ? readEnvFile(f('secrets.env')) : {},
    };
  }
  for (const w of WORKERS) {
    const schema = workerSchema(distRoot, w.name);
    const prefix = `MPLP_${w.name.toUpperCase()}_`;
    const own = readEnvFile(path.join(deployDir, w.env));
    const manifest = fs.readFileSync(path.join(deployDir, w.manifest), 'utf8');
    problems.push(...manifestProblems(w.name, manifest, { ...shared, ...own }, w.port));
    if (!schema) continue; // an optional component whose worker is not in this build
    for (const [overlay, o] of Object.entries(overlays)) {
      const secrets = Object.fromEntries(
        Object.entries(o.secrets).filter(
          ([k]) => k.startsWith(prefix) || !/^MPLP_(INGEST|AGGREGATOR|INDEXER|ARCHIVER|RECEIVER|NOTIFIER)_/.test(k),
        ),
      );
      const env = { ...shared, ...o.shared, ...own, ...secrets };
      try {
        loadProcessConfig(env, prefix, schema);
      } catch (err) {
        problems.push(`${w.name} (${overlay}): ${(err as Error).message}`);
      }
    }
  }
  return problems;
}

function manifestProblems(worker: string, manifest: string, env: Record<string, string>, portSetting: string): string[] {
  const problems: string[] = [];
  const port = env[portSetting];
  const ops = /name:\s*ops,\s*containerPort:\s*(\d+)/.exec(manifest)?.[1];
  const scrape = /prometheus\.io\/port:\s*"(\d+)"/.exec(manifest)?.[1];
  if (!port) problems.push(`${worker}: ${portSetting} is not set in its ConfigMap (the probes and Prometheus need a fixed port)`);
  else {
    if (ops !== port) problems.push(`${worker}: container port "ops" is ${ops}, ${portSetting} is ${port}`);
    if (scrape !== port) problems.push(`${worker}: prometheus.io/port is ${scrape}, ${portSetting} is ${port}`);
  }
  for (const m of manifest.matchAll(/(\w+)FromEnv:\s*(\S+)/g)) {
    if (env[m[2]] === undefined) problems.push(`${worker}: KEDA reads ${m[1]} from ${m[2]}, which its ConfigMaps do not set`);
  }
  const command = /\bcommand:\s*(\[.*\])/.exec(manifest)?.[1];
  if (!isCommand(command, workerCommand(worker)))
    problems.push(
      `${worker}: the container command is ${command}, the worker starts with ${JSON.stringify(workerCommand(worker))} (scripts/worker-node-flags.ts)`,
    );
  const merge = /consumerGroup:\s*(\S+-merge)\b/.exec(manifest)?.[1];
  if (merge && merge !== `${env.MPLP_AGGREGATOR_GROUP_ID}-merge`)
    problems.push(`${worker}: KEDA watches group ${merge}, the merge stage's group is ${env.MPLP_AGGREGATOR_GROUP_ID}-merge`);
  return problems;
}

/** Whether a command written as a flow sequence of double-quoted strings (YAML that is also JSON) is `want`. */
function isCommand(written: string | undefined, want: string[]): boolean {
  try {
    return written !== undefined && JSON.stringify(JSON.parse(written)) === JSON.stringify(want);
  } catch {
    return false;
  }
}

/**
 * Problems of the launchers outside deploy/ (package.json's scripts, docker-compose.yml): each
 * worker they start gets the command of scripts/worker-node-flags.ts.
 */
export function launcherProblems(root: string): string[] {
  const problems: string[] = [];
  const scripts = (JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8')) as { scripts: Record<string, string> }).scripts;
  const compose = fs.readFileSync(path.join(root, 'docker-compose.yml'), 'utf8');
  for (const { name } of WORKERS) {
    const want = workerCommand(name);
    if (scripts[name] !== want.join(' '))
      problems.push(`package.json: script ${name} is "${scripts[name]}", the worker starts with "${want.join(' ')}"`);
    const service = new RegExp(`^  ${name}:\\n(?:    .*\\n)*?    command:\\s*(\\[.*\\])`, 'm').exec(compose)?.[1];
    if (!isCommand(service, want))
      problems.push(`docker-compose.yml: service ${name}'s command is ${service}, the worker starts with ${JSON.stringify(want)}`);
  }
  return problems;
}

async function main(): Promise<void> {
  const root = path.resolve(__dirname, '..', '..');
  const deployDir = path.resolve(process.argv[2] ?? path.join(root, 'deploy'));
  const known = new Set([...(await registeredMetricNames(root)), ...EXTERNAL_METRICS]);
  const dashFile = path.join(deployDir, 'base/dashboards/mplp-pipeline.json');
  const problems = [
    ...dashboardProblems(JSON.parse(fs.readFileSync(dashFile, 'utf8')), known).map((p) => `${path.relative(root, dashFile)}: ${p}`),
    ...settingsProblems(deployDir, path.join(root, 'dist')),
    ...launcherProblems(root),
  ];
  for (const p of problems) console.error(`validate-deploy: ${p}`);
  if (problems.length > 0) process.exit(1);
  console.log(`validate-deploy: dashboard queries and worker settings ok (${known.size} metric names known)`);
}

if (require.main === module)
  void main().catch((err) => {
    console.error(`validate-deploy: ${(err as Error).message}`);
    process.exit(1);
  });
