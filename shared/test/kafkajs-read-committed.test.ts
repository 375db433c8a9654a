import { assertKafkajsFixes } from '../src/kafka';

// The filter kafkajs runs on every fetched batch of a read_committed consumer (fixed by scripts/kafkajs).
const filterAbortedMessages = require('kafkajs/src/consumer/filterAbortedMessages') as (args: {
  messages: Message[];
  abortedTransactions: { producerId: string; firstOffset: string }[];
}) => Message[];

interface Message {
  offset: string;
  key: Buffer | null;
  value: string;
  batchContext: { producerId: string; inTransaction: boolean };
}

const ABORT_KEY = Buffer.from([0, 0, 0, 0]);
const record = (offset: number, producerId: string, value: string, inTransaction = true): Message => ({
  offset: String(offset),
  key: null,
  value,
  batchContext: { producerId, inTransaction },
});
const abortMarker = (offset: number, producerId: string): Message => ({ ...record(offset, producerId, 'marker'), key: ABORT_KEY });

describe("kafkajs' read_committed filter", () => {
  it('is the fixed one', () => {
    expect(() => assertKafkajsFixes()).not.toThrow();
  });

  // Producers 1 and 2 interleave aborted transactions at offsets 0-3 (markers 4, 5); producer 1 then commits one at 6.
  const log = [
    record(0, '1', 'a1'),
    record(1, '2', 'a2'),
    record(2, '1', 'a3'),
    record(3, '2', 'a4'),
    abortMarker(4, '1'),
    abortMarker(5, '2'),
    record(6, '1', 'ok'),
  ];
  const aborted = [
    { producerId: '1', firstOffset: '0' },
    { producerId: '2', firstOffset: '1' },
  ];
  const kept = (from: number, abortedTransactions = aborted) =>
    filterAbortedMessages({ messages: log.slice(from), abortedTransactions })
      .filter((m) => !m.key)
      .map((m) => m.value);

  it.each([0, 1, 2, 3])('drops every aborted record of a fetch starting at offset %i', (from) => {
    expect(kept(from)).toEqual(['ok']);
  });

  it('does not depend on the order the broker lists aborted transactions in', () => {
    expect(kept(0, [...aborted].reverse())).toEqual(['ok']);
  });

  it("keeps a producer's records after its abort marker, and non-transactional records", () => {
    const messages = [record(0, '1', 'a'), abortMarker(1, '1'), record(2, '1', 'b'), record(3, '9', 'c', false)];
    expect(
      filterAbortedMessages({ messages, abortedTransactions: [{ producerId: '1', firstOffset: '0' }] })
        .filter((m) => !m.key)
        .map((m) => m.value),
    ).toEqual(['b', 'c']);
  });
});
