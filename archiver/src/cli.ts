/**
 * archiver CLI:
 *   node dist/archiver/src/cli.js archive [--index NAME] [--dry-run]   aged indices (or one) to S3
 *   node dist/archiver/src/cli.js restore <index> [--force]
 *   node dist/archiver/src/cli.js unmark <index>                       let the archiver take a restored index again
 *   node dist/archiver/src/cli.js list                                 archived indices, all generations
 *   node dist/archiver/src/cli.js verify <index>                       every part of every generation
 * Prints one JSON result line on stdout; progress goes to stderr (a live line on a terminal).
 * Exit 0 on success, 1 on a failure (one line naming it), 2 on a bad setting or usage.
 */
import { parseArgs } from 'node:util';
import { ConfigError, MplpError } from '../../shared/src';
import { archiveAged, createArchiverParts } from './index';
import { agedIndices, manifestGeneration } from './layout';

const USAGE = `usage: node dist/archiver/src/cli.js <command> [options]

commands:
  archive [--index NAME] [--dry-run]   archive the aged indices now (or one); --dry-run lists them
  restore <index> [--force]            bring an archived index back (--force replaces a different one)
  unmark <index>                       let the archiver take a restored index again
  list                                 archived indices, every generation
  verify <index>                       check every part of every generation in S3

options:
  -h, --help                           show this help

Settings are the archiver's MPLP_* variables (archiver/README.md).`;

/** A mistake in the command line: printed with the usage, exit code 2. */
class UsageError extends Error {}

type Parts = ReturnType<typeof createArchiverParts>;
type Command = (
  parts: Parts,
  args: { positionals: string[]; index?: string; dryRun: boolean; force: boolean },
  progress: Progress,
) => Promise<number>;
type Progress = (index: string, docs: number, total: number) => void;

const COMMANDS: Record<string, { positionals: number; run: Command }> = {
  archive: { positionals: 0, run: archive },
  restore: { positionals: 1, run: restore },
  unmark: { positionals: 1, run: unmark },
  list: { positionals: 0, run: list },
  verify: { positionals: 1, run: verify },
};

function parse(argv: string[]) {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      allowPositionals: true,
      strict: true,
      options: {
        index: { type: 'string' },
        'dry-run': { type: 'boolean' },
        force: { type: 'boolean' },
        help: { type: 'boolean', short: 'h' },
      },
    });
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
  const [cmd, ...positionals] = parsed.positionals;
  if (parsed.values.help) return undefined;
  const command = cmd === undefined ? undefined : COMMANDS[cmd];
  if (!command) throw new UsageError(cmd === undefined ? 'a command is needed' : `unknown command ${cmd}`);
  if (positionals.length !== command.positionals)
    throw new UsageError(`${cmd} takes ${command.positionals === 1 ? 'an index name' : 'no arguments'}`);
  return {
    command,
    args: { positionals, index: parsed.values.index, dryRun: parsed.values['dry-run'] ?? false, force: parsed.values.force ?? false },
  };
}

/** Progress on stderr with rate and time left: a live line on a terminal, a line every 10 s otherwise. */
function progressReporter(): Progress {
  const tty = process.stderr.isTTY;
  let lastLog = 0;
  let started: { index: string; at: number } | undefined;
  return (index, docs, total) => {
    if (started?.index !== index) started = { index, at: Date.now() };
    const seconds = (Date.now() - started.at) / 1000;
    const rate = seconds > 0 ? docs / seconds : 0;
    const eta = rate > 0 ? `, ${Math.ceil((total - docs) / rate)} s left` : '';
    const line = `${index}: ${docs}/${total} documents (${Math.round(rate)}/s${eta})`;
    if (tty) process.stderr.write(`\r${line}   `);
    else if (Date.now() - lastLog > 10_000) {
      lastLog = Date.now();
      process.stderr.write(`${line}\n`);
    }
  };
}

async function main(argv: string[]): Promise<number> {
  const parsed = parse(argv);
  if (!parsed) {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  const progress = progressReporter();
  const parts = createArchiverParts(process.env, { progress }, { logToStderr: true });
  try {
    const code = await parsed.command.run(parts, parsed.args, progress);
    if (process.stderr.isTTY) process.stderr.write('\n');
    return code;
  } finally {
    await parts.close();
  }
}

async function archive(parts: Parts, args: { index?: string; dryRun: boolean }): Promise<number> {
  if (args.dryRun) {
    const rows = (await parts.es.cat.indices({
      index: `${parts.cfg.shared.indexPrefix}-*`,
      h: 'index',
      format: 'json',
    } as never)) as unknown as { index: string }[];
    console.log(
      JSON.stringify({
        wouldArchive: agedIndices(
          rows.map((r) => r.index),
          parts.cfg.shared.indexPrefix,
          parts.settings.retentionDays,
          Date.now(),
        ),
      }),
    );
    return 0;
  }
  const res = await archiveAged(parts, args.index);
  console.log(JSON.stringify({ results: res }));
  const failed = res.filter((r) => r.result === 'failed');
  for (const f of failed) process.stderr.write(`archiver: ${f.index}: ${oneLine(f.reason ?? '')}\n`);
  return failed.length ? 1 : 0;
}

async function restore(parts: Parts, args: { positionals: string[]; force: boolean }, progress: Progress): Promise<number> {
  const [index] = args.positionals;
  const r = await parts.restorer.restore(index, { force: args.force, progress: (d, t) => progress(index, d, t) });
  console.log(
    JSON.stringify({
      restored: index,
      docs: r.docs,
      generations: r.generations,
      heldUntil: r.heldUntil ?? null,
      ...(r.alreadyPresent ? { alreadyPresent: true } : {}),
    }),
  );
  if (r.heldUntil) {
    process.stderr.write(
      `${index} is marked restored: the archiver leaves it alone until ${r.heldUntil} (MPLP_ARCHIVER_RESTORED_HOLD); \`cli.js unmark ${index}\` ends that now\n`,
    );
  }
  return 0;
}

async function unmark(parts: Parts, args: { positionals: string[] }): Promise<number> {
  const m = await parts.restorer.unmark(args.positionals[0]);
  console.log(JSON.stringify({ unmarked: args.positionals[0], until: m.until }));
  return 0;
}

async function list(parts: Parts): Promise<number> {
  for (const index of await archivedIndices(parts)) {
    const ms = await parts.store.manifests(index);
    if (!ms.length) continue;
    const gens = ms.map((m) => ({
      generation: m.generation ?? 0,
      docs: m.docCount,
      parts: m.parts.length,
      bytes: m.parts.reduce((n, p) => n + p.bytes, 0),
      archivedAt: m.createdAt,
    }));
    const sum = (f: (g: (typeof gens)[number]) => number) => gens.reduce((n, g) => n + f(g), 0);
    // docs adds the generations up: an id in two generations counts twice (restore brings it back once).
    console.log(
      JSON.stringify({
        index,
        docs: sum((g) => g.docs),
        parts: sum((g) => g.parts),
        bytes: sum((g) => g.bytes),
        uncompressedBytes: ms.reduce((n, m) => n + m.uncompressedBytes, 0),
        archivedAt: ms[0].createdAt,
        generations: gens,
      }),
    );
  }
  return 0;
}

async function verify(parts: Parts, args: { positionals: string[] }): Promise<number> {
  const [index] = args.positionals;
  const ms = await parts.store.manifests(index);
  if (!ms.length) {
    process.stderr.write(`archiver: ${index} is not archived\n`);
    return 1;
  }
  const problems: string[] = [];
  for (const m of ms) problems.push(...(await parts.archiver.verify(m)));
  console.log(JSON.stringify({ index, ok: problems.length === 0, problems, generations: ms.map((m) => m.generation ?? 0) }));
  return problems.length ? 1 : 0;
}

// Elasticsearch's error messages span lines (root causes); the CLI's contract is one line per failure.
const oneLine = (s: string) => s.replace(/\s*\n\s*/g, ' ').trim();

/** Indices with at least one manifest under the prefix (any generation). */
async function archivedIndices(parts: Parts): Promise<string[]> {
  const top = parts.cfg.shared.s3Prefix ? `${parts.cfg.shared.s3Prefix.replace(/\/+$/, '')}/` : '';
  const names = new Set<string>();
  for (const o of await parts.store.list(top)) {
    const [index, ...restOfKey] = o.key.slice(top.length).split('/');
    if (manifestGeneration(parts.cfg.shared.s3Prefix, index, o.key) !== undefined && restOfKey.length) names.add(index);
  }
  return [...names].sort();
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err) => {
    if (err instanceof UsageError) {
      process.stderr.write(`archiver: ${err.message}\n${USAGE}\n`);
      process.exit(2);
    }
    if (err instanceof ConfigError) {
      process.stderr.write(`archiver: invalid setting ${err.message}\n`);
      process.exit(2);
    }
    process.stderr.write(`archiver: ${oneLine(err instanceof MplpError ? `${err.message} [${err.code}]` : (err as Error).message)}\n`);
    process.exit(1);
  },
);
