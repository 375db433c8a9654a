import type { KafkaMessage } from 'kafkajs';
import type { AssignedPartition, BatchContext } from '../../shared/src';

/**
 * The messages at or after `nextOffset` (the state's position), or undefined when there is
 * nothing to do. If the consumer is ahead of the state (a commit by the previous owner landed
 * after this member read the committed position), `seek` is called with nextOffset so the state
 * is rebuilt from its first message, and undefined is returned. A transactional topic has offsets
 * without a message (markers, aborted records): the batch's first offset counts them, so a gap
 * kafkajs read past is not mistaken for skipped input.
 */
export function freshMessages(
  batch: Pick<BatchContext<unknown>, 'messages' | 'firstOffset'>,
  nextOffset: bigint,
  seek: (offset: string) => void,
): KafkaMessage[] | undefined {
  const msgs = batch.messages.filter((m) => BigInt(m.offset) >= nextOffset);
  if (msgs.length === 0) return undefined;
  if (BigInt(msgs[0].offset) > nextOffset && BigInt(batch.firstOffset) > nextOffset) {
    seek(nextOffset.toString());
    return undefined;
  }
  return msgs;
}

/**
 * The position after a run of records kafkajs read past with nothing for the handler (markers,
 * aborted records) when it starts at or before `nextOffset`; else nextOffset.
 */
export function pastSkipped(partition: Pick<AssignedPartition<unknown>, 'skipped'>, nextOffset: bigint): bigint {
  const s = partition.skipped;
  return s && s.from <= nextOffset && s.to > nextOffset ? s.to : nextOffset;
}
