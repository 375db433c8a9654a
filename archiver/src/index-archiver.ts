import type { Client } from '@elastic/elasticsearch';
import { classifyElasticsearchError, Logger, MplpError, SpanBatchCodec } from '../../shared/src';
import { ArchiveStore, Lease, sha256 } from './archive-store';
import { buildManifest, IndexFingerprint, Manifest, ManifestPart, RESTORED_MARK, RestoredMark } from './layout';
import { PartBuilder } from './part-builder';
import { PartUploader } from './part-uploader';

export interface ArchiveOptions {
  partMaxBytes: number;
  pageSize: number;
  owner: string;
  leaseTtlMs: number;
}
export type ArchiveOutcome = {
  index: string;
  result: 'archived' | 'skipped' | 'failed';
  docs?: number;
  parts?: number;
  bytes?: number;
  generation?: number;
  reason?: string;
};

export interface ArchiveHooks {
  /** After the parts are uploaded, before they are verified (fault-injection in tests). */
  afterUpload?: (parts: ManifestPart[]) => Promise<void>;
  /** After the manifest is written and read back, before the index is deleted (fault-injection in tests). */
  beforeDelete?: (m: Manifest) => Promise<void>;
  /** Documents exported so far (after each page); without it the archiver logs progress every 10 s. */
  progress?: (index: string, docs: number, total: number) => void | Promise<void>;
}

const PROGRESS_LOG_MS = 10_000;

const es_ = async <T>(what: string, fn: () => Promise<T>): Promise<T> => {
  try {
    return await fn();
  } catch (err) {
    throw classifyElasticsearchError(err, what);
  }
};

const sameSeqNos = (a: number[] | undefined, b: number[]) => !!a && a.length === b.length && a.every((n, i) => n === b[i]);

/**
 * Moves one index to S3 and deletes it only once every part and the manifest are verified.
 * The index is write-blocked first, so what is counted, exported and verified is what gets
 * deleted. A generation with a manifest is never rewritten or deleted: documents that reach the
 * index after it was archived go to the next generation. Safe to kill at any point and run
 * again: a generation without a manifest is exported again (same keys), and a generation whose
 * fingerprint matches the index (killed before its delete) only needs the delete.
 */
export class IndexArchiver {
  constructor(
    private readonly es: Client,
    private readonly store: ArchiveStore,
    private readonly opts: ArchiveOptions,
    private readonly logger: Logger,
    private readonly hooks: ArchiveHooks = {},
  ) {}

  async archive(index: string, signal?: AbortSignal): Promise<ArchiveOutcome> {
    const got = await this.store.acquireLease(index, this.opts.owner, this.opts.leaseTtlMs);
    if (!got.acquired) return { index, result: 'skipped', reason: `lease held by ${got.holder}` };
    const lease = got.lease;
    try {
      const exists = await es_(`check ${index}`, () => this.es.indices.exists({ index }));
      if (!exists) return { index, result: 'skipped', reason: 'index no longer exists' };
      const mark = await this.restoredMark(index);
      if (mark && Date.parse(mark.until) > Date.now()) {
        return { index, result: 'skipped', reason: `restored ${mark.at}, kept until ${mark.until} (or until \`cli.js unmark ${index}\`)` };
      }
      try {
        await es_(`block writes to ${index}`, () => this.block(index));
      } catch (err) {
        return { index, result: 'failed', reason: `could not block writes: ${(err as Error).message}; index left alone` };
      }
      let deleted = false;
      try {
        const out = await this.archiveBlocked(index, lease, mark, signal);
        deleted = out.result === 'archived';
        return out;
      } finally {
        // The index stays: let writes in again (late documents then reach the next generation).
        if (!deleted) {
          await this.es.indices
            .putSettings({ index, settings: { 'index.blocks.write': null } as never })
            .catch((err) => this.logger.warn({ err: classifyElasticsearchError(err), index }, 'could not lift the write block'));
        }
      }
    } finally {
      await this.store.releaseLease(lease).catch((err) => this.logger.warn({ err, index }, 'could not release lease'));
    }
  }

  /** Count, export, verify, recount, delete: all under the write block. */
  private async archiveBlocked(index: string, lease: Lease, mark: RestoredMark | undefined, signal?: AbortSignal): Promise<ArchiveOutcome> {
    await es_(`refresh ${index}`, () => this.es.indices.refresh({ index }));
    const count = (await es_(`count ${index}`, () => this.es.count({ index }))).count;
    const print = await indexFingerprint(this.es, index);
    const generations = await this.store.generations(index);
    let archived = await this.alreadyArchived(index, count, print, generations, mark);
    if (archived) {
      const problems: string[] = [];
      for (const m of archived) problems.push(...(await this.verify(m, lease)));
      if (problems.length) return { index, result: 'failed', reason: `archive does not verify, index kept: ${problems.join('; ')}` };
    } else {
      const generation = generations.length ? generations[generations.length - 1] + 1 : 0;
      const exported = await this.export(index, generation, count, print, lease, signal);
      const problems = await this.verify(exported, lease);
      if (problems.length) return { index, result: 'failed', reason: `verification failed, index kept: ${problems.join('; ')}` };
      const changed = await this.changedSince(index, count, print);
      if (changed) return { index, result: 'failed', reason: `${changed} during the export, index kept` };
      await this.store.renewLease(lease);
      await this.store.putManifest(exported);
      const back = await this.store.manifest(index, generation);
      if (!back || JSON.stringify(back.parts) !== JSON.stringify(exported.parts) || back.docCount !== count) {
        return { index, result: 'failed', reason: 'manifest did not read back whole, index kept' };
      }
      archived = [back];
    }
    const last = archived[archived.length - 1];
    await this.hooks.beforeDelete?.(last);
    // Still ours right before the irreversible step: a takeover after expiry stops us here.
    await this.store.renewLease(lease);
    const changed = await this.changedSince(index, count, print);
    if (changed) return { index, result: 'failed', reason: `${changed} before the delete, index kept` };
    await es_(`delete ${index}`, () => this.es.indices.delete({ index }));
    const parts = archived.reduce((n, m) => n + m.parts.length, 0);
    const bytes = archived.reduce((n, m) => n + m.parts.reduce((b, p) => b + p.bytes, 0), 0);
    const generation = last.generation ?? 0;
    this.logger.info({ index, docs: count, parts, bytes, generation }, 'index archived and deleted');
    return { index, result: 'archived', docs: count, parts, bytes, generation };
  }

  /**
   * The generations that already hold exactly this index, or undefined when it must be exported:
   * the last generation when it was exported from this very index (a run killed before its delete),
   * or, for a restored index nobody wrote to since, the generations it was restored from.
   */
  private async alreadyArchived(
    index: string,
    count: number,
    print: IndexFingerprint,
    generations: number[],
    mark?: RestoredMark,
  ): Promise<Manifest[] | undefined> {
    if (generations.length) {
      const last = await this.store.manifest(index, generations[generations.length - 1]).catch((err) => {
        this.logger.warn({ err, index }, 'last manifest unreadable; it is kept and a new generation is written');
        return undefined;
      });
      if (last?.source?.uuid === print.uuid && sameSeqNos(last.source.maxSeqNos, print.maxSeqNos) && last.docCount === count) return [last];
    }
    if (
      mark &&
      sameSeqNos(mark.maxSeqNos, print.maxSeqNos) &&
      mark.generations.length &&
      mark.generations.every((g) => generations.includes(g))
    ) {
      const manifests = await Promise.all(mark.generations.map((g) => this.store.manifest(index, g)));
      if (manifests.every((m) => m)) return manifests as Manifest[];
    }
    return undefined;
  }

  /** Why the index is not what was counted (the write block was lifted by someone), or undefined. */
  private async changedSince(index: string, count: number, print: IndexFingerprint): Promise<string | undefined> {
    await es_(`refresh ${index}`, () => this.es.indices.refresh({ index }));
    const now = (await es_(`count ${index}`, () => this.es.count({ index }))).count;
    if (now !== count) return `${index} went from ${count} to ${now} documents`;
    const p = await indexFingerprint(this.es, index);
    if (p.uuid !== print.uuid || !sameSeqNos(print.maxSeqNos, p.maxSeqNos)) return `${index} was written to`;
    return undefined;
  }

  /**
   * index.blocks.write through the add-block API, which also waits for writes in flight on every
   * shard: once it answers, nothing more can be indexed, so the count is final.
   */
  private async block(index: string): Promise<void> {
    const r = await this.es.indices.addBlock({ index, block: 'write' });
    if (r.acknowledged && r.shards_acknowledged && r.indices.length > 0 && r.indices.every((i) => i.blocked)) return;
    // An index already blocked (by a run killed after blocking) is answered with no index: the
    // block was verified when it was put, so the setting being there is enough.
    const s = await this.es.indices.getSettings({ index, name: 'index.blocks.write', flat_settings: true });
    if ((s[index]?.settings as Record<string, unknown> | undefined)?.['index.blocks.write'] !== 'true') {
      throw new MplpError('block_failed', `Elasticsearch did not confirm the write block on ${index}: ${JSON.stringify(r)}`);
    }
  }

  /** The restore mark in the index's mapping `_meta`, if any. */
  private async restoredMark(index: string): Promise<RestoredMark | undefined> {
    const r = await es_(`mapping of ${index}`, () => this.es.indices.getMapping({ index }));
    return (r[index]?.mappings?._meta as Record<string, RestoredMark> | undefined)?.[RESTORED_MARK];
  }

  /** Streams the index out with a point-in-time and search_after into lz4 NDJSON parts. */
  private async export(
    index: string,
    generation: number,
    expected: number,
    print: IndexFingerprint,
    lease: Lease,
    signal?: AbortSignal,
  ): Promise<Manifest> {
    const meta = await es_(`read ${index}`, () => this.es.indices.get({ index }));
    const builder = new PartBuilder(this.opts.partMaxBytes);
    const uploader = new PartUploader(this.store, index, generation, () => this.keepLease(lease));
    let docs = 0;
    let lastLog = Date.now();
    try {
      for await (const hits of this.pages(index, lease, signal)) {
        for (const h of hits) {
          await uploader.add(builder.add(JSON.stringify({ _id: h._id, _source: h._source })));
          docs++;
        }
        if (this.hooks.progress) await this.hooks.progress(index, docs, expected);
        else if (Date.now() - lastLog >= PROGRESS_LOG_MS) {
          lastLog = Date.now();
          this.logger.info({ index, docs, total: expected, parts: uploader.parts.length }, 'exporting');
        }
      }
      await uploader.add(builder.finish());
      await uploader.drain();
    } finally {
      await uploader.settle();
    }
    await this.removeStaleParts(index, generation, uploader.parts, lease);
    if (docs !== expected)
      throw new MplpError('count_mismatch', `exported ${docs} documents from ${index}, its count is ${expected}`, {
        disposition: 'retryable',
      });
    await this.hooks.afterUpload?.(uploader.parts);
    return buildManifest(index, meta[index], uploader.parts, uploader.uncompressedBytes, new Date(), generation, print);
  }

  /** The index's documents, a page at a time in _shard_doc order, through a point in time closed at the end. */
  private async *pages(index: string, lease: Lease, signal?: AbortSignal) {
    const pit = await es_(`open point in time on ${index}`, () => this.es.openPointInTime({ index, keep_alive: '5m' }));
    let pitId = pit.id;
    try {
      let after: unknown[] | undefined;
      for (;;) {
        if (signal?.aborted) throw new MplpError('cancelled', 'archive cancelled by shutdown');
        const page = await es_(`export ${index}`, () =>
          this.es.search({
            size: this.opts.pageSize,
            pit: { id: pitId, keep_alive: '5m' },
            sort: [{ _shard_doc: 'asc' }] as never,
            track_total_hits: false,
            ...(after ? { search_after: after as never } : {}),
          }),
        );
        pitId = page.pit_id ?? pitId;
        await this.keepLease(lease);
        const hits = page.hits.hits;
        yield hits;
        if (hits.length < this.opts.pageSize) return;
        after = hits[hits.length - 1].sort as unknown[];
      }
    } finally {
      await this.es.closePointInTime({ id: pitId }).catch(() => undefined);
    }
  }

  /**
   * Parts left in this generation by an earlier, larger export that died before its manifest
   * would confuse a reader. Only this generation's directory is touched (it has no manifest),
   * and only while the lease is ours (a taker-over could be writing those keys).
   */
  private async removeStaleParts(index: string, generation: number, parts: ManifestPart[], lease: Lease): Promise<void> {
    await this.store.renewLease(lease);
    const stale = (await this.store.partKeys(index, generation)).filter((k) => !parts.some((p) => p.key === k));
    if (stale.length) await this.store.deleteKeys(stale);
  }

  /** Renews well before expiry (a third of the TTL), so a long export or verify never loses its lease while alive. */
  private async keepLease(lease: Lease): Promise<void> {
    if (Date.now() - lease.renewedAt > lease.ttlMs / 3) await this.store.renewLease(lease);
  }

  /** Every part present with the right size, checksum and document count. Returns the problems found. */
  async verify(m: Manifest, lease?: Lease): Promise<string[]> {
    const problems: string[] = [];
    for (const p of m.parts) {
      if (lease) await this.keepLease(lease);
      const size = await this.store.head(p.key);
      if (size === undefined) {
        problems.push(`${p.key} is missing`);
        continue;
      }
      if (size !== p.bytes) {
        problems.push(`${p.key} has ${size} bytes, expected ${p.bytes}`);
        continue;
      }
      const body = await this.store.get(p.key);
      if (sha256(body) !== p.sha256) {
        problems.push(`${p.key} fails its sha256`);
        continue;
      }
      let n: number;
      try {
        n = SpanBatchCodec.lines(SpanBatchCodec.decompress(body, 1 << 30)).length;
      } catch (err) {
        problems.push(`${p.key}: ${(err as Error).message}`);
        continue;
      }
      if (n !== p.docs) problems.push(`${p.key} holds ${n} documents, expected ${p.docs}`);
    }
    return problems;
  }
}

/** The index's uuid and each shard's highest sequence number (primaries): any write moves one. */
export async function indexFingerprint(es: Client, index: string): Promise<IndexFingerprint> {
  const r = await es_(`stats of ${index}`, () => es.indices.stats({ index, level: 'shards', metric: 'docs' }));
  const st = r.indices?.[index] as
    { uuid?: string; shards?: Record<string, { routing?: { primary?: boolean }; seq_no?: { max_seq_no?: number } }[]> } | undefined;
  if (!st?.uuid || !st.shards) throw new MplpError('es_stats', `no shard statistics for ${index}`, { disposition: 'retryable' });
  const maxSeqNos = Object.keys(st.shards)
    .map(Number)
    .sort((a, b) => a - b)
    .map((n) => st.shards![String(n)].find((c) => c.routing?.primary)?.seq_no?.max_seq_no ?? NaN);
  if (maxSeqNos.some((n) => !Number.isInteger(n)))
    throw new MplpError('es_stats', `a primary shard of ${index} is not started`, { disposition: 'retryable' });
  return { uuid: st.uuid, maxSeqNos };
}
