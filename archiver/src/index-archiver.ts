import type { Client } from '@elastic/elasticsearch';
import { classifyElasticsearchError, Logger, MplpError, SpanBatchCodec } from '../../shared/src';
import { ArchiveStore, Lease, sha256 } from './archive-store';
import { buildManifest, Manifest, ManifestPart, partKey } from './layout';
import { PartBuilder } from './part-builder';

export interface ArchiveOptions { partMaxBytes: number; pageSize: number; owner: string; leaseTtlMs: number }
export type ArchiveOutcome = { index: string; result: 'archived' | 'skipped' | 'failed'; docs?: number; parts?: number; bytes?: number; reason?: string };

export interface ArchiveHooks {
  /** After the parts are uploaded, before they are verified (fault-injection in tests). */
  afterUpload?: (parts: ManifestPart[]) => Promise<void>;
  /** After the manifest is written and read back, before the index is deleted (fault-injection in tests). */
  beforeDelete?: (m: Manifest) => Promise<void>;
  /** Documents exported so far; without it the archiver logs progress every 10 s. */
  progress?: (index: string, docs: number, total: number) => void;
}

const PROGRESS_LOG_MS = 10_000;

const es_ = async <T>(what: string, fn: () => Promise<T>): Promise<T> => {
  try { return await fn(); } catch (err) { throw classifyElasticsearchError(err, what); }
};

/**
 * Moves one index to S3 and deletes it only once every part and the manifest are verified.
 * Safe to kill at any point and run again: part keys are deterministic (a rerun overwrites
 * them), a manifest exists only while it describes the parts in S3 (written last, removed
 * before a re-export), and the index is deleted last, under a lease that is still ours.
 */
export class IndexArchiver {
  constructor(private readonly es: Client, private readonly store: ArchiveStore, private readonly opts: ArchiveOptions,
    private readonly logger: Logger, private readonly hooks: ArchiveHooks = {}) {}

  async archive(index: string, signal?: AbortSignal): Promise<ArchiveOutcome> {
    const got = await this.store.acquireLease(index, this.opts.owner, this.opts.leaseTtlMs);
    if (!got.acquired) return { index, result: 'skipped', reason: `lease held by ${got.holder}` };
    const lease = got.lease;
    try {
      const exists = await es_(`check ${index}`, () => this.es.indices.exists({ index }));
      if (!exists) return { index, result: 'skipped', reason: 'index no longer exists' };
      await es_(`refresh ${index}`, () => this.es.indices.refresh({ index }));
      const count = (await es_(`count ${index}`, () => this.es.count({ index }))).count;
      let manifest = await this.store.manifest(index).catch((err) => {
        this.logger.warn({ err, index }, 'existing manifest unreadable, exporting again');
        return undefined;
      });
      // A manifest left by a run killed before its delete: if it still matches the index and
      // every part verifies, the export is done and only the delete remains.
      if (manifest && (manifest.docCount !== count || (await this.verify(manifest)).length > 0)) {
        // The parts are about to be overwritten: the manifest must go first, or a kill in the
        // middle of the re-export would leave a complete-looking manifest over mixed parts.
        await this.store.deleteManifest(index);
        manifest = undefined;
      }
      if (!manifest) {
        const exported = await this.export(index, count, lease, signal);
        const problems = await this.verify(exported);
        if (problems.length) return { index, result: 'failed', reason: `verification failed, index kept: ${problems.join('; ')}` };
        await this.store.renewLease(lease);
        await this.store.putManifest(exported);
        const back = await this.store.manifest(index);
        if (!back || JSON.stringify(back.parts) !== JSON.stringify(exported.parts) || back.docCount !== count) {
          return { index, result: 'failed', reason: 'manifest did not read back whole, index kept' };
        }
        manifest = back;
      }
      await this.hooks.beforeDelete?.(manifest);
      // Still ours right before the irreversible step: a takeover after expiry stops us here.
      await this.store.renewLease(lease);
      await es_(`delete ${index}`, () => this.es.indices.delete({ index }));
      const bytes = manifest.parts.reduce((n, p) => n + p.bytes, 0);
      this.logger.info({ index, docs: manifest.docCount, parts: manifest.parts.length, bytes }, 'index archived and deleted');
      return { index, result: 'archived', docs: manifest.docCount, parts: manifest.parts.length, bytes };
    } finally {
      await this.store.releaseLease(lease).catch((err) => this.logger.warn({ err, index }, 'could not release lease'));
    }
  }

  /** Streams the index out with a point-in-time and search_after into lz4 NDJSON parts. */
  private async export(index: string, expected: number, lease: Lease, signal?: AbortSignal): Promise<Manifest> {
    const meta = await es_(`read ${index}`, () => this.es.indices.get({ index }));
    const info = meta[index];
    const pit = await es_(`open point in time on ${index}`, () => this.es.openPointInTime({ index, keep_alive: '5m' }));
    let pitId = pit.id;
    const builder = new PartBuilder(this.opts.partMaxBytes);
    const parts: ManifestPart[] = [];
    let docs = 0;
    let uncompressed = 0;
    let lastLog = Date.now();
    // One part uploads while the next one is read from Elasticsearch: memory stays a few parts,
    // and the export runs at the speed of the slower side instead of the sum of both.
    let inFlight: Promise<void> = Promise.resolve();
    const upload = async (p: ReturnType<PartBuilder['finish']>) => {
      if (!p) return;
      const body = SpanBatchCodec.encodeLines(p.ndjson);
      const key = partKey(this.store.prefix, index, p.n);
      const part = { key, docs: p.docs, bytes: body.length, sha256: sha256(body) };
      uncompressed += p.ndjson.length;
      await inFlight;
      // Renew well before expiry so a long export never loses its lease while alive.
      if (Date.now() - lease.renewedAt > lease.ttlMs / 3) await this.store.renewLease(lease);
      inFlight = this.store.putPart(key, body).then(() => { parts.push(part); });
      // Surfaces an upload failure at the next await of inFlight, never as an unhandled rejection.
      inFlight.catch(() => undefined);
    };
    try {
      let after: unknown[] | undefined;
      for (;;) {
        if (signal?.aborted) throw new MplpError('cancelled', 'archive cancelled by shutdown');
        const page = await es_(`export ${index}`, () => this.es.search({
          size: this.opts.pageSize, pit: { id: pitId, keep_alive: '5m' }, sort: [{ _shard_doc: 'asc' }] as never,
          track_total_hits: false, ...(after ? { search_after: after as never } : {}),
        }));
        pitId = page.pit_id ?? pitId;
        const hits = page.hits.hits;
        for (const h of hits) {
          await upload(builder.add(JSON.stringify({ _id: h._id, _source: h._source })));
          docs++;
        }
        if (this.hooks.progress) this.hooks.progress(index, docs, expected);
        else if (Date.now() - lastLog >= PROGRESS_LOG_MS) {
          lastLog = Date.now();
          this.logger.info({ index, docs, total: expected, parts: parts.length }, 'exporting');
        }
        if (hits.length < this.opts.pageSize) break;
        after = hits[hits.length - 1].sort as unknown[];
      }
      await upload(builder.finish());
      await inFlight;
    } finally {
      await inFlight.catch(() => undefined);
      await this.es.closePointInTime({ id: pitId }).catch(() => undefined);
    }
    // Parts left by an earlier, larger export of the same index would confuse a reader. Deleting
    // is only safe while the lease is ours (a taker-over could be writing those keys).
    await this.store.renewLease(lease);
    const stale = (await this.store.list(`${partKey(this.store.prefix, index, 0).replace(/part-\d+\.ndjson\.lz4$/, '')}part-`))
      .map((o) => o.key).filter((k) => !parts.some((p) => p.key === k));
    if (stale.length) await this.store.deleteKeys(stale);
    if (docs !== expected) throw new MplpError('count_mismatch', `exported ${docs} documents from ${index}, its count is ${expected}`, { disposition: 'retryable' });
    await this.hooks.afterUpload?.(parts);
    return buildManifest(index, info, parts, uncompressed);
  }

  /** Every part present with the right size, checksum and document count. Returns the problems found. */
  async verify(m: Manifest): Promise<string[]> {
    const problems: string[] = [];
    for (const p of m.parts) {
      const size = await this.store.head(p.key);
      if (size === undefined) { problems.push(`${p.key} is missing`); continue; }
      if (size !== p.bytes) { problems.push(`${p.key} has ${size} bytes, expected ${p.bytes}`); continue; }
      const body = await this.store.get(p.key);
      if (sha256(body) !== p.sha256) { problems.push(`${p.key} fails its sha256`); continue; }
      let n: number;
      try { n = SpanBatchCodec.lines(SpanBatchCodec.decompress(body, 1 << 30)).length; } catch (err) { problems.push(`${p.key}: ${(err as Error).message}`); continue; }
      if (n !== p.docs) problems.push(`${p.key} holds ${n} documents, expected ${p.docs}`);
    }
    return problems;
  }
}
