import { GetObjectCommand, PutObjectCommand, DeleteObjectCommand, ListObjectsV2Command } from '@aws-sdk/client-s3';
import { createHash } from 'node:crypto';
import { TestContext, waitFor } from '../../shared/testing';
import { archiveAged, createArchiver, createArchiverParts } from '../src';
import { manifestKey, leaseKey } from '../src/layout';
import { allDocs, archiveSetup, objects, runCli, seedIndex } from './helpers';

describe('archiver on the real Elasticsearch and S3 server', () => {
  const ctx = new TestContext();
  afterAll(() => ctx.cleanup());

  it('archives an aged index (verified parts and manifest, index deleted) and restores the same documents and mapping', async () => {
    const { prefix, s3Prefix, env, es } = await archiveSetup(ctx);
    const index = `${prefix}-traces-2020.03.04`;
    const fresh = `${prefix}-traces-${new Date().toISOString().slice(0, 10).replace(/-/g, '.')}`;
    await seedIndex(ctx, index, 2500);
    await seedIndex(ctx, fresh, 10);
    const before = await allDocs(ctx, index);
    const mappingBefore = (await es.indices.getMapping({ index }))[index].mappings;
    const parts = createArchiverParts({ ...process.env, ...env });
    ctx.defer(() => parts.close());
    const res = await archiveAged(parts);
    expect(res).toEqual([expect.objectContaining({ index, result: 'archived', docs: 2500 })]);
    expect(await es.indices.exists({ index })).toBe(false);
    expect(await es.indices.exists({ index: fresh })).toBe(true);

    const s3 = ctx.s3();
    const manifest = JSON.parse(
      await (
        await s3.send(new GetObjectCommand({ Bucket: ctx.cfg.s3Bucket, Key: manifestKey(s3Prefix, index) }))
      ).Body!.transformToString(),
    );
    expect(manifest.docCount).toBe(2500);
    expect(manifest.parts.length).toBeGreaterThan(1);
    expect(manifest.parts.reduce((n: number, p: { docs: number }) => n + p.docs, 0)).toBe(2500);
    for (const p of manifest.parts) {
      expect(p.key).toMatch(new RegExp(`^${s3Prefix}/${index}/part-\\d{5}\\.ndjson\\.lz4$`));
      const body = Buffer.from(
        await (await s3.send(new GetObjectCommand({ Bucket: ctx.cfg.s3Bucket, Key: p.key }))).Body!.transformToByteArray(),
      );
      expect(body.length).toBe(p.bytes);
      expect(createHash('sha256').update(body).digest('hex')).toBe(p.sha256);
    }
    const lease = await s3.send(new ListObjectsV2Command({ Bucket: ctx.cfg.s3Bucket, Prefix: leaseKey(s3Prefix, index) }));
    expect(lease.KeyCount).toBe(0);

    await parts.restorer.restore(index);
    const after = await allDocs(ctx, index);
    expect([...after.keys()].sort()).toEqual([...before.keys()].sort());
    for (const [id, doc] of before) expect(after.get(id)).toEqual(doc);
    // The same mapping, plus the restore mark that keeps the archiver away from the restored index.
    const { _meta: meta, ...mappingAfter } = (await es.indices.getMapping({ index }))[index].mappings;
    expect(mappingAfter).toEqual(mappingBefore);
    expect(meta).toEqual({ mplp_restored: expect.objectContaining({ generations: [0] }) });

    // Restoring again is a no-op; an index in the way with other documents is kept unless forced.
    await expect(parts.restorer.restore(index)).resolves.toMatchObject({ docs: 2500, alreadyPresent: true });
    await es.delete({ index, id: 'id-7', refresh: true });
    await expect(parts.restorer.restore(index)).rejects.toThrow(/exists with 2499 documents.*--force/);
    expect((await es.count({ index })).count).toBe(2499);
    await expect(parts.restorer.restore(index, { force: true })).resolves.toMatchObject({ docs: 2500, generations: [0] });
    expect((await allDocs(ctx, index)).get('id-7')).toEqual(before.get('id-7'));
  });

  it('a run that died after writing the manifest: the rerun verifies and deletes without exporting again', async () => {
    const { prefix, s3Prefix, env, es } = await archiveSetup(ctx);
    const index = `${prefix}-alerts-2020.04.05`;
    await seedIndex(ctx, index, 700);
    const s3 = ctx.s3();
    const crashing = createArchiverParts(
      { ...process.env, ...env },
      {
        beforeDelete: async () => {
          throw new Error('simulated crash before delete');
        },
      },
    );
    ctx.defer(() => crashing.close());
    expect((await archiveAged(crashing))[0]).toMatchObject({ index, result: 'failed' });
    expect((await es.count({ index })).count).toBe(700);
    const listing = async () =>
      (await s3.send(new ListObjectsV2Command({ Bucket: ctx.cfg.s3Bucket, Prefix: `${s3Prefix}/${index}/` })))
        .Contents!.map((o) => `${o.Key}@${o.ETag}@${o.LastModified?.toISOString()}`)
        .sort();
    const objectsBefore = await listing();
    const manifestBefore = await crashing.store.manifest(index);

    const parts = createArchiverParts(
      { ...process.env, ...env },
      {
        afterUpload: async () => {
          throw new Error('must not export again');
        },
      },
    );
    ctx.defer(() => parts.close());
    expect((await archiveAged(parts))[0]).toMatchObject({ index, result: 'archived', docs: 700 });
    expect(await es.indices.exists({ index })).toBe(false);
    expect(await parts.store.manifest(index)).toEqual(manifestBefore);
    expect(await listing()).toEqual(objectsBefore);

    // Damage in S3 after the fact: `verify` reports it, and a restore refuses the part and leaves no partial index.
    const verified = await runCli(ctx, ['verify', index], env).done;
    expect(verified.code).toBe(0);
    expect(JSON.parse(verified.stdout.trim())).toEqual({ index, ok: true, problems: [], generations: [0] });
    const victim = manifestBefore!.parts[0];
    await s3.send(new PutObjectCommand({ Bucket: ctx.cfg.s3Bucket, Key: victim.key, Body: Buffer.alloc(victim.bytes, 1) }));
    const bad = await runCli(ctx, ['verify', index], env).done;
    expect(bad.code).toBe(1);
    expect(JSON.parse(bad.stdout.trim()).problems).toEqual([`${victim.key} fails its sha256`]);
    const restore = await runCli(ctx, ['restore', index], env).done;
    expect(restore.code).toBe(1);
    expect(restore.stderr.split('\n').filter((l) => l.startsWith('archiver:'))).toEqual([expect.stringMatching(/fails its sha256/)]);
    expect(await es.indices.exists({ index })).toBe(false);
  });

  it('an index written to after its manifest (a run that died before its delete) goes to a new generation; the first stays as it was', async () => {
    const { prefix, s3Prefix, env, es } = await archiveSetup(ctx);
    const index = `${prefix}-metrics-2020.04.06`;
    await seedIndex(ctx, index, 600);
    const crashing = createArchiverParts(
      { ...process.env, ...env },
      {
        beforeDelete: async () => {
          throw new Error('simulated crash before delete');
        },
      },
    );
    ctx.defer(() => crashing.close());
    expect((await archiveAged(crashing))[0].result).toBe('failed');
    const first = await objects(ctx, `${s3Prefix}/${index}/`);
    // The failed run lifted its write block: the index takes writes again.
    await es.index({ index, id: 'late-doc', document: { traceId: 'f'.repeat(32), spanId: 'e'.repeat(16), name: 'late' }, refresh: true });

    const parts = createArchiverParts({ ...process.env, ...env });
    ctx.defer(() => parts.close());
    expect((await archiveAged(parts))[0]).toMatchObject({ index, result: 'archived', docs: 601, generation: 1 });
    expect(await objects(ctx, `${s3Prefix}/${index}/`, (k) => !k.includes('/gen-'))).toEqual(first);
    expect((await parts.store.manifest(index, 1))!.docCount).toBe(601);
    expect((await parts.restorer.restore(index)).docs).toBe(601);
  });

  it('an archiver whose lease was taken over does not delete the index', async () => {
    const { prefix, s3Prefix, env, es } = await archiveSetup(ctx);
    const index = `${prefix}-traces-2020.04.07`;
    await seedIndex(ctx, index, 300);
    const s3 = ctx.s3();
    const parts = createArchiverParts(
      { ...process.env, ...env },
      {
        // What another archiver does once our lease has expired: a conditional overwrite.
        beforeDelete: async () => {
          await s3.send(
            new PutObjectCommand({
              Bucket: ctx.cfg.s3Bucket,
              Key: leaseKey(s3Prefix, index),
              Body: JSON.stringify({ owner: 'other', expiresAt: new Date(Date.now() + 60_000).toISOString() }),
            }),
          );
        },
      },
    );
    ctx.defer(() => parts.close());
    const [res] = await archiveAged(parts);
    expect(res).toMatchObject({ index, result: 'failed' });
    expect(res.reason).toMatch(/lost the lease/);
    expect((await es.count({ index })).count).toBe(300);
    // The other archiver's lease is left alone.
    const lease = JSON.parse(
      await (await s3.send(new GetObjectCommand({ Bucket: ctx.cfg.s3Bucket, Key: leaseKey(s3Prefix, index) }))).Body!.transformToString(),
    );
    expect(lease.owner).toBe('other');
  });

  it.each(['corrupted', 'missing'])('a %s part is caught by verification and the index is not deleted', async (fault) => {
    const { prefix, env, es } = await archiveSetup(ctx);
    const index = `${prefix}-metrics-2020.05.06`;
    await seedIndex(ctx, index, 800);
    const s3 = ctx.s3();
    const parts = createArchiverParts(
      { ...process.env, ...env },
      {
        afterUpload: async (uploaded) => {
          const key = uploaded[1].key;
          if (fault === 'corrupted')
            await s3.send(new PutObjectCommand({ Bucket: ctx.cfg.s3Bucket, Key: key, Body: Buffer.alloc(uploaded[1].bytes, 7) }));
          else await s3.send(new DeleteObjectCommand({ Bucket: ctx.cfg.s3Bucket, Key: key }));
        },
      },
    );
    ctx.defer(() => parts.close());
    const [res] = await archiveAged(parts);
    expect(res.result).toBe('failed');
    expect(res.reason).toMatch(fault === 'corrupted' ? /sha256/ : /missing/);
    expect((await es.count({ index })).count).toBe(800);
  });

  it.each([
    ['wrong credentials', { MPLP_S3_SECRET_ACCESS_KEY: 'not-the-secret' }, /SignatureDoesNotMatch|InvalidAccessKeyId|AccessDenied/],
    ['an unreachable S3 endpoint', { MPLP_S3_ENDPOINT: 'http://127.0.0.1:9' }, /ECONNREFUSED|connect|failed/],
  ])('with %s the index is untouched and the CLI says why in one line', async (_what, bad, reason) => {
    const { prefix, env, es } = await archiveSetup(ctx);
    const indices = [`${prefix}-alerts-2020.07.08`, `${prefix}-traces-2020.07.09`];
    for (const index of indices) await seedIndex(ctx, index, 50);
    const { done } = runCli(ctx, ['archive'], { ...env, ...bad });
    const r = await done;
    expect(r.code).toBe(1);
    // One line for the run, not one per index.
    const lines = r.stderr.split('\n').filter((l) => l.startsWith('archiver:'));
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(reason);
    for (const index of indices) expect((await es.count({ index })).count).toBe(50);
  });

  it('kill -9 during the upload, then run again: archived exactly once, searchable until verified', async () => {
    const { prefix, s3Prefix, env, es } = await archiveSetup(ctx, {
      MPLP_ARCHIVER_PART_MAX_BYTES: '8192',
      MPLP_ARCHIVER_PAGE_SIZE: '200',
      MPLP_ARCHIVER_LEASE_TTL: '8s',
      MPLP_ARCHIVER_S3_REQUEST_TIMEOUT: '5s',
    });
    const index = `${prefix}-traces-2020.09.10`;
    await seedIndex(ctx, index, 6000);
    const before = await allDocs(ctx, index);
    const s3 = ctx.s3();
    const first = runCli(ctx, ['archive'], env);
    await waitFor(
      'parts being uploaded',
      async () =>
        ((await s3.send(new ListObjectsV2Command({ Bucket: ctx.cfg.s3Bucket, Prefix: `${s3Prefix}/${index}/part-` }))).KeyCount ?? 0) >= 3,
      { timeoutMs: 60_000, intervalMs: 20 },
    );
    first.child.kill('SIGKILL');
    await first.done;
    expect((await es.count({ index })).count).toBe(6000);
    expect((await s3.send(new ListObjectsV2Command({ Bucket: ctx.cfg.s3Bucket, Prefix: manifestKey(s3Prefix, index) }))).KeyCount).toBe(0);
    // The dead run's lease expires after MPLP_ARCHIVER_LEASE_TTL; a rerun before that skips the index.
    const lease = JSON.parse(
      await (await s3.send(new GetObjectCommand({ Bucket: ctx.cfg.s3Bucket, Key: leaseKey(s3Prefix, index) }))).Body!.transformToString(),
    );
    await waitFor('the dead lease to expire', () => Date.now() > Date.parse(lease.expiresAt), { timeoutMs: 10_000 });
    // While the rerun works, the index may only disappear once its manifest is in S3
    // (checked in that order, so a delete between the two reads cannot fake a violation).
    const second$ = runCli(ctx, ['archive'], env).done;
    let finished = false;
    const violations: string[] = [];
    const watch = (async () => {
      while (!finished) {
        const present = await es.indices.exists({ index });
        const hasManifest =
          ((await s3.send(new ListObjectsV2Command({ Bucket: ctx.cfg.s3Bucket, Prefix: manifestKey(s3Prefix, index) }))).KeyCount ?? 0) > 0;
        if (!present && !hasManifest) violations.push('index deleted before its manifest was written');
        if (present && !hasManifest && (await es.count({ index }).catch(() => ({ count: 6000 }))).count !== 6000)
          violations.push('index lost documents');
        await new Promise((r) => setTimeout(r, 50));
      }
    })();
    const second = await second$;
    finished = true;
    await watch;
    expect(violations).toEqual([]);
    expect(second.stderr.split('\n').filter((l) => l.startsWith('archiver:'))).toEqual([]);
    expect(second.code).toBe(0);
    expect(JSON.parse(second.stdout.trim()).results).toEqual([expect.objectContaining({ index, result: 'archived', docs: 6000 })]);
    expect(await es.indices.exists({ index })).toBe(false);
    const restored = await runCli(ctx, ['restore', index], env).done;
    expect(restored.code).toBe(0);
    const after = await allDocs(ctx, index);
    expect(after.size).toBe(before.size);
    for (const [id, doc] of before) expect(after.get(id)).toEqual(doc);
  });

  it('two archivers at once archive each index once', async () => {
    const { prefix, env } = await archiveSetup(ctx);
    const indices = ['2020.11.01', '2020.11.02', '2020.11.03'].map((d) => `${prefix}-traces-${d}`);
    for (const i of indices) await seedIndex(ctx, i, 1500);
    const [a, b] = await Promise.all([runCli(ctx, ['archive'], env).done, runCli(ctx, ['archive'], env).done]);
    const results = [a, b].flatMap((r) => JSON.parse(r.stdout.trim()).results as { index: string; result: string }[]);
    for (const i of indices) {
      expect(results.filter((r) => r.index === i && r.result === 'archived')).toHaveLength(1);
      expect(results.filter((r) => r.index === i && r.result === 'failed')).toHaveLength(0);
    }
    const list = await runCli(ctx, ['list'], env).done;
    const listed = list.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    expect(listed.map((l) => l.index).sort()).toEqual(indices);
    expect(listed.every((l) => l.docs === 1500)).toBe(true);
  });

  it('the worker archives aged indices on its schedule and counts them', async () => {
    const { prefix, env, es } = await archiveSetup(ctx, { MPLP_ARCHIVER_INTERVAL: '1s', MPLP_ARCHIVER_HTTP_PORT: '0' });
    const index = `${prefix}-metrics-2020.12.01`;
    await seedIndex(ctx, index, 400);
    const { service, registry } = createArchiver({ ...process.env, ...env });
    await service.start();
    try {
      await waitFor('the worker to archive the index', async () => !(await es.indices.exists({ index })), {
        timeoutMs: 60_000,
        intervalMs: 250,
      });
      const archived = await waitFor(
        'the counter',
        async () =>
          (await registry.getSingleMetric('mplp_archiver_indices_total')!.get()).values.find((v) => v.labels.result === 'archived')?.value,
      );
      expect(archived).toBe(1);
      expect((await registry.getSingleMetric('mplp_archiver_documents_total')!.get()).values[0].value).toBe(400);
    } finally {
      await service.stop();
    }
  });
});
