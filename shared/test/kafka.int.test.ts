import { TestContext, uniqueName, waitFor } from '../testing';
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

  it('leaves every concurrent caller with the topics visible and led, including the callers that lost the create race', async () => {
    // Copies of a worker starting together on a fresh cluster: one creates a topic, the others get
    // TOPIC_ALREADY_EXISTS, and each then reads the topic's metadata from its own broker connection.
    const admins = await Promise.all(Array.from({ length: 4 }, () => ctx.admin()));
    for (let round = 0; round < 5; round++) {
      const topic = uniqueName('test.race');
      ctx.defer(() => admins[0].deleteTopics({ topics: [topic] }).catch(() => undefined));
      const spec = [{ topic, numPartitions: 12, replicationFactor: 1 }];
      const seen = await Promise.all(
        admins.map(async (admin) => {
          await ensureTopics(admin, spec);
          const meta = await admin.fetchTopicMetadata({ topics: [topic] });
          return meta.topics[0].partitions.filter((p) => p.leader >= 0).length;
        }),
      );
      expect(seen).toEqual([12, 12, 12, 12]);
    }
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
