import { dependencyLinks } from '../src/ui-queries';

const s = (traceId: string, spanId: string, parentSpanId: string | undefined, service: string, code = 'OK') => ({
  traceId,
  spanId,
  parentSpanId,
  service,
  status: { code },
});

describe('dependencyLinks', () => {
  it('counts one call per span whose parent is in another service, with its errors; same-service and missing parents are not calls', () => {
    const links = dependencyLinks([
      s('t1', 'a', undefined, 'frontend'),
      s('t1', 'b', 'a', 'checkout'),
      s('t1', 'c', 'b', 'payments', 'ERROR'),
      s('t1', 'd', 'b', 'checkout'),
      s('t1', 'e', 'gone', 'payments'),
      // Span ids are only unique within a trace: t2's "b" must not find t1's parent "a".
      s('t2', 'a', undefined, 'frontend'),
      s('t2', 'b', 'a', 'checkout'),
      s('t2', 'x', 'a', 'payments'),
    ]);
    expect(links).toEqual([
      { parent: 'checkout', child: 'payments', callCount: 1, errorCount: 1 },
      { parent: 'frontend', child: 'checkout', callCount: 2, errorCount: 0 },
      { parent: 'frontend', child: 'payments', callCount: 1, errorCount: 0 },
    ]);
  });
});
