/**
 * npm run bench:archiver — documents/s and MB/s to archive an aged index into S3 (export with
 * a point-in-time, lz4 parts, multipart upload, verification, delete) and to restore it, and
 * the compression ratio. Medians over MPLP_BENCH_ROUNDS (default 3) of MPLP_BENCH_DOCS documents.
 */
import { createElasticsearch, ensureIndexTemplates, loadConfig, sharedSchema } from '../shared/src';
import { uniqueName } from '../shared/testing';
import { archiveAged, createArchiverParts } from '../archiver/src';
import { fmt, median } from './util';

const N = Number(process.env.MPLP_BENCH_DOCS ?? 100_000);
const ROUNDS = Number(process.env.MPLP_BENCH_ROUNDS ?? 3);
const shared = loadConfig(sharedSchema, process.env);
const es = createElasticsearch(shared, { requestTimeout: 120_000 });

async function seed(index: string): Promise<void> {
  const date = index.slice(-10).replace(/\./g, '-');
  for (let i = 0; i < N; i += 5000) {
    const ops: unknown[] = [];
    for (let j = i; j < Math.min(N, i + 5000); j++) {
      ops.push({ index: { _index: index, _id: `${j}` } }, {
        traceId: (j >> 3).toString(16).padStart(32, '0'), spanId: j.toString(16).padStart(16, '0'), name: `GET /api/v1/items/${j % 50}`, kind: 'SERVER',
        service: `svc-${j % 12}`, startTime: `${date}T10:00:00.${String(j % 1e9).padStart(9, '0')}Z`, endTime: `${date}T10:00:01Z`, durationNanos: 1000 + j,
        status: { code: j % 20 ? 'OK' : 'ERROR' }, attributes: { 'http.method': 'GET', 'http.status_code': j % 20 ? 200 : 500, 'user.id': `u${j % 977}` },
        resource: { 'service.name': `svc-${j % 12}`, 'host.name': `host-${j % 5}` }, scope: { name: 'bench' }, events: [], links: [],
      });
    }
    await es.bulk({ operations: ops as never });
  }
  await es.indices.refresh({ index });
}

async function main(): Promise<void> {
  console.log(`bench:archiver — ${fmt(N)} span documents, ${ROUNDS} rounds`);
  const arch: number[] = [], archMB: number[] = [], rest: number[] = [], restMB: number[] = [], ratio: number[] = [];
  for (let r = 0; r < ROUNDS; r++) {
    const prefix = uniqueName('bench-arch');
    await ensureIndexTemplates(es, prefix);
    const index = `${prefix}-traces-2020.01.01`;
    await seed(index);
    const parts = createArchiverParts({ ...process.env, MPLP_INDEX_PREFIX: prefix, MPLP_S3_PREFIX: prefix, MPLP_LOG_LEVEL: 'warn' });
    let t = performance.now();
    const [res] = await archiveAged(parts);
    if (res?.result !== 'archived') throw new Error(`archive failed: ${JSON.stringify(res)}`);
    const archSecs = (performance.now() - t) / 1000;
    const m = (await parts.store.manifest(index))!;
    t = performance.now();
    await parts.restorer.restore(index);
    const restSecs = (performance.now() - t) / 1000;
    const compressed = m.parts.reduce((n, p) => n + p.bytes, 0);
    arch.push(N / archSecs); archMB.push(m.uncompressedBytes / 1048576 / archSecs);
    rest.push(N / restSecs); restMB.push(m.uncompressedBytes / 1048576 / restSecs);
    ratio.push(m.uncompressedBytes / compressed);
    await es.indices.delete({ index: `${prefix}-*` }).catch(() => undefined);
    await es.indices.deleteIndexTemplate({ name: `${prefix}-*` }).catch(() => undefined);
    await parts.store.deleteKeys((await parts.store.list(`${prefix}/`)).map((o) => o.key));
    await parts.close();
  }
  console.log(`archive: ${fmt(median(arch))} docs/s, ${fmt(median(archMB), 1)} MB/s of NDJSON (export + lz4 + upload + verify + delete)`);
  console.log(`restore: ${fmt(median(rest))} docs/s, ${fmt(median(restMB), 1)} MB/s of NDJSON`);
  console.log(`compression: NDJSON / lz4 parts = ${fmt(median(ratio), 2)}`);
}

main().then(() => process.exit(0), (err) => { console.error(err); process.exit(1); });
