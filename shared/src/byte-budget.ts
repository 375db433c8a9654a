/**
 * ByteBudget: the bytes of work in flight (input fetched and not yet settled, documents queued
 * for Elasticsearch) against a bound. Whoever takes on work waits for room first; whoever finishes
 * work gives its bytes back, which wakes the waiters. Closing it (shutdown) releases every waiter
 * for good. PartitionConsumer's BatchContext.waitForRoom waits on one while heartbeating, so a
 * full budget holds fetching without losing the group membership.
 */
export class ByteBudget {
  private usedBytes = 0;
  private closed = false;
  private readonly waiters = new Set<() => void>();

  /** `onChange` sees the bytes in use after every change (a gauge). */
  constructor(
    readonly limit: number,
    private readonly onChange?: (used: number) => void,
  ) {}

  get used(): number {
    return this.usedBytes;
  }

  /** At or over the bound (never once closed). */
  get full(): boolean {
    return !this.closed && this.usedBytes >= this.limit;
  }

  take(bytes: number): void {
    this.usedBytes += bytes;
    this.onChange?.(this.usedBytes);
  }

  give(bytes: number): void {
    this.usedBytes -= bytes;
    this.onChange?.(this.usedBytes);
    if (!this.full) this.wake();
  }

  /** Resolves true once there is room (or the budget is closed), false when `timeoutMs` passes first. */
  waitForRoom(timeoutMs?: number): Promise<boolean> {
    if (!this.full) return Promise.resolve(true);
    return new Promise((resolve) => {
      let timer: NodeJS.Timeout | undefined;
      const done = (roomy: boolean) => {
        clearTimeout(timer);
        this.waiters.delete(wake);
        resolve(roomy);
      };
      const wake = () => done(true);
      this.waiters.add(wake);
      if (timeoutMs !== undefined) timer = setTimeout(() => done(false), timeoutMs);
    });
  }

  /** Releases every waiter now and from now on (shutdown). */
  close(): void {
    this.closed = true;
    this.wake();
  }

  private wake(): void {
    for (const w of [...this.waiters]) w();
  }
}
