/**
 * archiver CLI:
 *   node dist/archiver/src/cli.js archive [--index NAME] [--dry-run]   aged indices (or one) to S3
 *   node dist/archiver/src/cli.js restore <index> [--force]
 *   node dist/archiver/src/cli.js list
 *   node dist/archiver/src/cli.js verify <index>
 * Prints one JSON result line on stdout; progress goes to stderr (a live line on a terminal).
 * Exit 0 on success, 1 on a failure (one line naming it), 2 on a bad setting or usage.
 */
import { ConfigError, MplpError } from '../../shared/src';
import { archiveAged, createArchiverParts } from './index';
import { agedIndices } from './layout';

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
        for (const f of failed) process.stderr.write(`archiver: ${f.index}: ${f.reason}\n`);
        return failed.length ? 1 : 0;
      }
      case 'restore': {
        if (!rest[0]) break;
        const r = await parts.restorer.restore(rest[0], { force: flag('force'), progress: (d, t) => progress(rest[0], d, t) });
        if (tty) process.stderr.write('\n');
        console.log(JSON.stringify({ restored: rest[0], docs: r.docs }));
        return 0;
      }
      case 'list': {
        const keys = (await parts.store.list(parts.cfg.shared.s3Prefix ? `${parts.cfg.shared.s3Prefix}/` : '')).filter((o) => o.key.endsWith('/manifest.json'));
        for (const k of keys) {
          const index = k.key.split('/').slice(-2)[0];
          const m = await parts.store.manifest(index);
          if (m) console.log(JSON.stringify({ index, docs: m.docCount, parts: m.parts.length, bytes: m.parts.reduce((n, p) => n + p.bytes, 0), uncompressedBytes: m.uncompressedBytes, archivedAt: m.createdAt }));
        }
        return 0;
      }
      case 'verify': {
        if (!rest[0]) break;
        const m = await parts.store.manifest(rest[0]);
        if (!m) { process.stderr.write(`archiver: ${rest[0]} is not archived\n`); return 1; }
        const problems = await parts.archiver.verify(m);
        console.log(JSON.stringify({ index: rest[0], ok: problems.length === 0, problems }));
        return problems.length ? 1 : 0;
      }
    }
    process.stderr.write('usage: cli.js archive [--index NAME] [--dry-run] | restore <index> [--force] | list | verify <index>\n');
    return 2;
  } finally {
    await parts.close();
  }
}

main(process.argv.slice(2)).then((code) => process.exit(code), (err) => {
  if (err instanceof ConfigError) { process.stderr.write(`archiver: invalid setting ${err.message}\n`); process.exit(2); }
  process.stderr.write(`archiver: ${err instanceof MplpError ? `${err.message} [${err.code}]` : (err as Error).message}\n`);
  process.exit(1);
});
