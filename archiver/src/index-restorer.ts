import type { Client } from '@elastic/elasticsearch';
import { classifyElasticsearchError, delay, backoffDelay, Logger, MplpError, SpanBatchCodec } from '../../shared/src';
import { ArchiveStore, sha256 } from './archive-store';
import { indexFingerprint } from './index-archiver';
import { Manifest, RESTORED_MARK, RestoredMark } from './layout';

const es_ = async <T>(what: string, fn: () => Promise<T>): Promise<T> => {
  try {
    return await fn();
  } catch (err) {
    throw classifyElasticsearchError(err, what);
  }
};

export interface RestoreResult {
  /** Distinct documents (by _id) in the index. */
  docs: number;
  generations: number[];
  /** The archiver leaves the index alone until then (the restore mark); absent when unmarked. */
  heldUntil?: string;
  /** The index was already there with the archived count: nothing was done. */
  alreadyPresent?: boolean;
}

/**
 * Recreates an archived index from S3: the union of all its generations, each document once
 * (by _id; a later generation wins), with the mappings of the newest generation. The index is
 * marked restored in its mapping `_meta`, so the archiver leaves it alone until the hold ends or
 * an operator unmarks it, and then deletes it without a new export if nobody wrote to it.
 */
export class IndexRestorer {
  constructor(
    private readonly es: Client,
    private readonly store: ArchiveStore,
    private readonly logger: Logger,
    private readonly holdMs: number,
    private readonly replicas = 0,
  ) {}

  async restore(index: string, opts: { force?: boolean; progress?: (docs: number, total: number) => void } = {}): Promise<RestoreResult> {
    const manifests = await this.store.manifests(index);
    if (!manifests.length) throw new MplpError('not_archived', `${index} is not archived (no manifest.json)`);
    const generations = manifests.map((m) => m.generation ?? 0);
    const expected = await this.distinctDocs(manifests);
    const exists = await es_(`check ${index}`, () => this.es.indices.exists({ index }));
    if (exists) {
      if (!opts.force) {
        await es_(`refresh ${index}`, () => this.es.indices.refresh({ index }));
        const have = (await es_(`count ${index}`, () => this.es.count({ index }))).count;
        // Restoring twice is a no-op; anything else in the way is someone's data, kept unless --force.
        if (have === expected) {
          this.logger.info({ index, docs: have }, 'index already present with the archived count, nothing to restore');
          return { docs: have, generations, heldUntil: (await this.mark(index))?.until, alreadyPresent: true };
        }
        throw new MplpError('exists', `${index} exists with ${have} documents, the archive holds ${expected}; pass --force to replace it`);
      }
      await es_(`delete ${index}`, () => this.es.indices.delete({ index }));
    }
    const newest = manifests[manifests.length - 1];
    const shards = Math.max(...manifests.map((m) => Number(m.settings.number_of_shards ?? 1)));
    // Marked from its creation, held at least a day while it loads, so an archiver run during the
    // restore leaves the partial index alone (one killed part-way is archived after that day).
    const at = new Date().toISOString();
    const loading: RestoredMark = { at, until: new Date(Date.now() + Math.max(this.holdMs, 86400e3)).toISOString(), generations };
    const mappings = {
      ...(newest.mappings as Record<string, unknown>),
      _meta: { ...((newest.mappings as { _meta?: object })._meta ?? {}), [RESTORED_MARK]: loading },
    };
    try {
      // Loaded without replicas (one copy to write), given the configured replicas once loaded.
      await this.es.indices.create({
        index,
        mappings: mappings as never,
        settings: { number_of_shards: shards, number_of_replicas: 0, refresh_interval: '-1' },
      });
    } catch (err) {
      throw classifyElasticsearchError(err, `create ${index}`);
    }
    // A restore that fails part-way removes the index it created, so a rerun starts clean
    // instead of finding a partial index in its way (a kill -9 leaves one; rerun with --force).
    let mark: RestoredMark;
    try {
      await this.load(index, manifests, expected, opts.progress);
      // The hold counts from the end of the load. maxSeqNos is what the index holds now: the
      // archiver compares it to decide that nobody wrote to it since.
      mark = {
        at,
        until: new Date(Date.now() + this.holdMs).toISOString(),
        generations,
        maxSeqNos: (await indexFingerprint(this.es, index)).maxSeqNos,
      };
      await this.putMark(index, mark);
    } catch (err) {
      await this.es.indices.delete({ index }).catch(() => undefined);
      this.logger.error({ err, index }, 'restore failed, partial index removed');
      throw err;
    }
    this.logger.info({ index, docs: expected, generations, heldUntil: mark.until }, 'index restored');
    return { docs: expected, generations, heldUntil: mark.until };
  }

  /** Ends the hold now: the next archiver run may archive the index again. */
  async unmark(index: string): Promise<RestoredMark> {
    const mark = await this.mark(index);
    if (!mark) throw new MplpError('not_marked', `${index} carries no restore mark`);
    const ended = { ...mark, until: new Date().toISOString() };
    await this.putMark(index, ended);
    return ended;
  }

  private async mark(index: string): Promise<RestoredMark | undefined> {
    return (await this.meta(index))[RESTORED_MARK] as RestoredMark | undefined;
  }

  private async meta(index: string): Promise<Record<string, unknown>> {
    const r = await es_(`mapping of ${index}`, () => this.es.indices.getMapping({ index }));
    return (r[index]?.mappings?._meta ?? {}) as Record<string, unknown>;
  }

  /** `_meta` is replaced as a whole by a mapping update, so the other keys are written back with it. */
  private async putMark(index: string, mark: RestoredMark): Promise<void> {
    const meta = { ...(await this.meta(index)), [RESTORED_MARK]: mark };
    await es_(`mark ${index}`, () => this.es.indices.putMapping({ index, _meta: meta }));
  }

  /**
   * Documents in the union of the generations. One generation: its count. Several: the ids of
   * all but the largest are held in memory (late generations are small) and the largest is
   * streamed against them, so memory stays the size of the small generations.
   */
  private async distinctDocs(manifests: Manifest[]): Promise<number> {
    if (manifests.length === 1) return manifests[0].docCount;
    const largest = manifests.reduce((a, b) => (b.docCount > a.docCount ? b : a));
    const ids = new Set<string>();
    for (const m of manifests) if (m !== largest) for (const p of m.parts) for (const d of await this.documents(p)) ids.add(d._id);
    let shared = 0;
    for (const p of largest.parts) for (const d of await this.documents(p)) if (ids.has(d._id)) shared++;
    return ids.size + largest.docCount - shared;
  }

  /** One part's documents, after checking its sha256. */
  private async documents(p: Manifest['parts'][number]): Promise<{ _id: string; _source: unknown }[]> {
    const body = await this.store.get(p.key);
    if (sha256(body) !== p.sha256) throw new MplpError('checksum', `${p.key} fails its sha256; restore stopped`);
    return SpanBatchCodec.lines(SpanBatchCodec.decompress(body, 1 << 30)).map(
      (line) => JSON.parse(line) as { _id: string; _source: unknown },
    );
  }

  /** Bulk-indexes every generation in order (a later one overwrites an id), then checks the count. */
  private async load(
    index: string,
    manifests: Manifest[],
    expected: number,
    progress?: (docs: number, total: number) => void,
  ): Promise<void> {
    const total = manifests.reduce((n, m) => n + m.docCount, 0);
    let done = 0;
    for (const p of manifests.flatMap((m) => m.parts)) {
      const docs = await this.documents(p);
      for (let i = 0; i < docs.length; i += 2000) {
        const ops: string[] = [];
        for (const d of docs.slice(i, i + 2000))
          ops.push(JSON.stringify({ index: { _index: index, _id: d._id } }), JSON.stringify(d._source));
        await this.bulk(ops);
        done += ops.length / 2;
        progress?.(done, total);
      }
    }
    await es_(`settings of ${index}`, () =>
      // null: back to the default, as the templates leave it (search-idle shards skip refreshes)
      this.es.indices.putSettings({ index, settings: { refresh_interval: null, number_of_replicas: this.replicas } as never }),
    );
    await es_(`refresh ${index}`, () => this.es.indices.refresh({ index }));
    const count = (await es_(`count ${index}`, () => this.es.count({ index }))).count;
    if (count !== expected)
      throw new MplpError('count_mismatch', `restored ${count} documents into ${index}, the archive holds ${expected}`);
  }

  private async bulk(ops: string[]): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      try {
        const r = await this.es.bulk({ operations: ops as never });
        if (!r.errors) return;
        const bad = r.items.find((it) => (it.index?.status ?? 200) >= 300 && it.index?.status !== 429);
        if (bad) throw new MplpError('restore_rejected', `Elasticsearch refused a document: ${JSON.stringify(bad.index?.error)}`);
      } catch (err) {
        const e = err instanceof MplpError ? err : classifyElasticsearchError(err, 'restore bulk');
        if (!e.retryable || attempt >= 10) throw e;
      }
      await delay(backoffDelay(attempt, 200, 5000));
    }
  }
}
