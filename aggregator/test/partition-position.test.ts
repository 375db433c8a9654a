import type { KafkaMessage } from 'kafkajs';
import { freshMessages, pastSkipped } from '../src/partition-position';

const batch = (offsets: number[], firstOffset = offsets[0]) => ({
  messages: offsets.map((o) => ({ offset: String(o) }) as KafkaMessage),
  firstOffset: String(firstOffset),
});

describe('a source partition read from a transactional topic (offsets with no message: markers, aborted records)', () => {
  it('takes a batch that starts on a transaction marker at its position, not mistaking the gap for skipped input', () => {
    const seeks: string[] = [];
    // Records 0-4 handled; 5 is the commit marker, the next transaction's records start at 6.
    const msgs = freshMessages(batch([6, 7, 8], 5), 5n, (o) => seeks.push(o));
    expect(msgs?.map((m) => m.offset)).toEqual(['6', '7', '8']);
    expect(seeks).toEqual([]);
  });

  it('still seeks back when the consumer is ahead of the state (input really skipped)', () => {
    const seeks: string[] = [];
    expect(freshMessages(batch([9, 10], 9), 5n, (o) => seeks.push(o))).toBeUndefined();
    expect(seeks).toEqual(['5']);
  });

  it('moves past a run of markers and aborted records that starts at its position, and only then', () => {
    expect(pastSkipped({ skipped: { from: 5n, to: 40n } }, 5n)).toBe(40n);
    expect(pastSkipped({ skipped: { from: 5n, to: 40n } }, 3n)).toBe(3n); // records 3-4 not handled yet
    expect(pastSkipped({ skipped: { from: 5n, to: 40n } }, 41n)).toBe(41n);
    expect(pastSkipped({ skipped: undefined }, 7n)).toBe(7n);
  });
});
