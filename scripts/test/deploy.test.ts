// deploy/: the Kubernetes manifests, the Grafana dashboard and the settings they carry are
// checked by scripts/validate-deploy.sh (kustomize build + kubeconform against the vendored
// schemas + deploy-check); these tests run it on the committed tree and on broken copies.
// kubeconform and kustomize come from scripts/ci/install-kubeconform.sh (scripts/test.sh and
// .ci/run install them first; a missing one is built here, which takes a few minutes once).
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {
  EXTERNAL_METRICS,
  dashboardProblems,
  launcherProblems,
  promqlMetricNames,
  registeredMetricNames,
  unbalancedBracket,
} from '../deploy-check';

const root = path.resolve(__dirname, '..', '..', '..');
const deployDir = path.join(root, 'deploy');
const dashboardFile = path.join(deployDir, 'base/dashboards/mplp-pipeline.json');

function run(script: string, ...args: string[]): Promise<{ status: number | null; output: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn('bash', [path.join(root, script), ...args]);
    let output = '';
    child.stdout.on('data', (d) => {
      output += d;
    });
    child.stderr.on('data', (d) => {
      output += d;
    });
    child.on('error', reject);
    child.on('close', (status) => resolve({ status, output }));
  });
}

const validate = (dir?: string) => run('scripts/validate-deploy.sh', ...(dir ? [dir] : []));

/** A copy of deploy/ with the breakages' edits made. */
function brokenCopy(edits: Breakage[]): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mplp-deploy-'));
  fs.cpSync(deployDir, dir, { recursive: true });
  for (const [, , file, edit] of edits) {
    const target = path.join(dir, file);
    const before = fs.readFileSync(target, 'utf8');
    const after = edit(before);
    if (after === before) throw new Error(`the edit of ${file} changed nothing`);
    fs.writeFileSync(target, after);
  }
  return dir;
}

const copies: string[] = [];
afterAll(() => {
  for (const d of copies) fs.rmSync(d, { recursive: true, force: true });
});

// Breakages of one stage share a broken copy (each stage reports every problem it finds, and
// the test stays at four runs); a kustomize failure stops the build, so it has a copy of its own.
type Breakage = [what: string, stage: 'schema' | 'build' | 'settings', file: string, edit: (text: string) => string, message: RegExp];
const breakages: Breakage[] = [
  [
    'a misspelt field in a Deployment',
    'schema',
    'base/ingest.yaml',
    (t: string) => t.replace('livenessProbe: &liveness', 'livenesProbe: &liveness'),
    /livenesProbe/,
  ],
  [
    'a wrong type in a KEDA ScaledObject',
    'schema',
    'base/indexer.yaml',
    (t: string) => t.replace('minReplicaCount: 1', 'minReplicaCount: one'),
    /ScaledObject.*minReplicaCount|minReplicaCount.*(integer|string)/,
  ],
  [
    'a PodDisruptionBudget without its selector',
    'schema',
    'base/archiver.yaml',
    (t: string) => t.replace(/maxUnavailable: 1\n {2}selector:/, 'maxUnavailable: 1\n  selectr:'),
    /selectr/,
  ],
  [
    'a resource kustomize cannot find',
    'build',
    'base/kustomization.yaml',
    (t: string) => t.replace('- archiver.yaml', '- archivr.yaml'),
    /kustomize build base failed/,
  ],
  [
    'an ops port that differs from the worker setting',
    'settings',
    'base/config/aggregator.env',
    (t: string) => t.replace('MPLP_AGGREGATOR_HTTP_PORT=9403', 'MPLP_AGGREGATOR_HTTP_PORT=9413'),
    /aggregator: container port "ops" is 9403, MPLP_AGGREGATOR_HTTP_PORT is 9413/,
  ],
  [
    'a misspelt worker setting',
    'settings',
    'base/config/ingest.env',
    (t: string) => `${t}MPLP_INGEST_WORKER_THREAD=4\n`,
    /ingest \(base\): .*MPLP_INGEST_WORKER_THREAD.*unknown setting/,
  ],
  [
    'an invalid shared setting in the overlay',
    'settings',
    'overlays/local/shared.env',
    (t: string) => t.replace('MPLP_INDEX_REPLICAS=0', 'MPLP_INDEX_REPLICAS=zero'),
    /\(local\): .*MPLP_INDEX_REPLICAS/,
  ],
  [
    'a KEDA trigger reading a setting the ConfigMaps do not set',
    'settings',
    'base/ingest.yaml',
    (t: string) => t.replace('topicFromEnv: MPLP_TOPIC_RAW', 'topicFromEnv: MPLP_TOPIC_RAWW'),
    /KEDA reads topic from MPLP_TOPIC_RAWW/,
  ],
  [
    'an aggregator Deployment started without its node flags',
    'settings',
    'base/aggregator.yaml',
    (t: string) => t.replace('"node", "--single-threaded-gc", ', '"node", '),
    /aggregator: the container command is \["node", "dist\/aggregator\/src\/main.js"\], the worker starts with \["node","--single-threaded-gc",/,
  ],
  [
    'a dashboard query naming a metric nobody registers',
    'settings',
    'base/dashboards/mplp-pipeline.json',
    (t: string) => t.replace('mplp_indexer_bulk_seconds_bucket', 'mplp_indexer_bulk_latency_bucket'),
    /metric mplp_indexer_bulk_latency_bucket is not registered/,
  ],
];

describe('scripts/validate-deploy.sh', () => {
  // All runs at once: each is a few short processes, mostly node's start-up.
  let committed: ReturnType<typeof validate>;
  const broken = new Map<string, ReturnType<typeof validate>>();
  beforeAll(async () => {
    // Once, before the parallel runs: a first build of the tools takes minutes (cached after).
    const tools = await run('scripts/ci/install-kubeconform.sh');
    if (tools.status !== 0) throw new Error(`scripts/ci/install-kubeconform.sh failed: ${tools.output}`);
    committed = validate();
    for (const stage of new Set(breakages.map((b) => b[1]))) {
      const dir = brokenCopy(breakages.filter((b) => b[1] === stage));
      copies.push(dir);
      broken.set(stage, validate(dir));
    }
  }, 900_000);

  test('the committed base and local overlay build, validate strictly, and carry valid settings and known metric names', async () => {
    const r = await committed;
    expect(r.output).toMatch(/base: Summary: \d+ resources found .* Invalid: 0, Errors: 0, Skipped: 0/);
    expect(r.output).toMatch(/overlays\/local: Summary: \d+ resources found .* Invalid: 0, Errors: 0, Skipped: 0/);
    expect(r.output).toContain('dashboard queries and worker settings ok');
    expect(r.status).toBe(0);
  });

  test.each(breakages)('%s fails with a line naming it', async (_what, stage, _file, _edit, message) => {
    const r = await broken.get(stage)!;
    expect(r.output).toMatch(message);
    expect(r.status).not.toBe(0);
  });
});

describe('the launchers outside deploy/', () => {
  test('package.json and docker-compose.yml start each worker with its node flags (scripts/worker-node-flags.ts)', () => {
    expect(launcherProblems(root)).toEqual([]);
  });

  test('one that starts the aggregator without them is reported', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mplp-launchers-'));
    copies.push(dir);
    for (const f of ['package.json', 'docker-compose.yml'])
      fs.writeFileSync(
        path.join(dir, f),
        fs
          .readFileSync(path.join(root, f), 'utf8')
          .replace('node --single-threaded-gc dist', 'node dist')
          .replace('"node", "--single-threaded-gc", ', '"node", '),
      );
    expect(launcherProblems(dir)).toEqual([
      'package.json: script aggregator is "node dist/aggregator/src/main.js", the worker starts with "node --single-threaded-gc dist/aggregator/src/main.js"',
      'docker-compose.yml: service aggregator\'s command is ["node", "dist/aggregator/src/main.js"], the worker starts with ["node","--single-threaded-gc","dist/aggregator/src/main.js"]',
    ]);
  });
});

describe('the Grafana dashboard', () => {
  const dashboard = JSON.parse(fs.readFileSync(dashboardFile, 'utf8'));
  const exprs: string[] = dashboard.panels.flatMap((p: { targets?: { expr: string }[] }) => (p.targets ?? []).map((t) => t.expr));
  const used = new Set(exprs.flatMap(promqlMetricNames));

  test('shows consumer lag, throughput, DLQ rate, bulk latency, close-to-publish latency, oldest unsettled age and the span metrics', () => {
    for (const name of [
      'mplp_ingest_consumer_lag',
      'mplp_indexer_consumer_lag',
      'mplp_ingest_spans_in_total',
      'mplp_indexer_documents_indexed_total',
      'mplp_aggregator_spans_total',
      'mplp_ingest_rejected_total',
      'mplp_indexer_dlq_total',
      'mplp_indexer_bulk_seconds_bucket',
      'mplp_aggregator_window_close_to_publish_seconds_bucket',
      'mplp_consumer_oldest_unsettled_seconds',
      'traces_span_metrics_calls_total',
      'traces_span_metrics_duration_seconds_bucket',
    ])
      expect([name, used.has(name)]).toEqual([name, true]);
  });

  test('names only metrics the code registers (or the spanmetrics connector exports)', async () => {
    const known = new Set([...(await registeredMetricNames(root)), ...EXTERNAL_METRICS]);
    expect(known).toContain('mplp_consumer_oldest_unsettled_seconds'); // registered with name: on its own line
    expect(known).toContain('mplp_process_resident_memory_bytes'); // prom-client's process metrics, prefixed
    expect(dashboardProblems(dashboard, known)).toEqual([]);
    expect(dashboardProblems(dashboard, new Set([...known].filter((n) => n !== 'mplp_indexer_dlq_total')))).toEqual([
      'panel "Dead-letter rate": metric mplp_indexer_dlq_total is not registered by the code (nor a spanmetrics name)',
    ]);
  });

  test('metric names are read from PromQL, not labels, functions, ranges or grouping', () => {
    expect(
      promqlMetricNames(
        'histogram_quantile(0.99, sum by (le, service_name) (rate(traces_span_metrics_duration_seconds_bucket{service_name=~"$service", status_code="STATUS_CODE_ERROR"}[$__rate_interval])))',
      ),
    ).toEqual(['traces_span_metrics_duration_seconds_bucket']);
    expect(promqlMetricNames('sum(rate(a_total[5m])) / on (job) group_left sum(b_total) > bool 0')).toEqual(['a_total', 'b_total']);
    expect(promqlMetricNames('vector(1)')).toEqual([]);
  });

  test('a query with a bracket or string left open is reported', () => {
    expect(unbalancedBracket('sum(rate(a_total{code="x)"}[5m]))')).toBeUndefined();
    expect(unbalancedBracket('sum(rate(a_total[5m])')).toBe('an unclosed "("');
    expect(unbalancedBracket('sum(rate(a_total{code="x}[5m]))')).toBe('an unterminated string');
    expect(unbalancedBracket('sum(a_total})')).toBe('an unmatched "}"');
  });
});
