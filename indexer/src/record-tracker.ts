/** One Kafka record in a RecordTracker: how many of its documents are not yet settled. */
export interface RecordSlot {
  readonly tracker: RecordTracker;
  /** The record's offset (decimal string, as kafkajs gives it). */
  readonly offset: string;
  /** Documents of the record not yet durable or dead-lettered. */
  left: number;
}

/**
 * RecordTracker: the records of one partition handed to the bulk pipeline, in offset order, and
 * how many documents of each are still outstanding. A record is complete when every one of its
 * documents is durable in Elasticsearch or dead-lettered; the committable offset is one past the
 * last record of the complete prefix, so a commit never passes a record with a document still in
 * flight, even when a later bulk finishes first. Settling is O(1) per document (a slot, not a
 * lookup by offset), because it runs for every document indexed.
 */
export class RecordTracker {
  private slots: RecordSlot[] = [];
  private head = 0;
  private last: bigint | undefined;
  private committed: bigint | undefined;

  constructor(readonly topic: string, readonly partition: number) {}

  /**
   * Whether a record at this offset can follow the ones already added. It cannot after a
   * rebalance or a seek back (kafkajs re-reads from the committed offset): the caller then starts
   * a new tracker, and this one keeps settling what it already handed out.
   */
  accepts(offset: string): boolean {
    return this.last === undefined || BigInt(offset) > this.last;
  }

  /** Registers a record (in offset order) with the number of its documents (0 = complete at once). */
  add(offset: string, docs: number): RecordSlot {
    const o = BigInt(offset);
    if (this.last !== undefined && o <= this.last) throw new Error(`offset ${offset} added out of order (after ${this.last})`);
    this.last = o;
    const slot: RecordSlot = { tracker: this, offset, left: docs };
    this.slots.push(slot);
    return slot;
  }

  /** n documents of the record are settled (durable or dead-lettered). */
  static settle(slot: RecordSlot, n = 1): void {
    if (slot.left < n) throw new Error(`offset ${slot.offset} settled more often than it has documents`);
    slot.left -= n;
  }

  /** The offset to commit (the next one to read) when the complete prefix grew since the last call. */
  advance(): string | undefined {
    let end = this.head;
    while (end < this.slots.length && this.slots[end].left === 0) end++;
    if (end === this.head) return undefined;
    const commit = BigInt(this.slots[end - 1].offset) + 1n;
    this.head = end;
    // Drop the settled prefix now and then, so a long-lived tracker does not grow.
    if (this.head > 1024 && this.head * 2 > this.slots.length) { this.slots = this.slots.slice(this.head); this.head = 0; }
    if (this.committed !== undefined && commit <= this.committed) return undefined;
    this.committed = commit;
    return commit.toString();
  }

  /** Records handed out and not yet complete-and-advanced past. */
  get outstanding(): number { return this.slots.length - this.head; }

  /** Every registered record is complete (after advance()). */
  get done(): boolean { return this.head === this.slots.length; }
}
