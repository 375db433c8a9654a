/**
 * Which input offsets of one partition may be committed. Chunks of input are registered in
 * offset order when fetched and finish in any order (the pool and Kafka acknowledge them out of
 * order); the committable offset only advances over a finished prefix, so it never passes a
 * message whose output is not yet acknowledged.
 */
export class PartitionOffsetTracker {
  private readonly pending: { last: bigint; done: boolean }[] = [];
  private committable?: bigint;
  private committed?: bigint;

  constructor(readonly topic: string, readonly partition: number) {}

  /** Registers the chunk ending at `lastOffset`; call markDone with the token once its output is acknowledged. */
  add(lastOffset: string): object {
    const entry = { last: BigInt(lastOffset), done: false };
    const prev = this.pending[this.pending.length - 1];
    if (prev && entry.last <= prev.last) throw new Error(`chunk ending at ${lastOffset} registered after one ending at ${prev.last}`);
    this.pending.push(entry);
    return entry;
  }

  markDone(token: object): void {
    (token as { done: boolean }).done = true;
    while (this.pending.length && this.pending[0].done) this.committable = this.pending.shift()!.last + 1n;
  }

  /** The offset to commit (the next one to read) when it is ahead of the last confirmed commit. */
  toCommit(): string | undefined {
    if (this.committable === undefined || (this.committed !== undefined && this.committable <= this.committed)) return undefined;
    return this.committable.toString();
  }

  /** Records a successful commit, so toCommit stops offering it. */
  confirmCommitted(offset: string): void {
    const o = BigInt(offset);
    if (this.committed === undefined || o > this.committed) this.committed = o;
  }

  /** Whether a batch starting at `firstOffset` continues this partition (kafkajs did not go back). */
  accepts(firstOffset: string): boolean {
    const prev = this.pending.length ? this.pending[this.pending.length - 1].last : this.committable;
    return prev === undefined || BigInt(firstOffset) > (this.pending.length ? prev : prev - 1n);
  }

  /** Chunks registered and not yet finished. */
  get inFlight(): number { return this.pending.length; }
}
