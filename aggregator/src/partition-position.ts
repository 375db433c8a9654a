import type { Admin, Batch, KafkaMessage } from 'kafkajs';

/** Where a partition resumes: its committed offset and metadata, else the low watermark. */
export async function committedPosition(admin: Admin, groupId: string, topic: string, partition: number): Promise<{ offset: bigint; metadata?: string }> {
  const [res] = await admin.fetchOffsets({ groupId, topics: [topic] });
  const c = res.partitions.find((p) => p.partition === partition);
  if (c && Number(c.offset) >= 0) return { offset: BigInt(c.offset), metadata: c.metadata ?? undefined };
  const offs = await admin.fetchTopicOffsets(topic);
  return { offset: BigInt(offs.find((o) => o.partition === partition)?.low ?? '0') };
}

/**
 * The messages of a batch at or after `nextOffset` (the state's position), or undefined when
 * there is nothing to do. If the consumer is ahead of the state (its position survived a
 * rebalance that dropped our state), `seek` is called with nextOffset so the state is rebuilt
 * from its first message, and undefined is returned.
 */
export function freshMessages(batch: Batch, nextOffset: bigint, seek: (offset: string) => void): KafkaMessage[] | undefined {
  const msgs = batch.messages.filter((m) => BigInt(m.offset) >= nextOffset);
  if (msgs.length === 0) return undefined;
  if (BigInt(msgs[0].offset) > nextOffset) { seek(nextOffset.toString()); return undefined; }
  return msgs;
}
