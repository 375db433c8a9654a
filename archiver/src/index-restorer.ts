import type { Client } from '@elastic/elasticsearch';
import { classifyElasticsearchError, delay, backoffDelay, Logger, MplpError, SpanBatchCodec } from '../../shared/src';
import { ArchiveStore, sha256 } from './archive-store';

/** Recreates an archived index from S3 with its mappings and checks the count. */
export class IndexRestorer {
  constructor(private readonly es: Client, private readonly store: ArchiveStore, private readonly logger: Logger) {}

  async restore(index: string, opts: { force?: boolean; progress?: (docs: number, total: number) => void } = {}): Promise<{ docs: number }> {
    const m = await this.store.manifest(index);
    if (!m) throw new MplpError('not_archived', `${index} is not archived (no manifest.json)`);
    const exists = await this.es.indices.exists({ index });
    if (exists) {
      if (!opts.force) throw new MplpError('exists', `${index} exists; pass --force to replace it`);
      await this.es.indices.delete({ index });
    }
    try {
      await this.es.indices.create({ index, mappings: m.mappings as never, settings: { number_of_shards: Number(m.settings.number_of_shards ?? 1), number_of_replicas: 0, refresh_interval: '-1' } });
    } catch (err) { throw classifyElasticsearchError(err, `create ${index}`); }
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
        opts.progress?.(done, m.docCount);
      }
    }
    await this.es.indices.putSettings({ index, settings: { refresh_interval: '1s' } });
    await this.es.indices.refresh({ index });
    const count = (await this.es.count({ index })).count;
    if (count !== m.docCount) throw new MplpError('count_mismatch', `restored ${count} documents into ${index}, manifest says ${m.docCount}`);
    this.logger.info({ index, docs: count }, 'index restored');
    return { docs: count };
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
