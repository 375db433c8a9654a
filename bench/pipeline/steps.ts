/**
 * The rate steps: offer a rate for a step's length, sample every stage's counter each second,
 * and stop at the first step where end-to-end lag grows (a stage's backlog rising through the
 * second half of the step by more than GROWTH_SHARE of the offered rate, and past
 * BACKLOG_FLOOR_SECONDS of traffic) or where the load generators could not produce the offered rate.
 */
import { median, percentile } from '../util';
import { cpuSeconds, machineJiffies, memoryMiB, quantileBetween, countBetween, buckets, scrape, total, Scrape } from './probes';
import type { LoadFleet, Measured, WorkerProcess } from './processes';
import type { SearchableProbe } from './searchable';

/** The worker counters each stage is read from (the workers' public /metrics). */
export const STAGE_COUNTERS = {
  ingest: 'mplp_ingest_spans_valid_total',
  aggregator: 'mplp_aggregator_spans_total',
  indexer: 'mplp_indexer_documents_indexed_total',
} as const;
export const CLOSE_TO_PUBLISH = 'mplp_aggregator_window_close_to_publish_seconds';
export type Stage = keyof typeof STAGE_COUNTERS;
export const STAGES = Object.keys(STAGE_COUNTERS) as Stage[];

/** A backlog rising by more than this share of the offered rate means the stage falls behind… */
export const GROWTH_SHARE = 0.05;
/**
 * …once it holds more than this many seconds of traffic: below, a rising slope is the sawtooth
 * of batches in flight (an indexer bulk, an aggregator task), which a short step can fit as growth.
 */
export const BACKLOG_FLOOR_SECONDS = 2;
/** Below this share of the offered rate produced, the step did not offer what it claims. */
const PRODUCED_SHARE = 0.9;

export interface Pipeline {
  workers: Record<Stage, WorkerProcess>;
  load: LoadFleet;
  searchable: SearchableProbe;
  /** Every process whose CPU and memory is reported: load generators, workers, Kafka, Elasticsearch, this one. */
  measured: Measured[];
}

export interface StepPlan {
  steps: number;
  stepSeconds: number;
  startRate: number;
  growth: number;
  warmupSeconds: number;
}

export interface StepResult {
  step: number;
  offered: number; // spans/s asked of the load generators
  seconds: number;
  startedAt: number; // epoch ms
  endedAt: number;
  spansPerSecond: { produced: number } & Record<Stage, number>;
  /** Per stage: backlog (spans produced and not yet through it) slope over the second half of the step (spans/s), and at its end (spans). */
  backlog: Record<Stage, { slope: number; end: number }>;
  lagGrows: boolean;
  limit?: string; // why this step ends the run
  /** A step whose lag grew is measured again at the same rate; the run ends only if it grows again. */
  recheck?: { seconds: number; limit?: string; backlog: StepResult['backlog'] };
  searchable: { samples: number; p50?: number; p99?: number; missing: number; pending: number }; // ms
  closeToPublish: { windows: number; p50?: number; p99?: number }; // ms, from the aggregator's histogram
  cpuSeconds: Record<string, number>;
  cpuPer10k: Record<string, number>; // CPU-seconds per 10,000 spans produced in the step
  machineBusy: number; // share of all cores busy, 0..1
}

interface Point extends Record<Stage, number> {
  t: number;
  produced: number;
}

/** Peak resident memory of each measured process, sampled while the bench runs. */
export class MemoryWatch {
  readonly peakRss = new Map<string, number>();
  sample(measured: Measured[]): void {
    for (const m of measured) {
      const mem = memoryMiB(m.pid);
      if (mem) this.peakRss.set(m.name, Math.max(this.peakRss.get(m.name) ?? 0, mem.rss));
    }
  }
}

async function point(p: Pipeline, last: Point | undefined): Promise<{ at: Point; scrapes: Partial<Record<Stage, Scrape>> }> {
  const scrapes: Partial<Record<Stage, Scrape>> = {};
  await Promise.all(
    STAGES.map(async (s) => {
      scrapes[s] = await scrape(p.workers[s].httpPort).catch(() => undefined);
    }),
  );
  const at = { t: Date.now(), produced: p.load.ackedSpans } as Point;
  // A scrape that timed out (a worker busy for seconds) keeps the stage's last value.
  for (const s of STAGES) at[s] = scrapes[s] ? total(scrapes[s], STAGE_COUNTERS[s]) : (last?.[s] ?? 0);
  return { at, scrapes };
}

/** Least-squares slope of y over t in ms, per second. */
export function slope(points: { t: number; y: number }[]): number {
  if (points.length < 2) return 0;
  const mt = points.reduce((a, p) => a + p.t, 0) / points.length;
  const my = points.reduce((a, p) => a + p.y, 0) / points.length;
  let num = 0;
  let den = 0;
  for (const p of points) {
    num += (p.t - mt) * (p.y - my);
    den += (p.t - mt) ** 2;
  }
  return den ? (num / den) * 1000 : 0;
}

function cpuSnapshot(measured: Measured[]): Map<string, number> {
  return new Map(measured.map((m) => [m.name, cpuSeconds(m.pid) ?? NaN]));
}

/** Offers `rate` for `seconds`, sampling every second; returns the step's figures. */
async function measureStep(p: Pipeline, memory: MemoryWatch, step: number, rate: number, seconds: number): Promise<StepResult> {
  p.load.setRate(rate);
  const first = await point(p, undefined);
  const cpu0 = cpuSnapshot(p.measured);
  const jiffies0 = machineJiffies();
  const hist0 = buckets(first.scrapes.aggregator, CLOSE_TO_PUBLISH);
  const points: Point[] = [first.at];
  let last = first;
  while (Date.now() - first.at.t < seconds * 1000) {
    await new Promise((r) => setTimeout(r, Math.min(1000, seconds * 1000 - (Date.now() - first.at.t))));
    for (const s of STAGES)
      if (p.workers[s].child.exitCode !== null) throw new Error(`${s} exited during step ${step} (log: ${p.workers[s].logFile})`);
    last = await point(p, last.at);
    points.push(last.at);
    memory.sample(p.measured);
  }
  const cpu1 = cpuSnapshot(p.measured);
  const jiffies1 = machineJiffies();
  const hist1 = buckets(last.scrapes.aggregator, CLOSE_TO_PUBLISH);
  const [a, b] = [points[0], points[points.length - 1]];
  const secs = (b.t - a.t) / 1000;
  const produced = b.produced - a.produced;
  const half = points.filter((x) => x.t >= a.t + (b.t - a.t) / 2);
  const backlog = {} as StepResult['backlog'];
  const perSecond = { produced: produced / secs } as StepResult['spansPerSecond'];
  for (const s of STAGES) {
    perSecond[s] = (b[s] - a[s]) / secs;
    backlog[s] = { slope: slope(half.map((x) => ({ t: x.t, y: x.produced - x[s] }))), end: b.produced - b[s] };
  }
  const cpu: Record<string, number> = {};
  const per10k: Record<string, number> = {};
  for (const [name, v] of cpu1) {
    cpu[name] = v - (cpu0.get(name) ?? NaN);
    per10k[name] = produced > 0 ? (cpu[name] / produced) * 10_000 : NaN;
  }
  const limit = stepLimit(rate, perSecond.produced, backlog);
  const result: StepResult = {
    step,
    offered: rate,
    seconds: secs,
    startedAt: a.t,
    endedAt: b.t,
    spansPerSecond: perSecond,
    backlog,
    lagGrows: STAGES.some((s) => lagGrows(rate, backlog[s])),
    limit,
    searchable: { samples: 0, missing: 0, pending: 0 },
    closeToPublish: {
      windows: countBetween(hist0, hist1),
      p50: ms(quantileBetween(hist0, hist1, 0.5)),
      p99: ms(quantileBetween(hist0, hist1, 0.99)),
    },
    cpuSeconds: cpu,
    cpuPer10k: per10k,
    machineBusy: (jiffies1.busy - jiffies0.busy) / (jiffies1.total - jiffies0.total),
  };
  fillSearchable(result, p.searchable);
  return result;
}

const lagGrows = (rate: number, b: { slope: number; end: number }) => b.slope > GROWTH_SHARE * rate && b.end > BACKLOG_FLOOR_SECONDS * rate;

/**
 * Why a step ends the run, or undefined when the pipeline kept up: a stage whose backlog grew by
 * more than GROWTH_SHARE of the offered rate, or load generators that could not produce it.
 */
export function stepLimit(rate: number, produced: number, backlog: StepResult['backlog']): string | undefined {
  const growing = STAGES.filter((s) => lagGrows(rate, backlog[s]));
  const reasons = growing.length
    ? [`backlog growing at ${growing.map((s) => `${s} +${Math.round(backlog[s].slope)} spans/s`).join(', ')}`]
    : [];
  if (produced < PRODUCED_SHARE * rate) reasons.push(`the load generators produced ${Math.round(produced)} of ${rate} spans/s`);
  return reasons.length ? reasons.join('; ') : undefined;
}

const ms = (seconds: number | undefined) => (seconds === undefined ? undefined : seconds * 1000);

/** (Re)computes a step's produced → searchable figures from the samples acknowledged during it. */
export function fillSearchable(r: StepResult, probe: SearchableProbe): void {
  const { found, missing, pending } = probe.between(r.startedAt, r.endedAt);
  r.searchable = {
    samples: found.length,
    p50: found.length ? median(found) : undefined,
    p99: found.length ? percentile(found, 99) : undefined,
    missing,
    pending,
  };
}

/**
 * Holds the rate of a step whose lag grew for half a step more. A backlog that grows again ends
 * the run; one that does not was a burst (a GC pause, a merge, another process on the machine):
 * the step counts as steady and keeps its own figures, with the recheck's beside them.
 */
async function recheck(p: Pipeline, memory: MemoryWatch, r: StepResult, plan: StepPlan): Promise<void> {
  const again = await measureStep(p, memory, r.step, r.offered, Math.max(10, Math.round(plan.stepSeconds / 2)));
  r.recheck = { seconds: again.seconds, limit: again.limit, backlog: again.backlog };
  if (again.lagGrows) return;
  r.lagGrows = false;
  r.limit = again.limit; // still set if the load generators fell short
}

/** The offered rate of step `i` (0-based). */
export const stepRate = (plan: StepPlan, i: number) => Math.round(plan.startRate * plan.growth ** i);

/**
 * Warms the pipeline up at the first rate (JIT, group joins, first windows; not measured), then
 * runs the steps until one ends the run. `onStep` gets each step as it finishes (progress).
 */
export async function runSteps(
  p: Pipeline,
  plan: StepPlan,
  memory: MemoryWatch,
  onStep: (r: StepResult) => void,
): Promise<{ steps: StepResult[]; stopReason: string }> {
  p.load.setRate(plan.startRate);
  await new Promise((r) => setTimeout(r, plan.warmupSeconds * 1000));
  const steps: StepResult[] = [];
  for (let i = 0; i < plan.steps; i++) {
    const r = await measureStep(p, memory, i + 1, stepRate(plan, i), plan.stepSeconds);
    if (r.lagGrows) await recheck(p, memory, r, plan);
    steps.push(r);
    onStep(r);
    if (r.limit) return { steps, stopReason: `step ${r.step} (${r.offered} spans/s): ${r.limit}` };
  }
  return {
    steps,
    stopReason: `all ${plan.steps} steps ran without the lag growing (raise MPLP_BENCH_STEPS or MPLP_BENCH_GROWTH to find the limit)`,
  };
}
