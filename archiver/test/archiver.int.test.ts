import { GetObjectCommand, PutObjectCommand, DeleteObjectCommand, ListObjectsV2Command } from '@aws-sdk/client-s3';
import { createHash } from 'node:crypto';
import { TestContext, waitFor } from '../../shared/testing';
import { archiveAged, createArchiverParts } from '../src';
import { manifestKey, leaseKey } from '../src/layout';
import { allDocs, archiveSetup, runCli, seedIndex } from './helpers';

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
    const manifest = JSON.parse(await (await s3.send(new GetObjectCommand({ Bucket: ctx.cfg.s3Bucket, Key: manifestKey(s3Prefix, index) }))).Body!.transformToString());
    expect(manifest.docCount).toBe(2500);
    expect(manifest.parts.length).toBeGreaterThan(1);
    expect(manifest.parts.reduce((n: number, p: { docs: number }) => n + p.docs, 0)).toBe(2500);
    for (const p of manifest.parts) {
      expect(p.key).toMatch(new RegExp(`^${s3Prefix}/${index}/part-\\d{5}\\.ndjson\\.lz4$`));
      const body = Buffer.from(await (await s3.send(new GetObjectCommand({ Bucket: ctx.cfg.s3Bucket, Key: p.key }))).Body!.transformToByteArray());
      expect(body.length).toBe(p.bytes);
      expect(createHash('sha256').update(body).digest('hex')).toBe(p.sha256);
    }
    const lease = await s3.send(new ListObjectsV2Command({ Bucket: ctx.cfg.s3Bucket, Prefix: leaseKey(s3Prefix, index) }));
    expect(lease.KeyCount).toBe(0);

    await parts.restorer.restore(index);
    const after = await allDocs(ctx, index);
    expect([...after.keys()].sort()).toEqual([...before.keys()].sort());
    for (const [id, doc] of before) expect(after.get(id)).toEqual(doc);
    expect((await es.indices.getMapping({ index }))[index].mappings).toEqual(mappingBefore);
  });

  it.each(['corrupted', 'missing'])('a %s part is caught by verification and the index is not deleted', async (fault) => {
    const { prefix, env, es } = await archiveSetup(ctx);
    const index = `${prefix}-metrics-2020.05.06`;
    await seedIndex(ctx, index, 800);
    const s3 = ctx.s3();
    const parts = createArchiverParts({ ...process.env, ...env }, {
      afterUpload: async (uploaded) => {
        const key = uploaded[1].key;
        if (fault === 'corrupted') await s3.send(new PutObjectCommand({ Bucket: ctx.cfg.s3Bucket, Key: key, Body: Buffer.alloc(uploaded[1].bytes, 7) }));
        else await s3.send(new DeleteObjectCommand({ Bucket: ctx.cfg.s3Bucket, Key: key }));
      },
    });
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
    const index = `${prefix}-alerts-2020.07.08`;
    await seedIndex(ctx, index, 50);
    const { done } = runCli(ctx, ['archive'], { ...env, ...bad });
    const r = await done;
    expect(r.code).toBe(1);
    const lines = r.stderr.split('\n').filter((l) => l.startsWith('archiver:'));
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(reason);
    expect((await es.count({ index })).count).toBe(50);
  });

  it('kill -9 during the upload, then run again: archived exactly once, searchable until verified', async () => {
    const { prefix, s3Prefix, env, es } = await archiveSetup(ctx, { MPLP_ARCHIVER_PART_MAX_BYTES: '8192', MPLP_ARCHIVER_PAGE_SIZE: '200', MPLP_ARCHIVER_LEASE_TTL: '2s' });
    const index = `${prefix}-traces-2020.09.10`;
    await seedIndex(ctx, index, 6000);
    const before = await allDocs(ctx, index);
    const s3 = ctx.s3();
    const first = runCli(ctx, ['archive'], env);
    await waitFor('parts being uploaded', async () => ((await s3.send(new ListObjectsV2Command({ Bucket: ctx.cfg.s3Bucket, Prefix: `${s3Prefix}/${index}/part-` }))).KeyCount ?? 0) >= 3, { timeoutMs: 60_000, intervalMs: 20 });
    first.child.kill('SIGKILL');
    await first.done;
    expect((await es.count({ index })).count).toBe(6000);
    expect((await s3.send(new ListObjectsV2Command({ Bucket: ctx.cfg.s3Bucket, Prefix: manifestKey(s3Prefix, index) }))).KeyCount).toBe(0);
    // The dead run's lease expires after MPLP_ARCHIVER_LEASE_TTL; a rerun before that skips the index.
    const lease = JSON.parse(await (await s3.send(new GetObjectCommand({ Bucket: ctx.cfg.s3Bucket, Key: leaseKey(s3Prefix, index) }))).Body!.transformToString());
    await waitFor('the dead lease to expire', () => Date.now() > Date.parse(lease.expiresAt), { timeoutMs: 10_000 });
    const second = await runCli(ctx, ['archive'], env).done;
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
    const listed = list.stdout.trim().split('\n').map((l) => JSON.parse(l));
    expect(listed.map((l) => l.index).sort()).toEqual(indices);
    expect(listed.every((l) => l.docs === 1500)).toBe(true);
  });
});
