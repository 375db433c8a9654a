import { ListObjectsV2Command } from '@aws-sdk/client-s3';
import { SpanBatchCodec } from '../../shared/src';
import { faultyProxy, TestContext } from '../../shared/testing';
import { archiveAged, createArchiverParts } from '../src';
import { manifestKey } from '../src/layout';
import { allDocs, archiveSetup, objects, runCli, seedIndex } from './helpers';

/** Span-shaped documents with the given ids, written to `index` (recreating it if it was archived). */
async function writeDocs(es: ReturnType<TestContext['es']>, index: string, ids: string[], tag: string) {
  const ops = ids.flatMap((id, i) => [
    { index: { _index: index, _id: id } },
    { traceId: 'c'.repeat(32), spanId: String(i).padStart(16, '0'), name: `late-${tag}`, service: 'late' },
  ]);
  return es.bulk({ operations: ops as never, refresh: true });
}

describe('archive integrity on the real Elasticsearch and S3 server', () => {
  const ctx = new TestContext();
  afterAll(() => ctx.cleanup());

  it('late documents for an archived day go to new generations; the first archive stays byte for byte; restore gives the union once', async () => {
    const { prefix, s3Prefix, env, es } = await archiveSetup(ctx);
    const index = `${prefix}-traces-2020.02.03`;
    await seedIndex(ctx, index, 1500);
    const original = await allDocs(ctx, index);
    const parts = createArchiverParts({ ...process.env, ...env });
    ctx.defer(() => parts.close());
    expect(await archiveAged(parts)).toEqual([expect.objectContaining({ index, result: 'archived', docs: 1500, generation: 0 })]);
    const firstArchive = await objects(ctx, `${s3Prefix}/${index}/`);
    expect([...firstArchive.keys()]).toContain(manifestKey(s3Prefix, index));

    // A late write recreates the index: new ids, and replays of ids already archived (same content).
    const lateA = [...Array.from({ length: 40 }, (_, i) => `late-a-${i}`), 'id-3', 'id-700'];
    expect((await writeDocs(es, index, lateA, 'a')).errors).toBe(false);
    expect(await archiveAged(parts)).toEqual([expect.objectContaining({ index, result: 'archived', docs: lateA.length, generation: 1 })]);
    const lateB = Array.from({ length: 7 }, (_, i) => `late-b-${i}`).concat('late-a-0');
    expect((await writeDocs(es, index, lateB, 'b')).errors).toBe(false);
    expect(await archiveAged(parts)).toEqual([expect.objectContaining({ index, result: 'archived', docs: lateB.length, generation: 2 })]);

    // The first archive is untouched; each generation holds exactly its late documents.
    expect(await objects(ctx, `${s3Prefix}/${index}/`, (k) => !k.includes('/gen-'))).toEqual(firstArchive);
    const ids = async (generation: number) => {
      const m = (await parts.store.manifest(index, generation))!;
      const out: string[] = [];
      for (const p of m.parts) {
        for (const line of SpanBatchCodec.lines(SpanBatchCodec.decompress(await parts.store.get(p.key), 1 << 30)))
          out.push(JSON.parse(line)._id);
      }
      return out.sort();
    };
    expect(await ids(1)).toEqual([...lateA].sort());
    expect(await ids(2)).toEqual([...lateB].sort());

    const list = await runCli(ctx, ['list'], env).done;
    expect(JSON.parse(list.stdout.trim())).toMatchObject({
      index,
      docs: 1500 + lateA.length + lateB.length,
      generations: [
        { generation: 0, docs: 1500 },
        { generation: 1, docs: lateA.length },
        { generation: 2, docs: lateB.length },
      ],
    });
    const verified = await runCli(ctx, ['verify', index], env).done;
    expect(JSON.parse(verified.stdout.trim())).toEqual({ index, ok: true, problems: [], generations: [0, 1, 2] });

    const restored = await runCli(ctx, ['restore', index], env).done;
    expect(restored.code).toBe(0);
    const union = new Set([...original.keys(), ...lateA, ...lateB]);
    expect(JSON.parse(restored.stdout.trim())).toMatchObject({ restored: index, docs: union.size, generations: [0, 1, 2] });
    const back = await allDocs(ctx, index);
    expect([...back.keys()].sort()).toEqual([...union].sort());
    for (const id of ['id-5', 'id-1499']) expect(back.get(id)).toEqual(original.get(id));
    expect(back.get('late-b-3')).toMatchObject({ name: 'late-b' });
    // A later generation wins for an id written twice late.
    expect(back.get('late-a-0')).toMatchObject({ name: 'late-b' });
  });

  it('documents written while an index is being exported are never deleted unexported', async () => {
    const { prefix, env, es } = await archiveSetup(ctx, { MPLP_ARCHIVER_PAGE_SIZE: '300' });
    const index = `${prefix}-traces-2020.02.04`;
    await seedIndex(ctx, index, 3000);
    const acknowledged: string[] = [];
    let pages = 0;
    const parts = createArchiverParts(
      { ...process.env, ...env },
      {
        // The indexer writing into the index during its export, on the first and a later page.
        progress: async () => {
          if (++pages !== 1 && pages !== 5) return;
          const ids = Array.from({ length: 50 }, (_, i) => `during-${pages}-${i}`);
          const r = await writeDocs(es, index, ids, 'during').catch(() => undefined);
          r?.items.forEach((it, i) => {
            if ((it.index?.status ?? 500) < 300) acknowledged.push(ids[i]);
          });
        },
      },
    );
    ctx.defer(() => parts.close());
    const [res] = await archiveAged(parts);
    expect(pages).toBeGreaterThanOrEqual(5);
    // Whatever Elasticsearch acknowledged is either still in the index or in the archive.
    if (res.result !== 'archived') {
      const have = await allDocs(ctx, index);
      for (const id of acknowledged) expect(have.has(id)).toBe(true);
      return;
    }
    expect(await es.indices.exists({ index })).toBe(false);
    expect((await parts.restorer.restore(index)).docs).toBe(3000 + acknowledged.length);
    const back = await allDocs(ctx, index);
    for (const id of acknowledged) expect(back.has(id)).toBe(true);
    expect(res.docs).toBe(3000 + acknowledged.length);
  });

  it('an index that cannot be write-blocked is left alone with one error line', async () => {
    const { prefix, s3Prefix, env, es } = await archiveSetup(ctx);
    const index = `${prefix}-alerts-2020.02.05`;
    await seedIndex(ctx, index, 120);
    // A read-only index refuses the write block (a settings change), as missing privileges would.
    await es.indices.putSettings({ index, settings: { 'index.blocks.read_only': true } });
    ctx.defer(() => es.indices.putSettings({ index, settings: { 'index.blocks.read_only': null } as never }));
    const r = await runCli(ctx, ['archive'], env).done;
    expect(r.code).toBe(1);
    const lines = r.stderr.split('\n').filter((l) => l.startsWith('archiver:'));
    expect(lines).toEqual([expect.stringMatching(/could not block writes.*index left alone/)]);
    expect((await es.count({ index })).count).toBe(120);
    const s3 = ctx.s3();
    expect((await s3.send(new ListObjectsV2Command({ Bucket: ctx.cfg.s3Bucket, Prefix: `${s3Prefix}/${index}/` }))).KeyCount).toBe(0);
  });

  it('a restored index survives the next runs until it is unmarked, then goes without a new export', async () => {
    const { prefix, s3Prefix, env, es } = await archiveSetup(ctx);
    const index = `${prefix}-metrics-2020.02.06`;
    await seedIndex(ctx, index, 900);
    const parts = createArchiverParts({ ...process.env, ...env });
    ctx.defer(() => parts.close());
    expect((await archiveAged(parts))[0]).toMatchObject({ result: 'archived' });
    const archive = await objects(ctx, `${s3Prefix}/${index}/`);

    const restored = await runCli(ctx, ['restore', index], env).done;
    expect(restored.code).toBe(0);
    const { heldUntil } = JSON.parse(restored.stdout.trim());
    expect(Date.parse(heldUntil)).toBeGreaterThan(Date.now() + 6 * 86400e3);
    expect(restored.stderr).toContain(`${index} is marked restored: the archiver leaves it alone until ${heldUntil}`);

    for (let run = 0; run < 2; run++) {
      const [res] = await archiveAged(parts);
      expect(res).toMatchObject({ index, result: 'skipped', reason: expect.stringMatching(/restored .* kept until/) });
      expect((await es.count({ index })).count).toBe(900);
    }
    // Skipping never blocks: the restored index still takes writes.
    await es.index({ index, id: 'written-after-restore', document: { name: 'new' }, refresh: true });

    // Unmarked by the operator: the next run archives it, as a new generation since it was written to.
    const unmarked = await runCli(ctx, ['unmark', index], env).done;
    expect(unmarked.code).toBe(0);
    const [res] = await archiveAged(parts);
    expect(res).toMatchObject({ index, result: 'archived', docs: 901, generation: 1 });
    expect(await objects(ctx, `${s3Prefix}/${index}/`, (k) => !k.includes('/gen-'))).toEqual(archive);
  });

  it('a restored index nobody wrote to is deleted at the end of its hold without a new generation', async () => {
    const { prefix, s3Prefix, env, es } = await archiveSetup(ctx, { MPLP_ARCHIVER_RESTORED_HOLD: '0' });
    const index = `${prefix}-metrics-2020.02.07`;
    await seedIndex(ctx, index, 300);
    let exported = 0;
    const parts = createArchiverParts(
      { ...process.env, ...env },
      {
        afterUpload: async () => {
          if (exported++) throw new Error('must not export again');
        },
      },
    );
    ctx.defer(() => parts.close());
    expect((await archiveAged(parts))[0]).toMatchObject({ result: 'archived' });
    const archive = await objects(ctx, `${s3Prefix}/${index}/`);
    await parts.restorer.restore(index);
    expect((await archiveAged(parts))[0]).toMatchObject({ index, result: 'archived', docs: 300, generation: 0 });
    expect(await es.indices.exists({ index })).toBe(false);
    expect(await objects(ctx, `${s3Prefix}/${index}/`)).toEqual(archive);
  });

  it('a hung S3 endpoint fails the run within the timeout, the index intact', async () => {
    const { prefix, s3Prefix, env, es } = await archiveSetup(ctx, {
      MPLP_ARCHIVER_S3_REQUEST_TIMEOUT: '1s',
      MPLP_ARCHIVER_S3_SOCKET_TIMEOUT: '1s',
      MPLP_ARCHIVER_S3_CONNECT_TIMEOUT: '1s',
      MPLP_ARCHIVER_S3_ATTEMPTS: '2',
      MPLP_ARCHIVER_PAGE_SIZE: '200',
    });
    const index = `${prefix}-traces-2020.02.08`;
    await seedIndex(ctx, index, 1000);

    // Hung from the start: the CLI stops at its S3 check with one line.
    const s3Url = new URL(ctx.cfg.s3Endpoint);
    const dead = await faultyProxy(ctx, s3Url.hostname, Number(s3Url.port), { stalled: true });
    const t0 = Date.now();
    const r = await runCli(ctx, ['archive'], { ...env, MPLP_S3_ENDPOINT: dead.url }).done;
    expect(Date.now() - t0).toBeLessThan(15_000);
    expect(r.code).toBe(1);
    expect(r.stderr.split('\n').filter((l) => l.startsWith('archiver:'))).toEqual([expect.stringMatching(/timed out|TimeoutError/i)]);
    expect((await es.count({ index })).count).toBe(1000);

    // Hangs in the middle of the export: the run fails, the index stays and takes writes again.
    const proxy = await faultyProxy(ctx, s3Url.hostname, Number(s3Url.port));
    const parts = createArchiverParts(
      { ...process.env, ...env, MPLP_S3_ENDPOINT: proxy.url },
      {
        progress: (_i, docs) => {
          if (docs >= 400) proxy.stall();
        },
      },
    );
    ctx.defer(() => parts.close());
    const t1 = Date.now();
    const [res] = await archiveAged(parts);
    expect(Date.now() - t1).toBeLessThan(20_000);
    expect(res).toMatchObject({ index, result: 'failed', reason: expect.stringMatching(/timed out|TimeoutError/i) });
    expect((await es.count({ index })).count).toBe(1000);
    expect((await es.index({ index, id: 'after-the-hang', document: { name: 'x' } })).result).toBe('created');
    const s3 = ctx.s3();
    expect((await s3.send(new ListObjectsV2Command({ Bucket: ctx.cfg.s3Bucket, Prefix: manifestKey(s3Prefix, index) }))).KeyCount).toBe(0);
  });

  it('a retention that does not exceed the ingest max past plus the lag margin stops the CLI with one line naming both', async () => {
    const { env } = await archiveSetup(ctx);
    const r = await runCli(ctx, ['list'], { ...env, MPLP_ARCHIVER_RETENTION_DAYS: '8', MPLP_INGEST_MAX_PAST: '8d' }).done;
    expect(r.code).toBe(2);
    const lines = r.stderr.trim().split('\n');
    expect(lines).toEqual([
      expect.stringMatching(
        /^archiver: invalid setting MPLP_ARCHIVER_RETENTION_DAYS: .*MPLP_INGEST_MAX_PAST \(8d\) \+ MPLP_ARCHIVER_LAG_MARGIN \(6h\)/,
      ),
    ]);
  });
});
