import { TestContext, uniqueName, waitFor } from '../testing';

/**
 * Exactly once depends on read_committed consumers never seeing an aborted transaction's records,
 * wherever their fetch starts. Ingest's per-partition transactional producers interleave in every
 * validated partition; a fetch that starts inside two aborted transactions is where kafkajs 2.2.4
 * leaked records (scripts/kafkajs).
 */
describe('read_committed consumers (real broker)', () => {
  const ctx = new TestContext();
  afterAll(() => ctx.cleanup());

  /** Two producers' transactions interleaved and aborted (offsets 0-3, markers 4-5), then one committed record (6). */
  async function interleavedAborts(topic: string): Promise<void> {
    const [p1, p2] = await Promise.all(
      ['a', 'b'].map((id) => ctx.producer({ transactionalId: uniqueName(`txn-${id}`), idempotent: true, maxInFlightRequests: 1 })),
    );
    const [t1, t2] = [await p1.transaction(), await p2.transaction()];
    await t1.send({ topic, messages: [{ value: 'aborted-1' }] });
    await t2.send({ topic, messages: [{ value: 'aborted-2' }] });
    await t1.send({ topic, messages: [{ value: 'aborted-3' }] });
    await t2.send({ topic, messages: [{ value: 'aborted-4' }] });
    await t1.abort();
    await t2.abort();
    const t3 = await p1.transaction();
    await t3.send({ topic, messages: [{ value: 'committed' }] });
    await t3.commit();
  }

  /** What a read_committed group whose committed offset is `from` reads. */
  async function readFrom(topic: string, from: number): Promise<string[]> {
    const groupId = uniqueName('rc-group');
    const admin = await ctx.admin();
    await admin.setOffsets({ groupId, topic, partitions: [{ partition: 0, offset: String(from) }] });
    const consumer = ctx.kafka('rc-consumer').consumer({ groupId, readUncommitted: false });
    await consumer.connect();
    ctx.defer(() => consumer.disconnect());
    await consumer.subscribe({ topic });
    const values: string[] = [];
    await consumer.run({ eachMessage: async ({ message }) => void values.push(message.value!.toString()) });
    await waitFor(`the committed record read from offset ${from}`, () => values.includes('committed'));
    await consumer.disconnect();
    return values;
  }

  it('never hands out an aborted record, from any start offset inside interleaved aborted transactions', async () => {
    const [topic] = await ctx.topics(['rc'], 1);
    await interleavedAborts(topic);
    for (const from of [0, 1, 2, 3]) expect({ from, values: await readFrom(topic, from) }).toEqual({ from, values: ['committed'] });
  });
});
