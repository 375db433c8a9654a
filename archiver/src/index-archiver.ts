import type { Client } from '@elastic/elasticsearch';
import { classifyElasticsearchError, Logger, MplpError, SpanBatchCodec } from '../../shared/src';
import { ArchiveStore, sha256 } from './archive-store';
import { Manifest, ManifestPart, manifestKey, partKey } from './layout';

export interface ArchiveOptions { partMaxBytes: number; pageSize: number; owner: string; leaseTtlMs: number }
export type ArchiveOutcome = { index: string; result: 'archived' | 'skipped' | 'failed'; docs?: number; parts?: number; bytes?: number; reason?: string };

export interface ArchiveHooks {
  /** After the parts are uploaded, before they are verified (fault-injection in tests). */
  afterUpload?: (parts: ManifestPart[]) => Promise<void>;
  progress?: (index: string, docs: number, total: number) => void;
}

const es_ = async <T>(what: string, fn: () => Promise<T>): Promise<T> => {
  try { return await fn(); } catch (err) { throw classifyElasticsearchError(err, what); }
};

/**
 * Moves one index to S3 and deletes it only once every part and the manifest are verified.
 * Safe to kill at any point and run again: part keys are deterministic (a rerun overwrites
 * them), the manifest is written last, and the index is deleted last.
 */
export class IndexArchiver {
  constructor(private readonly es: Client, private readonly store: ArchiveStore, private readonly opts: ArchiveOptions,
    private readonly logger: Logger, private readonly hooks: ArchiveHooks = {}) {}

  async archive(index: string, signal?: AbortSignal): Promise<ArchiveOutcome> {
    const lease = await this.store.acquireLease(index, this.opts.owner, this.opts.leaseTtlMs);
    if (!lease.acquired) return { index, result: 'skipped', reason: `lease held by ${lease.holder}` };
    try {
      const exists = await es_(`check ${index}`, () => this.es.indices.exists({ index }));
      if (!exists) return { index, result: 'skipped', reason: 'index no longer exists' };
      await es_(`refresh ${index}`, () => this.es.indices.refresh({ index }));
      const count = (await es_(`count ${index}`, () => this.es.count({ index }))).count;
      let manifest = await this.store.manifest(index).catch(() => undefined);
      if (!manifest || manifest.docCount !== count || (await this.verify(manifest)).length > 0) {
        // A manifest that no longer matches goes first: a kill during the re-export below must not
        // leave a complete-looking manifest over a mix of old and new parts.
        if (manifest) await this.store.deleteKeys([manifestKey(this.store.prefix, index)]);
        manifest = await this.export(index, count, signal);
        const problems = await this.verify(manifest);
        if (problems.length) return { index, result: 'failed', reason: `verification failed, index kept: ${problems.join('; ')}` };
        await this.store.putManifest(manifest);
        const back = await this.store.manifest(index);
        if (!back || back.docCount !== manifest.docCount || back.parts.length !== manifest.parts.length) {
          return { index, result: 'failed', reason: 'manifest did not read back whole, index kept' };
        }
      }
      await es_(`delete ${index}`, () => this.es.indices.delete({ index }));
      const bytes = manifest.parts.reduce((n, p) => n + p.bytes, 0);
      this.logger.info({ index, docs: manifest.docCount, parts: manifest.parts.length, bytes }, 'index archived and deleted');
      return { index, result: 'archived', docs: manifest.docCount, parts: manifest.parts.length, bytes };
    } finally {
      await this.store.releaseLease(index).catch((err) => this.logger.warn({ err, index }, 'could not release lease'));
    }
  }

  /** Streams the index out with a point-in-time and search_after into lz4 NDJSON parts. */
  private async export(index: string, expected: number, signal?: AbortSignal): Promise<Manifest> {
    const meta = await es_(`read ${index}`, () => this.es.indices.get({ index }));
    const info = meta[index];
    const pit = await es_(`open point in time on ${index}`, () => this.es.openPointInTime({ index, keep_alive: '5m' }));
    const parts: ManifestPart[] = [];
    let lines: string[] = [];
    let size = 0;
    let docs = 0;
    let uncompressed = 0;
    const flush = async () => {
      if (!lines.length) return;
      const ndjson = Buffer.from(lines.join('\n') + '\n');
      const body = SpanBatchCodec.encodeLines(ndjson);
      const key = partKey(this.store.prefix, index, parts.length);
      await this.store.putPart(key, body);
      parts.push({ key, docs: lines.length, bytes: body.length, sha256: sha256(body) });
      uncompressed += ndjson.length;
      lines = []; size = 0;
    };
    try {
      let after: unknown[] | undefined;
      let pitId = pit.id;
      for (;;) {
        if (signal?.aborted) throw new MplpError('cancelled', 'archive cancelled by shutdown');
        const page = await es_(`export ${index}`, () => this.es.search({
          size: this.opts.pageSize, pit: { id: pitId, keep_alive: '5m' }, sort: [{ _shard_doc: 'asc' }] as never,
          track_total_hits: false, ...(after ? { search_after: after as never } : {}),
        }));
        pitId = page.pit_id ?? pitId;
        const hits = page.hits.hits;
        for (const h of hits) {
          const line = JSON.stringify({ _id: h._id, _source: h._source });
          lines.push(line);
          size += line.length + 1;
          docs++;
          if (size >= this.opts.partMaxBytes) await flush();
        }
        this.hooks.progress?.(index, docs, expected);
        if (hits.length < this.opts.pageSize) break;
        after = hits[hits.length - 1].sort as unknown[];
      }
      await flush();
    } finally {
      await this.es.closePointInTime({ id: pit.id }).catch(() => undefined);
    }
    // Parts left by an earlier, larger export of the same index would confuse a reader.
    const stale = (await this.store.list(`${partKey(this.store.prefix, index, 0).replace(/part-\d+\.ndjson\.lz4$/, '')}part-`))
      .map((o) => o.key).filter((k) => !parts.some((p) => p.key === k));
    if (stale.length) await this.store.deleteKeys(stale);
    if (docs !== expected) throw new MplpError('count_mismatch', `exported ${docs} documents from ${index}, its count is ${expected}`, { disposition: 'retryable' });
    await this.hooks.afterUpload?.(parts);
    return {
      version: 1, index, mappings: info.mappings, settings: { number_of_shards: info.settings?.index?.number_of_shards },
      docCount: docs, uncompressedBytes: uncompressed, parts, createdAt: new Date().toISOString(),
    };
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
