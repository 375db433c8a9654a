/** Runs async jobs one at a time in submission order (publishes and commits must not interleave). */
export class SerialQueue {
  private tail: Promise<unknown> = Promise.resolve();
  run<T>(job: () => Promise<T>): Promise<T> {
    const next = this.tail.then(job, job);
    this.tail = next.catch(() => undefined);
    return next;
  }
  idle(): Promise<unknown> {
    return this.tail;
  }
}

/** One SerialQueue per key (a partition): order within a key, no waiting across keys. */
export class KeyedSerialQueues {
  private readonly queues = new Map<number, SerialQueue>();
  run<T>(key: number, job: () => Promise<T>): Promise<T> {
    let q = this.queues.get(key);
    if (!q) {
      q = new SerialQueue();
      this.queues.set(key, q);
    }
    return q.run(job);
  }
  idle(): Promise<unknown> {
    return Promise.all([...this.queues.values()].map((q) => q.idle()));
  }
}
