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
import { ConfigError, MplpError } from '../../shared/src';
import { archiveAged, createArchiverParts } from './index';
import { agedIndices, manifestGeneration } from './layout';

async function main(argv: string[]): Promise<number> {
  const [cmd, ...rest] = argv;
  const flag = (f: string) => rest.includes(`--${f}`);
  const opt = (f: string) => { const i = rest.indexOf(`--${f}`); return i >= 0 ? rest[i + 1] : undefined; };
  const tty = process.stderr.isTTY;
  let lastLog = 0;
  const progress = (index: string, docs: number, total: number) => {
    if (tty) process.stderr.write(`\r${index}: ${docs}/${total} documents   `);
    else if (Date.now() - lastLog > 10_000) { lastLog = Date.now(); process.stderr.write(`${index}: ${docs}/${total} documents\n`); }
  };
  const parts = createArchiverParts(process.env, { progress }, { logToStderr: true });
  try {
    switch (cmd) {
      case 'archive': {
        if (flag('dry-run')) {
          const rows = await parts.es.cat.indices({ index: `${parts.cfg.shared.indexPrefix}-*`, h: 'index', format: 'json' } as never) as unknown as { index: string }[];
          console.log(JSON.stringify({ wouldArchive: agedIndices(rows.map((r) => r.index), parts.cfg.shared.indexPrefix, parts.settings.retentionDays, Date.now()) }));
          return 0;
        }
        const res = await archiveAged(parts, opt('index'));
        if (tty) process.stderr.write('\n');
        console.log(JSON.stringify({ results: res }));
        const failed = res.filter((r) => r.result === 'failed');
        for (const f of failed) process.stderr.write(`archiver: ${f.index}: ${oneLine(f.reason ?? '')}\n`);
        return failed.length ? 1 : 0;
      }
      case 'restore': {
        if (!rest[0]) break;
        const r = await parts.restorer.restore(rest[0], { force: flag('force'), progress: (d, t) => progress(rest[0], d, t) });
        if (tty) process.stderr.write('\n');
        console.log(JSON.stringify({ restored: rest[0], docs: r.docs, generations: r.generations, heldUntil: r.heldUntil ?? null, ...(r.alreadyPresent ? { alreadyPresent: true } : {}) }));
        if (r.heldUntil) {
          process.stderr.write(`${rest[0]} is marked restored: the archiver leaves it alone until ${r.heldUntil} (MPLP_ARCHIVER_RESTORED_HOLD); \`cli.js unmark ${rest[0]}\` ends that now\n`);
        }
        return 0;
      }
      case 'unmark': {
        if (!rest[0]) break;
        const m = await parts.restorer.unmark(rest[0]);
        console.log(JSON.stringify({ unmarked: rest[0], until: m.until }));
        return 0;
      }
      case 'list': {
        for (const index of await archivedIndices(parts)) {
          const ms = await parts.store.manifests(index);
          if (!ms.length) continue;
          const gens = ms.map((m) => ({ generation: m.generation ?? 0, docs: m.docCount, parts: m.parts.length, bytes: m.parts.reduce((n, p) => n + p.bytes, 0), archivedAt: m.createdAt }));
          const sum = (f: (g: (typeof gens)[number]) => number) => gens.reduce((n, g) => n + f(g), 0);
          // docs adds the generations up: an id in two generations counts twice (restore brings it back once).
          console.log(JSON.stringify({
            index, docs: sum((g) => g.docs), parts: sum((g) => g.parts), bytes: sum((g) => g.bytes), uncompressedBytes: ms.reduce((n, m) => n + m.uncompressedBytes, 0),
            archivedAt: ms[0].createdAt, generations: gens,
          }));
        }
        return 0;
      }
      case 'verify': {
        if (!rest[0]) break;
        const ms = await parts.store.manifests(rest[0]);
        if (!ms.length) { process.stderr.write(`archiver: ${rest[0]} is not archived\n`); return 1; }
        const problems: string[] = [];
        for (const m of ms) problems.push(...await parts.archiver.verify(m));
        console.log(JSON.stringify({ index: rest[0], ok: problems.length === 0, problems, generations: ms.map((m) => m.generation ?? 0) }));
        return problems.length ? 1 : 0;
      }
    }
    process.stderr.write('usage: cli.js archive [--index NAME] [--dry-run] | restore <index> [--force] | unmark <index> | list | verify <index>\n');
    return 2;
  } finally {
    await parts.close();
  }
}

// Elasticsearch's error messages span lines (root causes); the CLI's contract is one line per failure.
const oneLine = (s: string) => s.replace(/\s*\n\s*/g, ' ').trim();

/** Indices with at least one manifest under the prefix (any generation). */
async function archivedIndices(parts: ReturnType<typeof createArchiverParts>): Promise<string[]> {
  const top = parts.cfg.shared.s3Prefix ? `${parts.cfg.shared.s3Prefix.replace(/\/+$/, '')}/` : '';
  const names = new Set<string>();
  for (const o of await parts.store.list(top)) {
    const [index, ...restOfKey] = o.key.slice(top.length).split('/');
    if (manifestGeneration(parts.cfg.shared.s3Prefix, index, o.key) !== undefined && restOfKey.length) names.add(index);
  }
  return [...names].sort();
}

main(process.argv.slice(2)).then((code) => process.exit(code), (err) => {
  if (err instanceof ConfigError) { process.stderr.write(`archiver: invalid setting ${err.message}\n`); process.exit(2); }
  process.stderr.write(`archiver: ${oneLine(err instanceof MplpError ? `${err.message} [${err.code}]` : (err as Error).message)}\n`);
  process.exit(1);
});
