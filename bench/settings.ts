/**
 * The benchmarks' own settings (MPLP_BENCH_*), parsed and bounded by the same schema machinery as
 * the workers', so a typo or a bad number stops a bench at start with one line naming it.
 * Defaults differ per bench (a bench passes its own), the names do not.
 */
import { ConfigError, loadProcessConfig, setting } from '../shared/src';
import { workerNodeFlags } from '../scripts/worker-node-flags';

export interface BenchDefaults {
  rounds: number;
  docs?: number;
  messages?: number;
}

export function benchSchema(d: BenchDefaults) {
  return {
    rounds: setting.int('MPLP_BENCH_ROUNDS', d.rounds, 'rounds of each measurement; the bench reports medians', { min: 1, max: 100 }),
    docs: setting.int('MPLP_BENCH_DOCS', d.docs ?? 0, 'documents per round (indexer, archiver benches)', { min: 0 }),
    messages: setting.int('MPLP_BENCH_MESSAGES', d.messages ?? 0, 'OTLP requests per round (ingest bench)', { min: 0 }),
    concurrency: setting.int('MPLP_BENCH_CONCURRENCY', 4, 'receiver bench: exports in flight at once', { min: 1, max: 256 }),
    producers: setting.string(
      'MPLP_BENCH_PRODUCERS',
      '',
      "ingest bench: output producers to measure, comma separated ('librdkafka', 'kafkajs'; empty = every one installed)",
    ),
    only: setting.string(
      'MPLP_BENCH_ONLY',
      '',
      "aggregator bench: 'live' runs only the live close->publish measurement, 'cpu' only the CPU per span, 'idle' only its idle CPU; indexer bench: 'idle' only the search-idle refresh comparison",
    ),
    cpuProfDir: setting.string(
      'MPLP_BENCH_CPU_PROF_DIR',
      '',
      'aggregator bench: run the aggregator under node --cpu-prof, profiles to this directory',
    ),
    aggregatorNodeFlags: setting.string(
      'MPLP_BENCH_AGGREGATOR_NODE_FLAGS',
      workerNodeFlags('aggregator').join(' '),
      "aggregator bench: node flags of the aggregator process its CPU runs measure (space separated; default: the ones every launcher gives it, scripts/worker-node-flags.ts; empty: node's defaults)",
    ),
    liveRate: setting.int('MPLP_BENCH_LIVE_RATE', 10_000, 'aggregator live bench: spans/s produced', { min: 1 }),
    liveSeconds: setting.int('MPLP_BENCH_LIVE_SECONDS', 120, 'aggregator live bench: seconds of traffic', { min: 1 }),
    liveSeries: setting.int('MPLP_BENCH_LIVE_SERIES', 40, 'aggregator live bench: distinct series', { min: 1 }),
    steadyMinutes: setting.int('MPLP_BENCH_STEADY_MINUTES', 60, 'anomaly bench: minutes of steady demo traffic (event time)', { min: 5 }),
    steadyRate: setting.int('MPLP_BENCH_STEADY_RATE', 10, 'anomaly bench: demo traces per second of event time', { min: 1 }),
    steps: setting.int('MPLP_BENCH_STEPS', 8, 'pipeline bench: most rate steps (it stops at the first step where end-to-end lag grows)', {
      min: 1,
      max: 50,
    }),
    stepSeconds: setting.int('MPLP_BENCH_STEP_SECONDS', 60, 'pipeline bench: seconds of traffic per rate step', { min: 5 }),
    startRate: setting.int('MPLP_BENCH_START_RATE', 2000, 'pipeline bench: spans/s offered in the first step', { min: 1 }),
    growth: setting.number('MPLP_BENCH_GROWTH', 1.5, 'pipeline bench: each step offers this many times the rate of the one before', {
      min: 1.01,
      max: 10,
    }),
    loadProcesses: setting.int('MPLP_BENCH_LOAD_PROCESSES', 1, 'pipeline bench: load generator processes sharing the offered rate', {
      min: 1,
      max: 16,
    }),
    jaeger: setting.oneOf(
      'MPLP_BENCH_JAEGER',
      'off',
      ['off', 'defaults', 'tuned'] as const,
      "indexer bench: also run Jaeger v2's Kafka->Elasticsearch ingester on the same spans each round, with its defaults or tuned (4 bulk workers of 2,000 spans, tags as fields); built by scripts/cluster/jaeger.sh",
    ),
    ceilings: setting.bool('MPLP_BENCH_CEILINGS', true, 'pipeline bench: also run bench:ingest and bench:indexer for the stage ceilings'),
  };
}

/** Loads the bench settings from the environment, or exits 2 with one line naming the bad one. */
export function loadBenchSettings(d: BenchDefaults) {
  try {
    return loadProcessConfig(process.env, 'MPLP_BENCH_', benchSchema(d)).own;
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    console.error(`bench: invalid setting ${err.message}`);
    process.exit(2);
  }
}
