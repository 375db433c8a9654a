import { TestContext, waitFor } from '../testing';
import { dailyIndex, ensureIndexTemplates, loadConfig, NormalizedSpan, sharedSchema, spanDocId } from '../src';

describe('Elasticsearch through the project client factory (real server)', () => {
  const ctx = new TestContext();
  afterAll(() => ctx.cleanup());

  it('installs the templates idempotently; indexed spans get the contract mapping and are searchable', async () => {
    const es = ctx.es();
    const prefix = ctx.indexPrefix();
    await ensureIndexTemplates(es, prefix);
    await ensureIndexTemplates(es, prefix);
    const span: NormalizedSpan = {
      traceId: '4bf92f3577b34da6a3ce929d0e0e4736',
      spanId: '00f067aa0ba902b7',
      name: 'GET /items',
      kind: 'SERVER',
      service: 'shop',
      startTime: '2024-03-04T05:06:07.123456789Z',
      endTime: '2024-03-04T05:06:07.223456789Z',
      durationNanos: 100_000_000,
      status: { code: 'ERROR', message: 'boom' },
      attributes: { 'http.method': 'GET', 'x.custom.key': 'v' },
      resource: { 'service.name': 'shop' },
      scope: { name: 'lib' },
      events: [],
      links: [],
    };
    const index = dailyIndex(prefix, 'traces', span.startTime);
    const res = await es.bulk({ refresh: 'wait_for', operations: [{ index: { _index: index, _id: spanDocId(span) } }, span] });
    expect(res.errors).toBe(false);
    const found = await waitFor('span searchable', async () => {
      const r = await es.search({
        index,
        query: { bool: { filter: [{ term: { service: 'shop' } }, { term: { 'attributes.http.method': 'GET' } }] } },
      });
      return r.hits.hits.length === 1 ? r.hits.hits[0] : undefined;
    });
    expect(found._id).toBe(spanDocId(span));
    const mapping = (await es.indices.getMapping({ index }))[index].mappings.properties as Record<
      string,
      { type?: string; properties?: Record<string, { type: string }> }
    >;
    expect(mapping.startTime.type).toBe('date_nanos');
    expect(mapping.durationNanos.type).toBe('long');
    expect(mapping.attributes.type).toBe('flattened');
    expect(mapping.traceId.type).toBe('keyword');
    expect(mapping.status.properties!.code.type).toBe('keyword');
    // What no query reads is kept whole in _source and not indexed (indexing it doubled the cost per span).
    expect(mapping.resource).toEqual({ type: 'object', enabled: false });
    expect(found._source).toEqual(span);
    const byResource = await es.search({ index, query: { term: { 'resource.service.name': 'shop' } } });
    expect(byResource.hits.hits).toHaveLength(0);
    const nanos = await es.search({
      index,
      docvalue_fields: [{ field: 'startTime', format: 'strict_date_optional_time_nanos' }] as never,
      query: { match_all: {} },
    });
    expect((nanos.hits.hits[0].fields as Record<string, string[]>).startTime[0]).toBe('2024-03-04T05:06:07.123456789Z');
  });

  it('creates daily indices with the shards and replicas of MPLP_INDEX_SHARDS / MPLP_INDEX_REPLICAS', async () => {
    const es = ctx.es();
    const prefix = ctx.indexPrefix();
    const cfg = loadConfig(sharedSchema, { MPLP_INDEX_SHARDS: '2', MPLP_INDEX_REPLICAS: '1' });
    await ensureIndexTemplates(es, prefix, { shards: cfg.indexShards, replicas: cfg.indexReplicas });
    const index = dailyIndex(prefix, 'traces', Date.now());
    await es.indices.create({ index });
    const settings = (await es.indices.getSettings({ index }))[index].settings!.index!;
    expect({ shards: settings.number_of_shards, replicas: settings.number_of_replicas }).toEqual({ shards: '2', replicas: '1' });
  });
});
