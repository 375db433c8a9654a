/**
 * npm run bench:archiver — documents/s and MB/s to archive an aged index into S3 (export with
 * a point-in-time, lz4 parts, multipart upload, verification, delete) and to restore it, and
 * the compression ratio. Medians over MPLP_BENCH_ROUNDS (default 3) of MPLP_BENCH_DOCS documents.
 * Ceilings measured in the same run: for archive, the bare point-in-time scan of the index (no
 * lz4, no S3); for restore, the same documents bulk-loaded from memory (no S3, no lz4, no checks).
 */
import { randomBytes } from 'node:crypto';
import { createElasticsearch, ensureIndexTemplates, loadConfig, sharedSchema } from '../shared/src';
import { uniqueName } from '../shared/testing';
import { archiveAged, createArchiverParts } from '../archiver/src';
import { fmt, median } from './util';

const N = Number(process.env.MPLP_BENCH_DOCS ?? 100_000);
const ROUNDS = Number(process.env.MPLP_BENCH_ROUNDS ?? 3);
const shared = loadConfig(sharedSchema, process.env);
const es = createElasticsearch(shared, { requestTimeout: 120_000 });

/**
 * Span documents shaped like the indexer's: random 128-bit trace ids (8 spans each) and 64-bit
 * span ids, nanosecond timestamps, varied durations and attributes, _id = traceId + spanId.
 * Random ids matter: they are most of a span's incompressible bytes, so the ratio is honest.
 */
async function seed(index: string): Promise<void> {
  const date = index.slice(-10).replace(/\./g, '-');
  const dayStart = Date.parse(`${date}T00:00:00Z`);
  let traceId = '';
  for (let i = 0; i < N; i += 5000) {
    const ops: unknown[] = [];
    for (let j = i; j < Math.min(N, i + 5000); j++) {
      if (j % 8 === 0) traceId = randomBytes(16).toString('hex');
      const spanId = randomBytes(8).toString('hex');
      const startMs = dayStart + Math.floor(Math.random() * 86_400_000);
      const durationNanos = Math.floor(Math.random() * 2e9);
      const start = new Date(startMs).toISOString().replace('Z', `${String(Math.floor(Math.random() * 1e6)).padStart(6, '0')}Z`);
      const end = new Date(startMs + Math.floor(durationNanos / 1e6)).toISOString();
      const err = Math.random() < 0.05;
      ops.push(
        { index: { _index: index, _id: traceId + spanId } },
        {
          traceId,
          spanId,
          ...(j % 8 ? { parentSpanId: randomBytes(8).toString('hex') } : {}),
          name: `GET /api/v1/items/${j % 50}`,
          kind: j % 8 ? 'CLIENT' : 'SERVER',
          service: `svc-${j % 12}`,
          startTime: start,
          endTime: end,
          durationNanos,
          status: err ? { code: 'ERROR', message: 'upstream timed out' } : { code: 'OK' },
          attributes: {
            'http.method': 'GET',
            'http.status_code': err ? 500 : 200,
            'http.url': `https://shop.example.com/api/v1/items/${Math.floor(Math.random() * 1e6)}`,
            'user.id': `u${Math.floor(Math.random() * 1e5)}`,
          },
          resource: { 'service.name': `svc-${j % 12}`, 'host.name': `host-${j % 5}`, 'service.version': '1.4.2' },
          scope: { name: 'io.opentelemetry.http', version: '1.30.0' },
          events: [],
          links: [],
        },
      );
    }
    const r = await es.bulk({ operations: ops as never });
    if (r.errors) throw new Error('seeding failed');
  }
  await es.indices.refresh({ index });
}

/** The export ceiling: a point-in-time scan with search_after that only counts the hits. */
async function scan(index: string): Promise<number> {
  const t = performance.now();
  const pit = await es.openPointInTime({ index, keep_alive: '2m' });
  let after: unknown[] | undefined;
  let n = 0;
  for (;;) {
    const r = await es.search({
      size: 2000,
      pit: { id: pit.id, keep_alive: '2m' },
      sort: [{ _shard_doc: 'asc' }] as never,
      track_total_hits: false,
      ...(after ? { search_after: after as never } : {}),
    });
    n += r.hits.hits.length;
    if (r.hits.hits.length < 2000) break;
    after = r.hits.hits[r.hits.hits.length - 1].sort as unknown[];
  }
  await es.closePointInTime({ id: pit.id });
  if (n !== N) throw new Error(`scan saw ${n} documents`);
  return N / ((performance.now() - t) / 1000);
}

/** The restore ceiling: the documents bulk-loaded into a fresh index from memory, 2000 per request as restore does. */
async function bulkFromMemory(source: string, target: string): Promise<number> {
  const docs: { _id: string; _source: unknown }[] = [];
  let after: unknown[] | undefined;
  for (;;) {
    const r = await es.search({
      index: source,
      size: 5000,
      sort: [{ _doc: 'asc' }] as never,
      ...(after ? { search_after: after as never } : {}),
    });
    for (const h of r.hits.hits) docs.push({ _id: h._id!, _source: h._source });
    if (r.hits.hits.length < 5000) break;
    after = r.hits.hits[r.hits.hits.length - 1].sort as unknown[];
  }
  const mappings = (await es.indices.getMapping({ index: source }))[source].mappings;
  await es.indices.create({ index: target, mappings, settings: { number_of_shards: 1, number_of_replicas: 0, refresh_interval: '-1' } });
  const t = performance.now();
  for (let i = 0; i < docs.length; i += 2000) {
    const ops: string[] = [];
    for (const d of docs.slice(i, i + 2000)) ops.push(JSON.stringify({ index: { _index: target, _id: d._id } }), JSON.stringify(d._source));
    const r = await es.bulk({ operations: ops as never });
    if (r.errors) throw new Error('ceiling bulk failed');
  }
  await es.indices.putSettings({ index: target, settings: { refresh_interval: null } as never }); // the default back, as the restorer does
  await es.indices.refresh({ index: target });
  return docs.length / ((performance.now() - t) / 1000);
}

async function main(): Promise<void> {
  console.log(`bench:archiver — ${fmt(N)} span documents, ${ROUNDS} rounds`);
  const arch: number[] = [],
    archMB: number[] = [],
    rest: number[] = [],
    restMB: number[] = [],
    ratio: number[] = [],
    scanCeil: number[] = [],
    bulkCeil: number[] = [];
  for (let r = 0; r < ROUNDS; r++) {
    const prefix = uniqueName('bench-arch');
    await ensureIndexTemplates(es, prefix);
    const index = `${prefix}-traces-2020.01.01`;
    await seed(index);
    scanCeil.push(await scan(index));
    const parts = createArchiverParts({ ...process.env, MPLP_INDEX_PREFIX: prefix, MPLP_S3_PREFIX: prefix, MPLP_LOG_LEVEL: 'warn' });
    let t = performance.now();
    const [res] = await archiveAged(parts);
    if (res?.result !== 'archived') throw new Error(`archive failed: ${JSON.stringify(res)}`);
    const archSecs = (performance.now() - t) / 1000;
    const m = (await parts.store.manifest(index))!;
    t = performance.now();
    await parts.restorer.restore(index);
    const restSecs = (performance.now() - t) / 1000;
    bulkCeil.push(await bulkFromMemory(index, `${prefix}-ceiling`));
    const compressed = m.parts.reduce((n, p) => n + p.bytes, 0);
    arch.push(N / archSecs);
    archMB.push(m.uncompressedBytes / 1048576 / archSecs);
    rest.push(N / restSecs);
    restMB.push(m.uncompressedBytes / 1048576 / restSecs);
    ratio.push(m.uncompressedBytes / compressed);
    await es.indices.delete({ index: `${prefix}-*` }).catch(() => undefined);
    await es.indices.deleteIndexTemplate({ name: `${prefix}-*` }).catch(() => undefined);
    await parts.store.deleteKeys((await parts.store.list(`${prefix}/`)).map((o) => o.key));
    await parts.close();
  }
  console.log(`archive: ${fmt(median(arch))} docs/s, ${fmt(median(archMB), 1)} MB/s of NDJSON (export + lz4 + upload + verify + delete)`);
  console.log(
    `  ceiling (bare point-in-time scan): ${fmt(median(scanCeil))} docs/s; archive = ${fmt(median(arch) / median(scanCeil), 2)} of it`,
  );
  console.log(`restore: ${fmt(median(rest))} docs/s, ${fmt(median(restMB), 1)} MB/s of NDJSON (download + sha256 + lz4 + bulk + count)`);
  console.log(
    `  ceiling (bulk from memory, same batches): ${fmt(median(bulkCeil))} docs/s; restore = ${fmt(median(rest) / median(bulkCeil), 2)} of it`,
  );
  console.log(`compression: NDJSON / lz4 parts = ${fmt(median(ratio), 2)}`);
}

main().then(
  () => process.exit(0),
  (err) => {
    console.error(err);
    process.exit(1);
  },
);
