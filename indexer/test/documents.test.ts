import type { KafkaMessage } from 'kafkajs';
import { SpanBatchCodec } from '../../shared/src';
import { documentsOf, spanKeyFastBytes } from '../src/documents';
import { classifyItem } from '../src/bulk-indexer';
import { orderTrace } from '../src/trace-tree';
import { makeSpans } from './helpers';

const msg = (value: Buffer, key?: string) =>
  ({ value, key: key ? Buffer.from(key) : null, headers: {}, offset: '0', timestamp: '0', attributes: 0 }) as unknown as KafkaMessage;

describe('documents', () => {
  it('gives spans deterministic ids and daily indices, fast path equal to a full parse', () => {
    const spans = makeSpans(2, 3);
    const docs = documentsOf('spans', msg(SpanBatchCodec.encode(spans)), 'mplp', 'o', 1e7);
    expect(docs.map((d) => d.id)).toEqual(spans.map((s) => s.traceId + s.spanId));
    expect(docs[0].index).toBe(`mplp-traces-${spans[0].startTime.slice(0, 10).replace(/-/g, '.')}`);
    // The documents' sources are the record's bytes, line for line.
    expect(docs.map((d) => d.source.toString())).toEqual(spans.map((s) => JSON.stringify(s)));
    const line = Buffer.from(JSON.stringify(spans[0]));
    expect(spanKeyFastBytes(line)).toEqual({ id: spans[0].traceId + spans[0].spanId, day: spans[0].startTime.slice(0, 10) });
    expect(spanKeyFastBytes(Buffer.from(JSON.stringify({ spanId: 'x', traceId: 'y' })))).toBeUndefined();
  });

  it('takes the fast key path only when it must agree with a full parse', () => {
    const [s] = makeSpans(1, 1);
    const fast = (o: object) => spanKeyFastBytes(Buffer.from(JSON.stringify(o)));
    // A nested object before startTime could hold a "startTime" key of its own: full parse.
    const { traceId, spanId } = s;
    const rest: Record<string, unknown> = { ...s };
    for (const k of ['traceId', 'spanId', 'name', 'resource']) delete rest[k];
    expect(fast({ traceId, spanId, resource: { startTime: '1999-01-01T00:00:00Z' }, ...rest })).toBeUndefined();
    expect(fast({ traceId, spanId, name: 'x"startTime":"1999-01-01', ...rest })).toEqual({
      id: traceId + spanId,
      day: s.startTime.slice(0, 10),
    });
    expect(fast({ ...s, traceId: traceId.toUpperCase() })).toBeUndefined();
    expect(fast({ ...s, startTime: 'yesterday' })).toBeUndefined();
    // Whatever path a line takes, the id and the index are those of the parsed span.
    const odd = [
      { spanId, traceId, ...rest },
      { traceId, spanId, resource: { startTime: '1999-01-01T00:00:00Z' }, ...rest },
    ];
    const docs = documentsOf(
      'spans',
      msg(SpanBatchCodec.encodeLines(Buffer.from(odd.map((o) => JSON.stringify(o)).join('\n') + '\n\n'))),
      'mplp',
      'o',
      1e7,
    );
    expect(docs.map((d) => [d.id, d.index])).toEqual(
      odd.map(() => [traceId + spanId, `mplp-traces-${s.startTime.slice(0, 10).replace(/-/g, '.')}`]),
    );
  });

  it('ids metrics by series key and window end', () => {
    const rec = { seriesKey: 'cart|GetCart|SERVER', windowEnd: '2024-05-01T12:00:05.000Z', count: 3 };
    const [d] = documentsOf('metrics', msg(Buffer.from(JSON.stringify(rec))), 'mplp', 'o', 1e7);
    expect(d).toMatchObject({ index: 'mplp-metrics-2024.05.01', id: 'cart|GetCart|SERVER:2024-05-01T12:00:05.000Z' });
  });

  it('refuses records it cannot read with a code', () => {
    expect(() => documentsOf('spans', msg(Buffer.from('nope')), 'mplp', 'o', 1e7)).toThrow(expect.objectContaining({ code: 'decode' }));
    expect(() => documentsOf('metrics', msg(Buffer.from('{"count":1}')), 'mplp', 'o', 1e7)).toThrow(/windowEnd/);
  });
});

describe('item classification (Jaeger sync_bulk rules)', () => {
  it('classifies items: done, conflict done, retry, poison', () => {
    expect([201, 200, 409, 429, 503, 500, 408, 400, 404].map((s) => classifyItem(s))).toEqual([
      'done',
      'done',
      'done',
      'retry',
      'retry',
      'retry',
      'retry',
      'poison',
      'poison',
    ]);
    // A write block (the archiver exporting the index) is waited out, never dead-lettered.
    expect(classifyItem(403, 'cluster_block_exception')).toBe('retry');
    expect(classifyItem(403, 'security_exception')).toBe('poison');
  });
});

describe('trace tree', () => {
  it('orders depth-first by start time and marks spans whose parent is missing', () => {
    const spans = makeSpans(1, 4);
    const shuffled = [spans[3], spans[0], spans[2]];
    const ordered = orderTrace(shuffled);
    expect(ordered.map((o) => o.span.spanId)).toEqual([spans[0].spanId, spans[2].spanId, spans[3].spanId]);
    expect(ordered.map((o) => o.missingParent)).toEqual([false, true, false]);
    expect(ordered.map((o) => o.depth)).toEqual([0, 0, 1]);
  });
});
