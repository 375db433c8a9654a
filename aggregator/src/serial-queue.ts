/** Runs async jobs one at a time in submission order (publishes and commits must not interleave). */
export class SerialQueue {
  private tail: Promise<unknown> = Promise.resolve();
  run<T>(job: () => Promise<T>): Promise<T> {
    const next = this.tail.then(job, job);
    this.tail = next.catch(() => undefined);
    return next;
  }
  idle(): Promise<unknown> { return this.tail; }
}
