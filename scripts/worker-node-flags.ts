/**
 * The Node/V8 flags a worker is started with. They cannot be set from inside the process (V8
 * reads them before the first line runs, and `--single-threaded-gc` is refused in NODE_OPTIONS),
 * so every launcher we ship passes them: scripts/start.sh (from this file), package.json,
 * docker-compose.yml, deploy/, and the benches. deploy-check holds the literal ones to this list.
 *
 * aggregator, `--single-threaded-gc`: V8 otherwise runs its scavenges, marking and sweeping on
 * four helper threads alongside the main and pool threads, and on the aggregator's small heaps
 * the hand-offs cost more than they save. Measured with `MPLP_BENCH_ONLY=cpu npm run
 * bench:aggregator` against `MPLP_BENCH_AGGREGATOR_NODE_FLAGS=`, medians of 6 rounds: 14 % less
 * CPU per span on the value path, 27 % on the span-summary path (aggregator/README.md). The price
 * would be longer pauses on each thread; bench:aggregator's live close -> publish measurement did
 * not show them.
 * Not ingest: `node --single-threaded-gc dist/bench/ingest.js` against `node dist/bench/ingest.js`
 * (kafkajs, 2 rounds) gave 16.66 against 17.14 CPU-µs a span for protobuf and 18.09 against 17.46
 * for JSON: no gain beyond the noise.
 */
export const WORKER_NODE_FLAGS: Readonly<Record<string, readonly string[]>> = {
  aggregator: ['--single-threaded-gc'],
};

/** The flags of `worker` (none for a worker not listed). */
export function workerNodeFlags(worker: string): readonly string[] {
  return WORKER_NODE_FLAGS[worker] ?? [];
}

/** The command line that starts `worker` from the repository root: node, its flags, its main. */
export function workerCommand(worker: string): string[] {
  return ['node', ...workerNodeFlags(worker), `dist/${worker}/src/main.js`];
}

/** node's arguments to run a worker's main.js (a path ending in <worker>/src/main.js): the worker's flags, then the file. */
export function workerNodeArgs(mainJs: string): string[] {
  const m = /([^/\\]+)[/\\]src[/\\]main\.js$/.exec(mainJs);
  return [...(m ? workerNodeFlags(m[1]) : []), mainJs];
}

// `node dist/scripts/worker-node-flags.js <worker>` prints the worker's flags (for start.sh).
if (require.main === module) console.log(workerNodeFlags(process.argv[2] ?? '').join(' '));
