import { createHash } from 'node:crypto';
import {
  DeleteObjectCommand,
  DeleteObjectsCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3Client,
} from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import { classifyS3Error, MplpError, retry } from '../../shared/src';
import { generationDir, indexDir, leaseKey, Manifest, manifestGeneration, manifestKey, validateManifest } from './layout';

export const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');

/**
 * The archive in S3: parts, manifests and leases, every call classified at the boundary.
 * Idempotent calls go through the one retry helper (the client's own retries are off, and its
 * timeouts turn a hung endpoint into a retryable error); conditional writes (leases, manifests)
 * are sent once, since a retry after a lost answer would fail its own condition.
 */
export class ArchiveStore {
  constructor(
    private readonly s3: S3Client,
    readonly bucket: string,
    readonly prefix: string,
    private readonly attempts = 3,
  ) {}

  private async call<T>(what: string, fn: () => Promise<T>): Promise<T> {
    return retry(() => fn(), {
      attempts: this.attempts,
      baseDelayMs: 200,
      maxDelayMs: 5000,
      classify: (err) => classifyS3Error(err, what),
    });
  }

  private async once<T>(what: string, fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (err) {
      throw classifyS3Error(err, what);
    }
  }

  /** Multipart upload (lib-storage): parts over 5 MiB go up in pieces, retried by the SDK. */
  async putPart(key: string, body: Buffer): Promise<void> {
    await this.call(`upload ${key}`, () =>
      new Upload({
        client: this.s3,
        params: { Bucket: this.bucket, Key: key, Body: body },
        partSize: 8 * 1024 * 1024,
        queueSize: 2,
      }).done(),
    );
  }

  async head(key: string): Promise<number | undefined> {
    try {
      const r = await this.call(`head ${key}`, () => this.s3.send(new HeadObjectCommand({ Bucket: this.bucket, Key: key })));
      return r.ContentLength;
    } catch (err) {
      if ((err as MplpError).code === 's3_not_found') return undefined;
      throw err;
    }
  }

  async get(key: string): Promise<Buffer> {
    return this.call(`get ${key}`, async () =>
      Buffer.from(await (await this.s3.send(new GetObjectCommand({ Bucket: this.bucket, Key: key }))).Body!.transformToByteArray()),
    );
  }

  /**
   * Writes a generation's manifest only if it does not exist yet (If-None-Match), so a written
   * archive is never replaced. A retry after a lost answer finds its own manifest: accepted.
   */
  async putManifest(m: Manifest): Promise<void> {
    const generation = m.generation ?? 0;
    const key = manifestKey(this.prefix, m.index, generation);
    const body = JSON.stringify(m, null, 1);
    const put = () =>
      this.s3.send(new PutObjectCommand({ Bucket: this.bucket, Key: key, Body: body, ContentType: 'application/json', IfNoneMatch: '*' }));
    try {
      await this.call(`put manifest of ${m.index} generation ${generation}`, put);
    } catch (err) {
      if (!isConflict(err as MplpError)) throw err;
      if ((await this.get(key)).toString('utf8') !== body) {
        throw new MplpError(
          'manifest_exists',
          `generation ${generation} of ${m.index} already has another manifest; it is kept, index kept`,
          { cause: err },
        );
      }
    }
  }

  /** One generation's manifest, validated, or undefined when that generation has none. */
  async manifest(index: string, generation = 0): Promise<Manifest | undefined> {
    const key = manifestKey(this.prefix, index, generation);
    if ((await this.head(key)) === undefined) return undefined;
    return validateManifest(JSON.parse((await this.get(key)).toString('utf8')), index, generation);
  }

  /** The generations of an index that have a manifest (complete archives), in order. */
  async generations(index: string): Promise<number[]> {
    return (await this.list(indexDir(this.prefix, index)))
      .map((o) => manifestGeneration(this.prefix, index, o.key))
      .filter((g): g is number => g !== undefined)
      .sort((a, b) => a - b);
  }

  /** Every generation's manifest, in order; a missing or invalid one is an error. */
  async manifests(index: string): Promise<Manifest[]> {
    const out: Manifest[] = [];
    for (const g of await this.generations(index)) {
      const m = await this.manifest(index, g);
      if (!m)
        throw new MplpError('s3_not_found', `manifest of ${index} generation ${g} disappeared while being read`, {
          disposition: 'retryable',
        });
      out.push(m);
    }
    return out;
  }

  /** Keys of the parts in one generation's directory (not those of other generations). */
  async partKeys(index: string, generation: number): Promise<string[]> {
    return (await this.list(`${generationDir(this.prefix, index, generation)}part-`)).map((o) => o.key);
  }

  async list(prefix: string): Promise<{ key: string; size: number; modified?: Date }[]> {
    const out: { key: string; size: number; modified?: Date }[] = [];
    let token: string | undefined;
    do {
      const r = await this.call(`list ${prefix}`, () =>
        this.s3.send(new ListObjectsV2Command({ Bucket: this.bucket, Prefix: prefix, ContinuationToken: token })),
      );
      for (const o of r.Contents ?? []) out.push({ key: o.Key!, size: o.Size ?? 0, modified: o.LastModified });
      token = r.IsTruncated ? r.NextContinuationToken : undefined;
    } while (token);
    return out;
  }

  async deleteKeys(keys: string[]): Promise<void> {
    for (let i = 0; i < keys.length; i += 1000) {
      const r = await this.call('delete objects', () =>
        this.s3.send(
          new DeleteObjectsCommand({ Bucket: this.bucket, Delete: { Objects: keys.slice(i, i + 1000).map((Key) => ({ Key })) } }),
        ),
      );
      if (r.Errors?.length)
        throw new MplpError('s3_delete', `could not delete ${r.Errors.map((e) => e.Key).join(', ')}`, { disposition: 'retryable' });
    }
  }

  /**
   * One cheap authenticated request before anything else, so wrong credentials, a missing
   * bucket or an unreachable endpoint give one clear error before any index is looked at.
   */
  async check(): Promise<void> {
    await this.call(`read s3://${this.bucket}/${this.prefix}`, () =>
      this.s3.send(new ListObjectsV2Command({ Bucket: this.bucket, Prefix: this.prefix ? `${this.prefix}/` : undefined, MaxKeys: 1 })),
    );
  }

  /**
   * A lease per index: a conditional put that only one archiver can win. A lease past its
   * expiry (its holder died) is taken over with a put conditional on its ETag, so two
   * archivers cannot both take over the same stale lease. The ETag returned is the holder's
   * proof: renewing and releasing are conditional on it.
   */
  async acquireLease(
    index: string,
    owner: string,
    ttlMs: number,
    now = Date.now(),
  ): Promise<{ acquired: true; lease: Lease } | { acquired: false; holder: string }> {
    const key = leaseKey(this.prefix, index);
    const body = leaseBody(owner, ttlMs, now);
    try {
      const r = await this.s3.send(new PutObjectCommand({ Bucket: this.bucket, Key: key, Body: body, IfNoneMatch: '*' }));
      return { acquired: true, lease: { index, owner, ttlMs, etag: r.ETag!, renewedAt: now } };
    } catch (err) {
      const e = classifyS3Error(err, `lease ${index}`);
      if (!isConflict(e)) throw e;
    }
    let cur;
    try {
      cur = await this.s3.send(new GetObjectCommand({ Bucket: this.bucket, Key: key }));
    } catch (err) {
      const e = classifyS3Error(err, `read lease ${index}`);
      // Released between our put and our read: the next run will find it free.
      if (e.code === 's3_not_found') return { acquired: false, holder: 'another archiver (just released)' };
      throw e;
    }
    const held = JSON.parse(await cur.Body!.transformToString()) as { owner: string; expiresAt: string };
    if (Date.parse(held.expiresAt) > now) return { acquired: false, holder: held.owner };
    try {
      const r = await this.s3.send(new PutObjectCommand({ Bucket: this.bucket, Key: key, Body: body, IfMatch: cur.ETag }));
      return { acquired: true, lease: { index, owner, ttlMs, etag: r.ETag!, renewedAt: now } };
    } catch (err) {
      const e = classifyS3Error(err, `take over lease ${index}`);
      if (isConflict(e) || e.code === 's3_not_found') return { acquired: false, holder: 'another archiver' };
      throw e;
    }
  }

  /**
   * Extends the lease, conditional on it still being ours (its ETag unchanged). Throws
   * lease_lost when another archiver took it over: the caller must stop before deleting anything.
   */
  async renewLease(lease: Lease, now = Date.now()): Promise<void> {
    // A run that was stuck (a hung call) past its own lease's expiry may have been taken over
    // and finished by another archiver: it must not revive the lease and carry on.
    if (now > lease.renewedAt + lease.ttlMs) {
      throw new MplpError(
        'lease_lost',
        `the lease on ${lease.index} expired while this run was stuck (${now - lease.renewedAt} ms since renewal); index kept`,
      );
    }
    try {
      const r = await this.s3.send(
        new PutObjectCommand({
          Bucket: this.bucket,
          Key: leaseKey(this.prefix, lease.index),
          Body: leaseBody(lease.owner, lease.ttlMs, now),
          IfMatch: lease.etag,
        }),
      );
      lease.etag = r.ETag!;
      lease.renewedAt = now;
    } catch (err) {
      const e = classifyS3Error(err, `renew lease ${lease.index}`);
      if (isConflict(e) || e.code === 's3_not_found') {
        throw new MplpError('lease_lost', `lost the lease on ${lease.index} to another archiver; index kept`, { cause: err });
      }
      throw e;
    }
  }

  /** Deletes the lease only while it is still ours, so a slow archiver never frees a lease another one took over. */
  async releaseLease(lease: Lease): Promise<void> {
    const key = leaseKey(this.prefix, lease.index);
    let etag: string | undefined;
    try {
      etag = (await this.s3.send(new HeadObjectCommand({ Bucket: this.bucket, Key: key }))).ETag;
    } catch (err) {
      const e = classifyS3Error(err, `release lease ${lease.index}`);
      if (e.code === 's3_not_found') return;
      throw e;
    }
    if (etag !== lease.etag) return;
    await this.once(`release lease ${lease.index}`, () => this.s3.send(new DeleteObjectCommand({ Bucket: this.bucket, Key: key })));
  }
}

export interface Lease {
  readonly index: string;
  readonly owner: string;
  readonly ttlMs: number;
  etag: string;
  renewedAt: number;
}

const leaseBody = (owner: string, ttlMs: number, now: number) => JSON.stringify({ owner, expiresAt: new Date(now + ttlMs).toISOString() });

// S3 answers a lost conditional write with 412 PreconditionFailed, or 409
// ConditionalRequestConflict when two conditional writes race on the same key.
const isConflict = (e: MplpError) =>
  e.code === 's3_precondition_failed' || e.code === 's3_409' || /ConditionalRequestConflict/.test(e.message);
