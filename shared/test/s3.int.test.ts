import { DeleteObjectsCommand, GetObjectCommand, ListObjectsV2Command, PutObjectCommand } from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import { createHash, randomBytes } from 'node:crypto';
import { TestContext, uniqueName } from '../testing';
import { classifyS3Error, createS3 } from '../src';

describe('S3 through the project client factory (real server)', () => {
  const ctx = new TestContext();
  afterAll(() => ctx.cleanup());
  const bucket = ctx.cfg.s3Bucket;

  it('puts, gets, lists, multipart-uploads and deletes many objects', async () => {
    const s3 = ctx.s3();
    const prefix = uniqueName('test/s3');
    for (let i = 0; i < 3; i++) {
      await s3.send(new PutObjectCommand({ Bucket: bucket, Key: `${prefix}/small-${i}`, Body: `hello ${i}` }));
    }
    const got = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: `${prefix}/small-1` }));
    expect(await got.Body!.transformToString()).toBe('hello 1');

    const big = randomBytes(12 * 1024 * 1024);
    const up = new Upload({
      client: s3,
      params: { Bucket: bucket, Key: `${prefix}/big`, Body: big },
      partSize: 5 * 1024 * 1024,
      queueSize: 2,
    });
    await up.done();
    const back = Buffer.from(
      await (await s3.send(new GetObjectCommand({ Bucket: bucket, Key: `${prefix}/big` }))).Body!.transformToByteArray(),
    );
    expect(createHash('sha256').update(back).digest('hex')).toBe(createHash('sha256').update(big).digest('hex'));

    const listed = await s3.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: `${prefix}/` }));
    expect(listed.Contents!.map((o) => o.Key).sort()).toEqual([
      `${prefix}/big`,
      `${prefix}/small-0`,
      `${prefix}/small-1`,
      `${prefix}/small-2`,
    ]);

    const del = await s3.send(
      new DeleteObjectsCommand({ Bucket: bucket, Delete: { Objects: listed.Contents!.map((o) => ({ Key: o.Key! })) } }),
    );
    expect(del.Errors ?? []).toEqual([]);
    const after = await s3.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: `${prefix}/` }));
    expect(after.KeyCount).toBe(0);
  });

  it('a conditional put succeeds once (the archiver lease)', async () => {
    const s3 = ctx.s3();
    const key = `${uniqueName('test/lease')}/lease.json`;
    await s3.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: 'a', IfNoneMatch: '*' }));
    const second = await s3.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: 'b', IfNoneMatch: '*' })).catch((e: unknown) => e);
    expect(classifyS3Error(second).code).toBe('s3_precondition_failed');
    await s3.send(new DeleteObjectsCommand({ Bucket: bucket, Delete: { Objects: [{ Key: key }] } }));
  });

  it('wrong credentials give a permanent auth error', async () => {
    const s3 = createS3({ ...ctx.cfg, s3SecretAccessKey: 'wrong-secret' }, { maxAttempts: 1 });
    ctx.defer(() => s3.destroy());
    const err = await s3.send(new ListObjectsV2Command({ Bucket: bucket })).catch((e: unknown) => e);
    const classified = classifyS3Error(err);
    expect(classified.code).toBe('s3_auth');
    expect(classified.retryable).toBe(false);
  });
});
