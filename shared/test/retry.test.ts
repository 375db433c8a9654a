import { backoffDelay, CancelledError, MplpError, retry } from '../src';

const transient = () => new MplpError('x', 'transient', { disposition: 'retryable' });
const classify = (e: unknown) => (e instanceof MplpError ? e : new MplpError('x', String(e)));

describe('retry', () => {
  it('retries retryable errors until success', async () => {
    let calls = 0;
    const out = await retry(
      async () => {
        if (++calls < 3) throw transient();
        return 'ok';
      },
      { attempts: 5, baseDelayMs: 1, maxDelayMs: 2, classify },
    );
    expect(out).toBe('ok');
    expect(calls).toBe(3);
  });

  it('stops after the bounded number of attempts', async () => {
    let calls = 0;
    await expect(
      retry(
        async () => {
          calls++;
          throw transient();
        },
        { attempts: 4, baseDelayMs: 1, maxDelayMs: 1, classify },
      ),
    ).rejects.toThrow('transient');
    expect(calls).toBe(4);
  });

  it('never retries a permanent error', async () => {
    let calls = 0;
    await expect(
      retry(
        async () => {
          calls++;
          throw new MplpError('bad', 'permanent');
        },
        { attempts: 9, baseDelayMs: 1, maxDelayMs: 1, classify },
      ),
    ).rejects.toThrow('permanent');
    expect(calls).toBe(1);
  });

  it('is cancelled by shutdown while waiting', async () => {
    const ctrl = new AbortController();
    const p = retry(
      async () => {
        throw transient();
      },
      { attempts: Infinity, baseDelayMs: 60_000, maxDelayMs: 60_000, classify, signal: ctrl.signal, random: () => 1 },
    );
    ctrl.abort();
    await expect(p).rejects.toBeInstanceOf(CancelledError);
  });

  it('backs off exponentially with full jitter, capped', () => {
    expect(backoffDelay(1, 100, 10_000, () => 0.999)).toBe(99);
    expect(backoffDelay(4, 100, 10_000, () => 0.999)).toBe(799);
    expect(backoffDelay(30, 100, 10_000, () => 0.999)).toBe(9990);
    expect(backoffDelay(3, 100, 10_000, () => 0)).toBe(0);
  });
});
