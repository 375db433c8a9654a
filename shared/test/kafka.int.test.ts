import { TestContext, waitFor } from '../testing';
import { ensureTopics, SpanBatchCodec, HEADER_FORMAT, FORMAT_NDJSON_V1, NormalizedSpan } from '../src';

describe('Kafka through the project client factory (real broker)', () => {
  const ctx = new TestContext();
  afterAll(() => ctx.cleanup());

  it('creates topics idempotently with the requested partitions', async () => {
    const [topic] = await ctx.topics(['idem'], 6);
    const admin = await ctx.admin();
    expect(await ensureTopics(admin, [{ topic, numPartitions: 6, replicationFactor: 1 }])).toEqual([]);
    const meta = await admin.fetchTopicMetadata({ topics: [topic] });
    expect(meta.topics[0].partitions).toHaveLength(6);
  });

  it('produces and consumes an lz4 span batch keyed by trace id, same trace same partition', async () => {
    const [topic] = await ctx.topics(['batches'], 6);
    const producer = await ctx.producer();
    const spans: NormalizedSpan[] = Array.from({ length: 20 }, (_, i) => ({
      traceId: `${(i % 4).toString(16).padStart(32, 'a')}`,
      spanId: (i + 1).toString(16).padStart(16, '0'),
      name: 'op',
      kind: 'INTERNAL',
      service: 'svc',
      startTime: '2024-01-01T00:00:00.000000001Z',
      endTime: '2024-01-01T00:00:00.000000002Z',
      durationNanos: 1,
      status: { code: 'UNSET' },
      attributes: {},
      resource: {},
      scope: { name: 's' },
      events: [],
      links: [],
    }));
    const byTrace = new Map<string, NormalizedSpan[]>();
    for (const s of spans) byTrace.set(s.traceId, [...(byTrace.get(s.traceId) ?? []), s]);
    await producer.send({
      topic,
      acks: -1,
      messages: [...byTrace].map(([traceId, group]) => ({
        key: traceId,
        value: SpanBatchCodec.encode(group),
        headers: { [HEADER_FORMAT]: FORMAT_NDJSON_V1, 'mplp-spans': String(group.length) },
      })),
    });
    const { messages } = await ctx.collect(topic);
    await waitFor('4 batches', () => messages.length >= 4);
    const decoded = messages.flatMap((m) => SpanBatchCodec.decode(m.value!, m.headers![HEADER_FORMAT]!.toString()));
    expect(decoded.map((s) => s.spanId).sort()).toEqual(spans.map((s) => s.spanId).sort());
    for (const m of messages) {
      const ids = new Set(SpanBatchCodec.decode(m.value!).map((s) => s.traceId));
      expect([...ids]).toEqual([m.key!.toString()]);
    }
  });
});
