import type { Client } from '@elastic/elasticsearch';
import { Registry } from 'prom-client';
import { createLogger } from '../../shared/src';
import { BulkIndexer, bulkBody, bulkBytesOf, PoisonDoc } from '../src/bulk-indexer';
import { BulkPipeline, PipelineSettings } from '../src/bulk-pipeline';
import type { IndexDoc } from '../src/documents';
import { IndexerMetrics } from '../src/metrics';

type Item = { status: number; error?: { type: string; reason: string } };
type Answer = ((ids: string[]) => Item[]) | Error;

/** An Elasticsearch client stand-in that answers each bulk from a script (unit test: no cluster). */
function scriptedEs(script: Answer[], latencyMs = 5) {
  const calls: string[][] = [];
  const bodies: string[] = [];
  let inFlight = 0;
  let maxInFlight = 0;
  const es = {
    async bulk({ operations }: { operations: Buffer }) {
      bodies.push(operations.toString());
      const lines = operations.toString().split('\n');
      expect(lines.pop()).toBe(''); // NDJSON ends with a newline
      const ids = lines.filter((_, i) => i % 2 === 0).map((a) => (JSON.parse(a) as { index: { _id: string } }).index._id);
      calls.push(ids);
      inFlight++;
      maxInFlight = Math.max(maxInFlight, inFlight);
      await new Promise((r) => setTimeout(r, latencyMs));
      inFlight--;
      const next = script.shift() ?? ((xs: string[]) => xs.map(() => ({ status: 201 })));
      if (next instanceof Error) throw next;
      const items = next(ids);
      return { errors: items.some((it) => it.status >= 300), items: items.map((it) => ({ index: it })) };
    },
  };
  return { es: es as unknown as Client, calls, bodies, maxInFlight: () => maxInFlight };
}

const logger = createLogger({ name: 't', level: 'silent' });
const docs = (n: number, from = 0, source = (i: number) => `{"n":${i}}`): IndexDoc[] =>
  Array.from({ length: n }, (_, k) => ({ index: 'idx', id: `d${from + k}`, source: source(from + k), origin: `t/0/${from + k}` }));
const indexer = (es: Client) => {
  const metrics = new IndexerMetrics(new Registry());
  return { bulk: new BulkIndexer(es, { retryBaseMs: 1, retryMaxMs: 5 }, metrics, logger), metrics };
};
const value = async (m: IndexerMetrics, name: 'indexed' | 'retries') => (await m[name].get()).values.reduce((n, v) => n + v.value, 0);
const never = new AbortController().signal;

describe('BulkIndexer.writeBulk (Jaeger sync_bulk rules, against a scripted client)', () => {
  it('sends the NDJSON body: action line with index and id, then the source line', () => {
    expect(
      bulkBody([
        { index: 'i-1', id: 'a"b', source: '{"x":1}', origin: 'o' },
        { index: 'i-1', id: 'é', source: Buffer.from('{"é":2}'), origin: 'o' },
      ]).toString(),
    ).toBe('{"index":{"_index":"i-1","_id":"a\\"b"}}\n{"x":1}\n{"index":{"_index":"i-1","_id":"é"}}\n{"é":2}\n');
    expect(bulkBytesOf({ index: 'i', id: 'é', source: '{"é":1}', origin: 'o' })).toBe(
      Buffer.byteLength(bulkBody([{ index: 'i', id: 'é', source: '{"é":1}', origin: 'o' }])),
    );
  });

  it('retries 429 and 5xx items, counts 409 as done, dead-letters mapping errors', async () => {
    const { es, calls } = scriptedEs([
      (ids) =>
        ids.map(
          (_, i) =>
            [
              { status: 201 },
              { status: 409 },
              { status: 429 },
              { status: 503 },
              { status: 400, error: { type: 'document_parsing_exception', reason: 'failed to parse field [durationNanos]' } },
            ][i],
        ),
    ]);
    const { bulk, metrics } = indexer(es);
    const { durable, poison } = await bulk.writeBulk(docs(5), never);
    expect(poison.map((p) => [p.doc.id, p.type])).toEqual([['d4', 'document_parsing_exception']]);
    expect(poison[0].reason).toContain('durationNanos');
    expect(calls).toEqual([
      ['d0', 'd1', 'd2', 'd3', 'd4'],
      ['d2', 'd3'],
    ]);
    expect(durable.map((d) => d.id).sort()).toEqual(['d0', 'd1', 'd2', 'd3']);
    expect(await value(metrics, 'indexed')).toBe(4);
    expect(await value(metrics, 'retries')).toBe(1);
  });

  it('retries a failed request (connection refused, lost answer) whole until it succeeds', async () => {
    const refused = Object.assign(new Error('connect ECONNREFUSED'), { name: 'ConnectionError' });
    const lost = Object.assign(new Error('Service Unavailable'), { name: 'ResponseError', meta: { statusCode: 503 } });
    const { es, calls } = scriptedEs([refused, lost, refused]);
    const { bulk, metrics } = indexer(es);
    expect((await bulk.writeBulk(docs(3), never)).durable).toHaveLength(3);
    expect(calls).toHaveLength(4);
    expect(calls.every((c) => c.join() === 'd0,d1,d2')).toBe(true);
    const causes = (await metrics.retries.get()).values.map((v) => [v.labels.cause, v.value]);
    expect(causes).toEqual(
      expect.arrayContaining([
        ['es_unavailable', 2],
        ['es_503', 1],
      ]),
    );
  });

  it('halves a bulk Elasticsearch refuses as too large (413); a single such document is poison', async () => {
    const tooLarge = () => Object.assign(new Error('Request Entity Too Large'), { name: 'ResponseError', meta: { statusCode: 413 } });
    const { es, calls } = scriptedEs([tooLarge(), tooLarge(), (ids) => ids.map(() => ({ status: 201 })), tooLarge()]);
    const { bulk } = indexer(es);
    const { poison } = await bulk.writeBulk(docs(4), never);
    // [d0..d3] 413 → [d0,d1] 413 → [d0] ok, [d1] 413 → poison; [d2,d3] ok.
    expect(calls.map((c) => c.join())).toEqual(['d0,d1,d2,d3', 'd0,d1', 'd0', 'd1', 'd2,d3']);
    expect(poison.map((p) => [p.doc.id, p.type])).toEqual([['d1', 'too_large']]);
  });

  it('stops retrying on shutdown and rejects, so nothing unwritten is settled', async () => {
    const down = Object.assign(new Error('connect ECONNREFUSED'), { name: 'ConnectionError' });
    const { es } = scriptedEs(Array(1000).fill(down));
    const metrics = new IndexerMetrics(new Registry());
    const bulk = new BulkIndexer(es, { retryBaseMs: 20, retryMaxMs: 20 }, metrics, logger);
    const ctrl = new AbortController();
    const p = bulk.writeBulk(docs(3), ctrl.signal);
    setTimeout(() => ctrl.abort(), 100);
    await expect(p).rejects.toMatchObject({ code: 'cancelled' });
  });
});

describe('BulkPipeline', () => {
  const settings = (over: Partial<PipelineSettings> = {}): PipelineSettings => ({
    bulkMaxDocs: 10,
    bulkMaxBytes: 1e6,
    bulkConcurrency: 2,
    flushIntervalMs: 20,
    maxPendingBytes: 1e9,
    ...over,
  });
  function pipeline(es: Client, over: Partial<PipelineSettings> = {}, signal = never) {
    const { bulk } = indexer(es);
    const settled: string[] = [];
    const poison: PoisonDoc[] = [];
    const p = new BulkPipeline(
      bulk,
      settings(over),
      (d, x) => {
        settled.push(...d.map((y) => y.id));
        poison.push(...x);
      },
      signal,
      logger,
    );
    return { p, settled, poison };
  }

  it('cuts bulks by document count and by bytes, never over the byte cap; a larger document is poison', async () => {
    const { es, bodies } = scriptedEs([]);
    // Ids of one width (d100..d199), so every document has the same size.
    const one = bulkBytesOf(docs(1, 100, () => 'x'.repeat(1000))[0]);
    const { p, settled, poison } = pipeline(es, { bulkMaxDocs: 30, bulkMaxBytes: one * 9 + 5 });
    const input = docs(100, 100, () => 'x'.repeat(1000));
    const huge = docs(1, 1000, () => 'y'.repeat(20_000))[0];
    p.add([...input.slice(0, 50), huge, ...input.slice(50)]);
    await p.drain();
    expect(settled.sort()).toEqual(input.map((d) => d.id).sort());
    expect(poison.map((x) => [x.doc.id, x.type])).toEqual([['d1000', 'too_large']]);
    for (const b of bodies) expect(Buffer.byteLength(b)).toBeLessThanOrEqual(one * 9 + 5);
    expect(bodies.map((b) => b.split('\n').length - 1)).toEqual([...Array(11).fill(18), 2]);

    const byCount = scriptedEs([]);
    const q = pipeline(byCount.es, { bulkMaxDocs: 7 });
    q.p.add(docs(100));
    await q.p.drain();
    expect(byCount.calls.map((c) => c.length)).toEqual([...Array(14).fill(7), 2]);
  });

  it('keeps at most bulkConcurrency bulks in flight, across every caller', async () => {
    const { es, calls, maxInFlight } = scriptedEs([]);
    const { p, settled } = pipeline(es, { bulkMaxDocs: 5, bulkConcurrency: 2 });
    p.add(docs(30));
    p.add(docs(30, 30));
    expect(p.bulksInFlight).toBe(2);
    await p.drain();
    expect(calls).toHaveLength(12);
    expect(maxInFlight()).toBe(2);
    expect(settled).toHaveLength(60);
  });

  it('sends a partial bulk at once when idle, and after the flush interval when a slot frees', async () => {
    const { es, calls } = scriptedEs([], 200);
    const { p, settled } = pipeline(es, { bulkMaxDocs: 100, bulkConcurrency: 2, flushIntervalMs: 50 });
    p.add(docs(3)); // nothing in flight: goes now
    expect(calls).toHaveLength(1);
    p.add(docs(2, 3)); // one in flight, a slot free: waits for the flush interval to gather more
    expect(calls).toHaveLength(1);
    p.add(docs(2, 5));
    const t0 = Date.now();
    while (calls.length < 2) await new Promise((r) => setTimeout(r, 5));
    expect(Date.now() - t0).toBeGreaterThanOrEqual(30);
    expect(calls[1]).toEqual(['d3', 'd4', 'd5', 'd6']);
    await p.drain();
    expect(settled).toHaveLength(7);
  });

  it('holds callers while pending bytes are over the bound, and lets them go as bulks settle', async () => {
    const { es } = scriptedEs([], 30);
    const one = bulkBytesOf(docs(1)[0]);
    const { p } = pipeline(es, { bulkMaxDocs: 10, bulkConcurrency: 1, maxPendingBytes: one * 25 });
    p.add(docs(40));
    expect(p.pendingBytes).toBeGreaterThanOrEqual(one * 25);
    let released = false;
    const wait = p.waitForRoom().then(() => {
      released = true;
    });
    await new Promise((r) => setTimeout(r, 10));
    expect(released).toBe(false);
    await wait;
    expect(p.pendingBytes).toBeLessThan(one * 25);
    await p.drain();
    expect(p.pendingBytes).toBe(0);
  });

  it('on shutdown, abandons unwritten bulks without settling them and releases waiters', async () => {
    const down = Object.assign(new Error('connect ECONNREFUSED'), { name: 'ConnectionError' });
    const { es } = scriptedEs(Array(1000).fill(down));
    const ctrl = new AbortController();
    const { p, settled } = pipeline(es, { bulkMaxDocs: 5, bulkConcurrency: 1, maxPendingBytes: 1 }, ctrl.signal);
    p.add(docs(20));
    const waiting = p.waitForRoom();
    setTimeout(() => ctrl.abort(), 50);
    await waiting;
    await p.drain();
    p.close();
    expect(settled).toEqual([]);
  });
});
