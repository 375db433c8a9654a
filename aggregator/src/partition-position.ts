import type { KafkaMessage } from 'kafkajs';

/**
 * The messages at or after `nextOffset` (the state's position), or undefined when there is
 * nothing to do. If the consumer is ahead of the state (a commit by the previous owner landed
 * after this member read the committed position), `seek` is called with nextOffset so the state
 * is rebuilt from its first message, and undefined is returned.
 */
export function freshMessages(messages: KafkaMessage[], nextOffset: bigint, seek: (offset: string) => void): KafkaMessage[] | undefined {
  const msgs = messages.filter((m) => BigInt(m.offset) >= nextOffset);
  if (msgs.length === 0) return undefined;
  if (BigInt(msgs[0].offset) > nextOffset) {
    seek(nextOffset.toString());
    return undefined;
  }
  return msgs;
}
