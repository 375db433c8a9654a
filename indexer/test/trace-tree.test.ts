import { jaegerTraceJson, toJaegerTrace } from '../src/trace-tree';
import { parseJaegerDuration, TraceCache } from '../src/query-api';
import { makeSpans } from './helpers';

describe('Jaeger response shaping', () => {
  it('gives Jaeger JSON: µs times, CHILD_OF references, tags, logs, processes, gaps as warnings', () => {
    const [root, child, grandchild] = makeSpans(1, 3);
    root.startTime = '2024-05-01T12:00:00.123456789Z';
    child.status = { code: 'ERROR', message: 'boom' };
    child.events = [{ time: '2024-05-01T12:00:00.200000000Z', name: 'retry', attributes: { attempt: 2 } }];
    child.links = [{ traceId: 'ab'.repeat(16), spanId: 'cd'.repeat(8), attributes: {} }];
    const t = toJaegerTrace(root.traceId, [grandchild, root]); // child missing: a gap
    expect(t.traceID).toBe(root.traceId);
    expect(t.spans.map((s) => s.spanID)).toEqual([root.spanId, grandchild.spanId]);
    const [r, g] = t.spans;
    expect(r.startTime).toBe(Date.parse('2024-05-01T12:00:00.123Z') * 1000 + 456);
    expect(r.duration).toBe(1); // 1,000 ns
    expect(r.references).toEqual([]);
    expect(r.warnings).toBeNull();
    expect(r.tags).toEqual(
      expect.arrayContaining([
        { key: 'span.kind', type: 'string', value: 'server' },
        { key: 'n', type: 'int64', value: 0 },
      ]),
    );
    expect(g.references).toEqual([{ refType: 'CHILD_OF', traceID: root.traceId, spanID: child.spanId }]);
    expect(g.warnings).toEqual([`parent span ${child.spanId} is missing from this trace`]);
    expect(t.processes[r.processID].serviceName).toBe(root.service);
    expect(t.processes[g.processID].serviceName).toBe(grandchild.service);

    const full = toJaegerTrace(root.traceId, [child, root, grandchild]);
    const c = full.spans[1];
    expect(c.tags).toEqual(
      expect.arrayContaining([
        { key: 'error', type: 'bool', value: true },
        { key: 'otel.status_description', type: 'string', value: 'boom' },
      ]),
    );
    expect(c.logs).toEqual([
      {
        timestamp: Date.parse('2024-05-01T12:00:00.200Z') * 1000,
        fields: [
          { key: 'event', type: 'string', value: 'retry' },
          { key: 'attempt', type: 'int64', value: 2 },
        ],
      },
    ]);
    expect(c.references[1]).toEqual({ refType: 'FOLLOWS_FROM', traceID: 'ab'.repeat(16), spanID: 'cd'.repeat(8) });
    expect(full.spans.every((s) => s.warnings === null)).toBe(true);
    expect(JSON.parse(jaegerTraceJson(root.traceId, [child, root, grandchild]).toString())).toEqual(full);
    const big = makeSpans(1, 3000);
    expect(JSON.parse(jaegerTraceJson(big[0].traceId, big, ['cut']).toString())).toEqual(toJaegerTrace(big[0].traceId, big, ['cut']));
  });
});

describe('trace order', () => {
  it('orders a chain of 50,000 spans (each the child of the one before) without overflowing the stack', () => {
    const chain = makeSpans(1, 50_000);
    const t = toJaegerTrace(chain[0].traceId, [...chain].reverse());
    expect(t.spans.map((s) => s.spanID)).toEqual(chain.map((s) => s.spanId));
  });
});

describe('query API helpers', () => {
  it('parses Jaeger durations to nanoseconds', () => {
    expect(['1.5ms', '200us', '2s', '1m', '10ns'].map((d) => parseJaegerDuration(d))).toEqual([1_500_000, 200_000, 2e9, 60e9, 10]);
    expect(() => parseJaegerDuration('fast')).toThrow(/must be a duration/);
  });

  it('caches recently read traces within a byte bound, evicting the least recently used and expiring after the TTL', () => {
    let now = 0;
    const entry = (n: number) => Buffer.alloc(n, 'x');
    const cache = new TraceCache(2 * (1000 + 1 + 96), 1000, () => now); // room for two 1,000-byte traces
    const a = entry(1000);
    cache.set('a', a);
    cache.set('b', entry(1000));
    expect(cache.get('a')).toBe(a); // a is now the most recent
    cache.set('c', entry(1000));
    expect(cache.get('b')).toBeUndefined();
    expect(cache.get('a')).toBe(a);
    expect(cache.bytes).toBeLessThanOrEqual(2 * 1097);
    cache.set('d', entry(1500)); // needs the room of both others
    expect(cache.get('a')).toBeUndefined();
    expect(cache.get('c')).toBeUndefined();
    expect(cache.get('d')).toBeDefined();
    cache.set('huge', entry(5000)); // larger than the whole cache: not kept, nothing evicted for it
    expect(cache.get('huge')).toBeUndefined();
    expect(cache.get('d')).toBeDefined();
    now = 1001;
    expect(cache.get('d')).toBeUndefined();
    expect(cache.bytes).toBe(0);
  });
});
