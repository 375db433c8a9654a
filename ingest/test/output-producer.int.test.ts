import { randomBytes } from 'node:crypto';
import { createLogger, ensureTopics, MplpError } from '../../shared/src';
import { TestContext, testConfig, uniqueName, waitFor } from '../../shared/testing';
import {
  KafkajsOutputProducer,
  LibrdkafkaOutputProducer,
  librdkafkaConfig,
  loadLibrdkafka,
  OutputProducer,
} from '../../shared/src/output-producer';
import { librdkafkaForTests } from './helpers';

describe('output producers on the real Kafka', () => {
  const ctx = new TestContext();
  const logger = createLogger({ name: 'test', level: 'silent' });
  afterAll(() => ctx.cleanup());

  async function topic(partitions: number, config: { name: string; value: string }[] = []): Promise<string> {
    const name = uniqueName('test.out');
    const admin = await ctx.admin();
    await ensureTopics(admin, [{ topic: name, numPartitions: partitions, replicationFactor: 1, configEntries: config }]);
    ctx.defer(() => admin.deleteTopics({ topics: [name] }).catch(() => undefined));
    return name;
  }

  async function connected(p: OutputProducer): Promise<OutputProducer> {
    await p.connect();
    ctx.defer(() => p.disconnect());
    return p;
  }

  function native(): OutputProducer {
    const rd = loadLibrdkafka().module!;
    return new LibrdkafkaOutputProducer(rd, librdkafkaConfig(testConfig(), rd.features), logger);
  }

  it('librdkafka and kafkajs put every trace id in the same partition (the contract: one trace, one partition)', async () => {
    if (!librdkafkaForTests()) return;
    const [a, b] = [await topic(6), await topic(6)];
    const keys = Array.from({ length: 300 }, () => randomBytes(16).toString('hex'));
    const messages = keys.map((key) => ({ key, value: Buffer.from(key), headers: { 'mplp-format': 'ndjson/1', 'mplp-spans': '1' } }));
    await (await connected(native())).send([{ topic: a, messages }]);
    await (await connected(new KafkajsOutputProducer(ctx.kafka('test-out')))).send([{ topic: b, messages }]);
    const partitionsOf = async (t: string) => {
      const got = new Map<string, number>();
      const consumer = ctx.kafka('test-consumer').consumer({ groupId: uniqueName('test-group') });
      await consumer.connect();
      ctx.defer(() => consumer.disconnect());
      await consumer.subscribe({ topic: t, fromBeginning: true });
      await consumer.run({
        eachMessage: async ({ partition, message }) => {
          got.set(message.key!.toString(), partition);
        },
      });
      await waitFor(`all keys of ${t}`, () => got.size >= keys.length, { timeoutMs: 30_000 });
      return got;
    };
    const [pa, pb] = [await partitionsOf(a), await partitionsOf(b)];
    expect(new Set(pa.values()).size).toBe(6);
    for (const k of keys) expect(pa.get(k)).toBe(pb.get(k));
  });

  it('librdkafka: send resolves once every record is acknowledged, with headers intact', async () => {
    if (!librdkafkaForTests()) return;
    const t = await topic(3);
    const p = await connected(native());
    const messages = Array.from({ length: 500 }, (_, i) => ({
      key: `k${i}`,
      value: Buffer.from(`v${i}`),
      headers: { 'mplp-spans': String(i) },
    }));
    await p.send([{ topic: t, messages }]);
    // Acknowledged with acks=all means readable now: every record is there at once.
    const admin = await ctx.admin();
    const offsets = await admin.fetchTopicOffsets(t);
    expect(offsets.reduce((n, o) => n + Number(o.high), 0)).toBe(500);
    const { messages: got } = await ctx.collect(t);
    await waitFor('500 records', () => got.length >= 500, { timeoutMs: 30_000 });
    const byKey = new Map(got.map((m) => [m.key!.toString(), m]));
    expect(byKey.get('k7')!.value!.toString()).toBe('v7');
    expect(byKey.get('k7')!.headers!['mplp-spans']!.toString()).toBe('7');
  });

  it('librdkafka: a record the broker refuses as too large rejects the send as permanent (no endless retry)', async () => {
    if (!librdkafkaForTests()) return;
    const t = await topic(1, [{ name: 'max.message.bytes', value: '2000' }]);
    const p = await connected(native());
    const err = await p.send([{ topic: t, messages: [{ key: 'x', value: Buffer.alloc(10_000, 1) }] }]).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(MplpError);
    expect((err as MplpError).retryable).toBe(false);
    expect((err as MplpError).message).toMatch(/too large/i);
  });
});
