/**
 * The stage ceilings, measured in the same run by the stage benches themselves (no second copy
 * of their code): bench:ingest's raw passthrough (consume raw → produce with no work, same
 * client settings) and bench:indexer's raw bulk load (the same documents bulk-loaded straight
 * into Elasticsearch with the best bulk size × concurrency). Each runs as a child process after
 * the pipeline's workers have stopped; their result lines are kept verbatim next to the figures
 * read from them, so a change of wording there loses a number here, never the evidence.
 */
import { spawn } from 'node:child_process';
import path from 'node:path';
import { ROOT } from './processes';

export interface StageBench {
  command: string;
  seconds: number;
  exitCode: number | null;
  /** The bench's result lines (its per-round and probe lines left out). */
  lines: string[];
}

export interface Ceilings {
  /** bench:ingest, OTLP/protobuf (what the load generators send): best passthrough over the producers measured. */
  passthrough?: number;
  /** bench:ingest's own ingest spans/s on protobuf with the same producer as that passthrough. */
  ingestAlone?: number;
  /** bench:indexer's bulk-load ceiling, documents/s. */
  bulkLoad?: number;
  /** bench:indexer's own indexer documents/s. */
  indexerAlone?: number;
  runs: StageBench[];
}

const num = (s: string | undefined) => (s === undefined ? undefined : Number(s.replace(/,/g, '')));

async function runBench(script: string, env: NodeJS.ProcessEnv, progress: (line: string) => void): Promise<StageBench> {
  const started = Date.now();
  const child = spawn(process.execPath, [path.join(ROOT, 'dist', 'bench', script)], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  const out: string[] = [];
  let partial = '';
  child.stdout!.on('data', (d: Buffer) => {
    const text = partial + d.toString();
    const lines = text.split('\n');
    partial = lines.pop() ?? '';
    for (const l of lines) {
      out.push(l);
      progress(`  ${script}: ${l}`);
    }
  });
  let err = '';
  child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
  const exitCode = await new Promise<number | null>((resolve) => child.once('exit', resolve));
  if (partial) out.push(partial);
  if (exitCode !== 0) out.push(...err.trim().split('\n').slice(0, 3)); // the error and where it was thrown
  return {
    command: `node dist/bench/${script}`,
    seconds: (Date.now() - started) / 1000,
    exitCode,
    lines: out.filter((l) => l.trim() && !/^\s+(round|ceiling probe)/.test(l)),
  };
}

/** Parses bench:ingest's protobuf lines: `protobuf <producer> … ingest N spans/s … passthrough ceiling M spans/s …`. */
export function fromIngest(run: StageBench, c: Ceilings): void {
  for (const l of run.lines) {
    if (!/^protobuf\b/.test(l)) continue;
    const pass = num(/passthrough[^|]*?([\d,.]+) spans\/s/.exec(l)?.[1]);
    const alone = num(/ingest ([\d,.]+) spans\/s/.exec(l)?.[1]);
    if (pass !== undefined && pass > (c.passthrough ?? 0)) {
      c.passthrough = pass;
      c.ingestAlone = alone;
    }
  }
}

/** Parses bench:indexer's summary: `indexer N docs/s | ceiling (bulk B × C) M docs/s | ratio …`. */
export function fromIndexer(run: StageBench, c: Ceilings): void {
  for (const l of run.lines) {
    const ceil = /ceiling[^|]*?([\d,.]+) docs\/s/.exec(l);
    if (!ceil) continue;
    c.bulkLoad = num(ceil[1]);
    c.indexerAlone = num(/^indexer ([\d,.]+) docs\/s/.exec(l)?.[1]);
  }
}

/**
 * Runs both stage benches, one round each unless MPLP_BENCH_ROUNDS says otherwise (passed on
 * with MPLP_BENCH_MESSAGES and MPLP_BENCH_DOCS when set; their own defaults otherwise).
 */
export async function measureCeilings(env: NodeJS.ProcessEnv, rounds: number, progress: (line: string) => void): Promise<Ceilings> {
  const c: Ceilings = { runs: [] };
  const own = { ...env, MPLP_BENCH_ROUNDS: String(rounds) };
  const ingest = await runBench('ingest.js', own, progress);
  c.runs.push(ingest);
  fromIngest(ingest, c);
  const indexer = await runBench('indexer.js', own, progress);
  c.runs.push(indexer);
  fromIndexer(indexer, c);
  return c;
}
