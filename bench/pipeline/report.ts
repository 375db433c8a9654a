/**
 * The pipeline bench's outputs under bench/results/: the whole run as JSON (latest.json and a
 * dated copy), a markdown report (latest.md), three SVG charts (latest-throughput.svg,
 * latest-latency.svg, latest-cpu.svg), and the "Whole pipeline" block of the top-level README
 * (between its pipeline-bench markers) refreshed from the same figures.
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fmt } from '../util';
import { barChart, lineChart } from './charts';
import type { Ceilings } from './ceilings';
import type { MachineInfo } from './probes';
import { ROOT } from './processes';
import { BACKLOG_FLOOR_SECONDS, GROWTH_SHARE, STAGES, StepPlan, StepResult } from './steps';

export interface BenchResult {
  startedAt: string;
  finishedAt: string;
  /** A run shorter than the defaults: its numbers show the output's shape, not the pipeline's limits. */
  example: boolean;
  machine: MachineInfo;
  cluster: { kafka: { version: string; pid?: number }; elasticsearch: { version: string; pid?: number } };
  plan: StepPlan & { loadProcesses: number };
  steps: StepResult[];
  stopReason: string;
  /** The highest step that ended without a limit, if any. */
  sustainedStep?: number;
  /** Peak resident memory, MiB: VmHWM of the bench's own processes; for Kafka and Elasticsearch the highest VmRSS sampled during the run. */
  peakRssMiB: Record<string, number>;
  drain: { seconds: number; complete: boolean };
  ceilings?: Ceilings;
}

export const RESULTS = path.join(ROOT, 'bench', 'results');
const README_START = '<!-- pipeline-bench:start -->';
const README_END = '<!-- pipeline-bench:end -->';

const opt = (v: number | undefined, digits = 0) => (v === undefined ? 'n/a' : fmt(v, digits));
const ratio = (a: number | undefined, b: number | undefined) => (a && b ? fmt(a / b, a / b < 0.1 ? 3 : 2) : 'n/a');

export function sustained(r: BenchResult): StepResult | undefined {
  return r.steps.find((s) => s.step === r.sustainedStep);
}

/** The step whose CPU figures the summary quotes: the sustained one, else the first. */
function cpuStep(r: BenchResult): StepResult | undefined {
  return sustained(r) ?? r.steps[0];
}

/** Not part of the pipeline: what offers the load and what measures it. */
const isHarness = (name: string) => name.startsWith('load generator') || name === 'bench driver';

/** CPU-seconds per 10,000 spans of a step, summed: the pipeline's processes only, or every process. */
function cpuSum(s: StepResult, withHarness: boolean): number {
  return Object.entries(s.cpuPer10k).reduce((a, [n, v]) => a + (Number.isFinite(v) && (withHarness || !isHarness(n)) ? v : 0), 0);
}

function machineLine(r: BenchResult): string {
  const m = r.machine;
  return (
    `${m.cpuModel}, ${m.cores} cores, ${m.memoryGiB} GiB RAM (/proc/cpuinfo, /proc/meminfo), Linux ${m.kernel}, Node ${m.node}; ` +
    `Kafka ${r.cluster.kafka.version} and Elasticsearch ${r.cluster.elasticsearch.version}, one node each, on the same machine`
  );
}

/** At the step that ended the run: how busy the machine was and which processes used the most CPU (cores). */
function limitEvidence(r: BenchResult): string {
  const s = r.steps.find((x) => x.limit);
  if (!s) return '';
  const top = Object.entries(s.cpuSeconds)
    .map(([n, v]) => [n, v / s.seconds] as const)
    .sort((a, b) => b[1] - a[1])
    .slice(0, 3);
  return `; machine ${fmt(s.machineBusy * 100)} % busy; most CPU: ${top.map(([n, c]) => `${n} ${fmt(c, 2)} cores`).join(', ')}`;
}

function summaryTable(r: BenchResult): string[] {
  const s = sustained(r);
  const best = (k: (typeof STAGES)[number]) => Math.max(...r.steps.map((x) => x.spansPerSecond[k]));
  const c = r.ceilings;
  const cpu = cpuStep(r);
  return [
    '| figure | value |',
    '| --- | --- |',
    `| sustained end to end (highest step without growing lag) | ${s ? `**${fmt(s.spansPerSecond.indexer)} spans/s** (step ${s.step}, offered ${fmt(s.offered)})` : 'none: the first step already lagged'} |`,
    `| produced → searchable at that rate | p50 ${opt(s?.searchable.p50)} ms, p99 ${opt(s?.searchable.p99)} ms |`,
    `| window close → metrics record at that rate | p99 ${opt(s?.closeToPublish.p99)} ms (p50 ${opt(s?.closeToPublish.p50)} ms) |`,
    `| ingest: best step vs raw passthrough ceiling | ${fmt(best('ingest'))} vs ${opt(c?.passthrough)} spans/s (ratio ${ratio(best('ingest'), c?.passthrough)}) |`,
    `| indexer: best step vs raw bulk-load ceiling | ${fmt(best('indexer'))} vs ${opt(c?.bulkLoad)} docs/s (ratio ${ratio(best('indexer'), c?.bulkLoad)}) |`,
    `| CPU per 10,000 spans at step ${cpu?.step ?? 'n/a'}: workers, Kafka and Elasticsearch (with the load generator and bench driver) | ${cpu ? `${fmt(cpuSum(cpu, false), 3)} CPU-s (${fmt(cpuSum(cpu, true), 3)})` : 'n/a'} |`,
    `| run ended at | ${r.stopReason}${limitEvidence(r)} |`,
  ];
}

function stepsTable(r: BenchResult): string[] {
  const rows = r.steps.map((s) => {
    const worst = STAGES.reduce((a, b) => (s.backlog[b].slope > s.backlog[a].slope ? b : a));
    return (
      `| ${s.step} | ${fmt(s.offered)} | ${fmt(s.spansPerSecond.produced)} | ${fmt(s.spansPerSecond.ingest)} | ${fmt(s.spansPerSecond.aggregator)} | ` +
      `${fmt(s.spansPerSecond.indexer)} | ${opt(s.searchable.p50)} / ${opt(s.searchable.p99)} | ${opt(s.closeToPublish.p99)} | ` +
      `${worst} ${s.backlog[worst].slope >= 0 ? '+' : ''}${fmt(s.backlog[worst].slope)} | ${fmt(s.machineBusy * 100)} % | ${s.limit ? `**${s.limit}**` : 'steady'}${s.recheck ? ` (rechecked ${fmt(s.recheck.seconds)} s: ${s.recheck.limit ?? 'steady'})` : ''} |`
    );
  });
  return [
    '| step | offered spans/s | produced | ingest | aggregator | indexed | searchable p50 / p99 ms | close → record p99 ms | backlog slope, spans/s | machine CPU busy | lag |',
    '| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- | ---: | --- |',
    ...rows,
  ];
}

function cpuTable(r: BenchResult): string[] {
  const names = [...new Set(r.steps.flatMap((s) => Object.keys(s.cpuPer10k)))];
  const head = `| process | ${r.steps.map((s) => `step ${s.step} (${fmt(s.offered)}/s)`).join(' | ')} | cores used, step ${cpuStep(r)?.step ?? '-'} | peak RSS MiB |`;
  const sep = `| --- | ${r.steps.map(() => '---:').join(' | ')} | ---: | ---: |`;
  const cpu = cpuStep(r);
  const rows = names.map(
    (n) =>
      `| ${n} | ${r.steps.map((s) => fmt(s.cpuPer10k[n], 3)).join(' | ')} | ${cpu ? fmt(cpu.cpuSeconds[n] / cpu.seconds, 2) : 'n/a'} | ${opt(r.peakRssMiB[n])} |`,
  );
  const cores = (withHarness: boolean) =>
    cpu ? fmt(Object.entries(cpu.cpuSeconds).reduce((a, [n, v]) => a + (withHarness || !isHarness(n) ? v : 0), 0) / cpu.seconds, 2) : '';
  rows.push(
    `| **pipeline** (workers, Kafka, Elasticsearch) | ${r.steps.map((s) => `**${fmt(cpuSum(s, false), 3)}**`).join(' | ')} | ${cores(false)} | |`,
  );
  rows.push(`| **all** | ${r.steps.map((s) => `**${fmt(cpuSum(s, true), 3)}**`).join(' | ')} | ${cores(true)} | |`);
  return [head, sep, ...rows];
}

function ceilingsTable(r: BenchResult): string[] {
  const c = r.ceilings;
  if (!c) return ['Not measured (MPLP_BENCH_CEILINGS=false).'];
  const best = (k: 'ingest' | 'indexer') => Math.max(...r.steps.map((x) => x.spansPerSecond[k]));
  return [
    '| stage | in the pipeline (best step) | the stage bench alone | ceiling | pipeline / ceiling | alone / ceiling |',
    '| --- | ---: | ---: | ---: | ---: | ---: |',
    `| ingest, spans/s | ${fmt(best('ingest'))} | ${opt(c.ingestAlone)} | ${opt(c.passthrough)} (raw passthrough) | ${ratio(best('ingest'), c.passthrough)} | ${ratio(c.ingestAlone, c.passthrough)} |`,
    `| indexer, docs/s | ${fmt(best('indexer'))} | ${opt(c.indexerAlone)} | ${opt(c.bulkLoad)} (raw bulk load) | ${ratio(best('indexer'), c.bulkLoad)} | ${ratio(c.indexerAlone, c.bulkLoad)} |`,
    '',
    "In the pipeline a stage gets at most the offered rate: a ratio far below 1 there is headroom, not slowness, unless that stage's backlog grew.",
    '',
    "The stage benches' own result lines:",
    '',
    '```',
    ...c.runs.flatMap((x) => [`$ ${x.command}   # ${fmt(x.seconds)} s, exit ${x.exitCode}`, ...x.lines]),
    '```',
  ];
}

function exampleNote(r: BenchResult): string[] {
  return r.example
    ? [
        `> **Example output only.** A short run (${r.plan.steps} steps of ${r.plan.stepSeconds} s) on a machine shared with other work; its numbers show the`,
        "> shape of the report, not the pipeline's limits. `npm run bench` with the default settings on a quiet machine replaces it.",
        '',
      ]
    : [];
}

function readmeBlock(r: BenchResult): string {
  return [
    README_START,
    ...exampleNote(r),
    `Latest run: ${r.startedAt.slice(0, 16).replace('T', ' ')} UTC on ${machineLine(r)}. Full report: [bench/results/latest.md](bench/results/latest.md).`,
    '',
    ...summaryTable(r),
    '',
    ...stepsTable(r),
    '',
    '![throughput per stage](bench/results/latest-throughput.svg)',
    '',
    '![latency](bench/results/latest-latency.svg)',
    '',
    '![CPU per 10,000 spans](bench/results/latest-cpu.svg)',
    README_END,
  ].join('\n');
}

export function markdown(r: BenchResult): string {
  return [
    `# Whole-pipeline benchmark, ${r.startedAt.slice(0, 16).replace('T', ' ')} UTC`,
    '',
    ...exampleNote(r),
    `Machine: ${machineLine(r)}.`,
    '',
    `Run: \`npm run bench\`, ${r.steps.length} of at most ${r.plan.steps} steps of ${r.plan.stepSeconds} s after ${r.plan.warmupSeconds} s of warm-up, ` +
      `from ${fmt(r.plan.startRate)} spans/s, ×${r.plan.growth} per step, ${r.plan.loadProcesses} load generator process(es); ` +
      `drain after the last step ${fmt(r.drain.seconds)} s${r.drain.complete ? '' : ' (incomplete)'}.`,
    '',
    '## Summary',
    '',
    ...summaryTable(r),
    '',
    '## Steps',
    '',
    ...stepsTable(r),
    '',
    '![throughput per stage](latest-throughput.svg)',
    '',
    '![latency](latest-latency.svg)',
    '',
    '## CPU-seconds per 10,000 spans, and peak RSS',
    '',
    ...cpuTable(r),
    '',
    '![CPU per 10,000 spans](latest-cpu.svg)',
    '',
    '## Stage ceilings (same run, after the steps)',
    '',
    ...ceilingsTable(r),
    '',
    '## How to read this',
    '',
    ...HOW_TO_READ,
    '',
  ].join('\n');
}

const HOW_TO_READ = [
  "- Each step offers a rate for its length; every second the bench reads each stage's counter from the worker's own `/metrics`",
  '  (`mplp_ingest_spans_valid_total`, `mplp_aggregator_spans_total`, `mplp_indexer_documents_indexed_total`) and the spans the load',
  "  generators had acknowledged (acks=all). A stage's backlog is produced minus its counter; its slope is fitted over the",
  `  second half of the step. A slope above ${GROWTH_SHARE * 100} % of the offered rate, with more than ${BACKLOG_FLOOR_SECONDS} s of traffic in the backlog at`,
  '  the end of the step, is lag that grows. Such a step is held for half a step more: if the backlog grows again the run',
  '  stops there and the step before it is the sustained rate; if not, it was a burst and the run goes on. `indexed`',
  '  counts window and alert documents too (a few per second).',
  "- produced → searchable: one span id per 100 ms per load generator, from its request's Kafka acknowledgement until a search",
  '  for it on Elasticsearch finds it (polled every 100 ms, so up to 100 ms of the figure is the poll; the index refresh',
  '  interval is most of the rest).',
  "- window close → record: the aggregator's own histogram `mplp_aggregator_window_close_to_publish_seconds` over the step,",
  "  p50/p99 interpolated inside its buckets as Prometheus' `histogram_quantile` does.",
  '- CPU: user + system time of each process from `/proc/<pid>/stat` over the step (all its threads), divided by the spans',
  "  produced in the step. Kafka and Elasticsearch are the cluster scripts' processes (`.cluster/<service>/pid`, or the",
  '  process listening on their port); their figures include anything else they served meanwhile. "bench driver" is this',
  "  process (it polls Elasticsearch and the workers' /metrics). Peak RSS: `VmHWM` of our processes; for Kafka and",
  '  Elasticsearch, which run for longer than a bench, the highest `VmRSS` sampled during the run.',
  '- Ceilings: `bench:ingest` (raw passthrough: consume raw → produce with no work) and `bench:indexer` (the same documents',
  '  bulk-loaded straight into Elasticsearch), run as they are, after the steps, with `MPLP_BENCH_ROUNDS` rounds.',
];

/** Writes every output; returns the paths written. */
export function writeResults(r: BenchResult): string[] {
  mkdirSync(RESULTS, { recursive: true });
  const written: string[] = [];
  const write = (name: string, text: string) => {
    writeFileSync(path.join(RESULTS, name), text);
    written.push(path.join('bench', 'results', name));
  };
  const json = JSON.stringify(r, null, 2) + '\n';
  write(`pipeline-${r.startedAt.replace(/[:.]/g, '-')}.json`, json);
  write('latest.json', json);
  write('latest.md', markdown(r));
  for (const [name, svg] of Object.entries(charts(r))) write(name, svg);
  const readme = path.join(ROOT, 'README.md');
  if (existsSync(readme)) {
    const text = readFileSync(readme, 'utf8');
    const [a, b] = [text.indexOf(README_START), text.indexOf(README_END)];
    if (a >= 0 && b > a) {
      writeFileSync(readme, text.slice(0, a) + readmeBlock(r) + text.slice(b + README_END.length));
      written.push('README.md (the "Whole pipeline" block)');
    }
  }
  return written;
}

function charts(r: BenchResult): Record<string, string> {
  const x = (f: (s: StepResult) => number | undefined) => r.steps.map((s) => [s.offered, f(s) ?? NaN] as [number, number]);
  const throughput = lineChart({
    title: 'Throughput per stage at each offered rate',
    xLabel: 'offered spans/s',
    yLabel: 'spans/s (documents/s for the indexer)',
    series: [
      { name: 'produced', points: x((s) => s.spansPerSecond.produced) },
      { name: 'ingest', points: x((s) => s.spansPerSecond.ingest) },
      { name: 'aggregator', points: x((s) => s.spansPerSecond.aggregator) },
      { name: 'indexer', points: x((s) => s.spansPerSecond.indexer) },
      ...(r.ceilings?.passthrough ? [{ name: 'raw passthrough', points: [], level: r.ceilings.passthrough }] : []),
      ...(r.ceilings?.bulkLoad ? [{ name: 'raw bulk load', points: [], level: r.ceilings.bulkLoad }] : []),
    ],
  });
  const latency = lineChart({
    title: 'Latency at each offered rate (log scale)',
    xLabel: 'offered spans/s',
    yLabel: 'milliseconds',
    logY: true,
    series: [
      { name: 'searchable p50', points: x((s) => s.searchable.p50) },
      { name: 'searchable p99', points: x((s) => s.searchable.p99) },
      { name: 'close → record p50', points: x((s) => s.closeToPublish.p50) },
      { name: 'close → record p99', points: x((s) => s.closeToPublish.p99) },
    ],
  });
  const step = cpuStep(r);
  const cpu = barChart({
    title: `CPU-seconds per 10,000 spans by process, step ${step?.step ?? '-'} (${fmt(step?.offered ?? NaN)} spans/s)`,
    unit: 'CPU-seconds per 10,000 spans (user + system, /proc)',
    bars: Object.entries(step?.cpuPer10k ?? {}).map(([label, value]) => ({ label, value })),
  });
  return { 'latest-throughput.svg': throughput, 'latest-latency.svg': latency, 'latest-cpu.svg': cpu };
}
