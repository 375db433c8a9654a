import type { Client } from '@elastic/elasticsearch';
import { classifyElasticsearchError, delay, backoffDelay, Logger, MplpError, SpanBatchCodec } from '../../shared/src';
import { ArchiveStore, sha256 } from './archive-store';
import type { Manifest } from './layout';

const es_ = async <T>(what: string, fn: () => Promise<T>): Promise<T> => {
  try { return await fn(); } catch (err) { throw classifyElasticsearchError(err, what); }
};

/** Recreates an archived index from S3 with its mappings and checks the count. */
export class IndexRestorer {
  constructor(private readonly es: Client, private readonly store: ArchiveStore, private readonly logger: Logger) {}

  async restore(index: string, opts: { force?: boolean; progress?: (docs: number, total: number) => void } = {}): Promise<{ docs: number }> {
    const m = await this.store.manifest(index);
    if (!m) throw new MplpError('not_archived', `${index} is not archived (no manifest.json)`);
    const exists = await es_(`check ${index}`, () => this.es.indices.exists({ index }));
    if (exists) {
      if (!opts.force) {
        await es_(`refresh ${index}`, () => this.es.indices.refresh({ index }));
        const have = (await es_(`count ${index}`, () => this.es.count({ index }))).count;
        // Restoring twice is a no-op; anything else in the way is someone's data, kept unless --force.
        if (have === m.docCount) {
          this.logger.info({ index, docs: have }, 'index already present with the archived count, nothing to restore');
          return { docs: have };
        }
        throw new MplpError('exists', `${index} exists with ${have} documents, the archive holds ${m.docCount}; pass --force to replace it`);
      }
      await es_(`delete ${index}`, () => this.es.indices.delete({ index }));
    }
    try {
      await this.es.indices.create({ index, mappings: m.mappings as never, settings: { number_of_shards: Number(m.settings.number_of_shards ?? 1), number_of_replicas: 0, refresh_interval: '-1' } });
    } catch (err) { throw classifyElasticsearchError(err, `create ${index}`); }
    // A restore that fails part-way removes the index it created, so a rerun starts clean
    // instead of finding a partial index in its way (a kill -9 leaves one; rerun with --force).
    try {
      await this.load(index, m, opts.progress);
    } catch (err) {
      await this.es.indices.delete({ index }).catch(() => undefined);
      this.logger.error({ err, index }, 'restore failed, partial index removed');
      throw err;
    }
    this.logger.info({ index, docs: m.docCount }, 'index restored');
    return { docs: m.docCount };
  }

  /** Downloads each part (checking its sha256 first), bulk-indexes it, then checks the count. */
  private async load(index: string, m: Manifest, progress?: (docs: number, total: number) => void): Promise<void> {
    let done = 0;
    for (const p of m.parts) {
      const body = await this.store.get(p.key);
      if (sha256(body) !== p.sha256) throw new MplpError('checksum', `${p.key} fails its sha256; restore stopped`);
      const lines = SpanBatchCodec.lines(SpanBatchCodec.decompress(body, 1 << 30));
      for (let i = 0; i < lines.length; i += 2000) {
        const ops: string[] = [];
        for (const line of lines.slice(i, i + 2000)) {
          const d = JSON.parse(line) as { _id: string; _source: unknown };
          ops.push(JSON.stringify({ index: { _index: index, _id: d._id } }), JSON.stringify(d._source));
        }
        await this.bulk(ops);
        done += ops.length / 2;
        progress?.(done, m.docCount);
      }
    }
    await es_(`settings of ${index}`, () => this.es.indices.putSettings({ index, settings: { refresh_interval: '1s' } }));
    await es_(`refresh ${index}`, () => this.es.indices.refresh({ index }));
    const count = (await es_(`count ${index}`, () => this.es.count({ index }))).count;
    if (count !== m.docCount) throw new MplpError('count_mismatch', `restored ${count} documents into ${index}, manifest says ${m.docCount}`);
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
