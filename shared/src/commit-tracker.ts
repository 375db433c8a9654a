/** One unit of input registered with a CommitTracker: a record, or a chunk of records ending at `offset`. */
export interface CommitSlot {
  readonly tracker: CommitTracker;
  /** The last offset this slot covers (decimal string, as kafkajs gives it). */
  readonly offset: string;
  /** Parts of it (documents, output batches) not yet settled: durable downstream or dead-lettered. */
  left: number;
}

/**
 * CommitTracker: which offset of one partition may be committed. Input is registered in offset
 * order as it is fetched and settles in any order (worker threads, bulks and produce requests
 * finish out of order); the committable offset only advances over the settled prefix, so a
 * commit never passes input whose output is not yet durable. The offset stays offered until a
 * commit of it is confirmed, so a failed commit is simply made again by the next one. Settling is
 * O(1) (a slot, not a lookup by offset): the indexer settles once per document.
 *
 * Used per partition by ingest (a slot per chunk of records) and the indexer (a slot per record,
 * counting its documents).
 */
export class CommitTracker {
  private slots: CommitSlot[] = [];
  private head = 0;
  private last: bigint | undefined;
  private committable: bigint | undefined;
  private committed: bigint | undefined;

  constructor(
    readonly topic: string,
    readonly partition: number,
  ) {}

  /**
   * Whether input starting at this offset can follow what was registered. It cannot after a
   * rebalance or a seek back (kafkajs reads again from the committed offset): the caller then
   * starts a new tracker, and this one keeps settling what it already handed out.
   */
  accepts(offset: string): boolean {
    return this.last === undefined || BigInt(offset) > this.last;
  }

  /** Registers input ending at `offset` (in offset order) with `parts` to settle (0 = settled at once). */
  add(offset: string, parts = 1): CommitSlot {
    const o = BigInt(offset);
    if (this.last !== undefined && o <= this.last) throw new Error(`offset ${offset} added out of order (after ${this.last})`);
    this.last = o;
    const slot: CommitSlot = { tracker: this, offset, left: parts };
    this.slots.push(slot);
    return slot;
  }

  /** n parts of the slot are settled (durable downstream or dead-lettered). */
  static settle(slot: CommitSlot, n = 1): void {
    if (slot.left < n) throw new Error(`offset ${slot.offset} settled more often than it has parts`);
    slot.left -= n;
  }

  /** The offset to commit (the next one to read) while the settled prefix is ahead of the last confirmed commit. */
  toCommit(): string | undefined {
    let end = this.head;
    while (end < this.slots.length && this.slots[end].left === 0) end++;
    if (end > this.head) {
      this.committable = BigInt(this.slots[end - 1].offset) + 1n;
      this.head = end;
      // Drop the settled prefix now and then, so a long-lived tracker does not grow.
      if (this.head > 1024 && this.head * 2 > this.slots.length) {
        this.slots = this.slots.slice(this.head);
        this.head = 0;
      }
    }
    if (this.committable === undefined || (this.committed !== undefined && this.committable <= this.committed)) return undefined;
    return this.committable.toString();
  }

  /** Records a successful commit, so toCommit stops offering it. */
  confirmCommitted(offset: string): void {
    const o = BigInt(offset);
    if (this.committed === undefined || o > this.committed) this.committed = o;
  }

  /** Slots registered and not yet settled-and-passed by toCommit(). */
  get outstanding(): number {
    return this.slots.length - this.head;
  }

  /** Every registered slot is settled (as of the last toCommit()). */
  get done(): boolean {
    return this.head === this.slots.length;
  }
}
