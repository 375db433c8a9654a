import { CancelledError, MplpError } from './errors';

export interface RetryOptions {
  /** Total attempts including the first; Infinity retries until cancelled (sinks that must not lose data). */
  attempts: number;
  /** First backoff; doubles each attempt up to maxDelayMs. */
  baseDelayMs: number;
  maxDelayMs: number;
  /** Cancels waits and further attempts (shutdown). */
  signal?: AbortSignal;
  /** Maps a thrown value to an MplpError; its disposition decides whether to retry. */
  classify: (err: unknown) => MplpError;
  /** Called before each wait, e.g. to count retries by cause and log. */
  onRetry?: (err: MplpError, attempt: number, delayMs: number) => void;
  /** Random source in [0,1), replaceable in unit tests. */
  random?: () => number;
}

/** Full-jitter exponential backoff (AWS architecture blog): uniform in [0, min(max, base·2^n)]. */
export function backoffDelay(attempt: number, baseDelayMs: number, maxDelayMs: number, random = Math.random): number {
  const ceiling = Math.min(maxDelayMs, baseDelayMs * 2 ** Math.min(attempt - 1, 30));
  return Math.floor(ceiling * random());
}

/** Resolves after ms, or rejects with CancelledError as soon as signal aborts. */
export function delay(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(new CancelledError());
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(timer);
      reject(new CancelledError());
    };
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

/**
 * The one retry helper: bounded attempts, exponential backoff with full jitter, throttling
 * honoured (waits at least what the server asked for), cancellation on shutdown. Permanent
 * errors are thrown at once.
 */
export async function retry<T>(fn: (attempt: number) => Promise<T>, opts: RetryOptions): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    if (opts.signal?.aborted) throw new CancelledError();
    try {
      return await fn(attempt);
    } catch (raw) {
      if (raw instanceof CancelledError) throw raw;
      const err = opts.classify(raw);
      if (!err.retryable || attempt >= opts.attempts) throw err;
      let wait = backoffDelay(attempt, opts.baseDelayMs, opts.maxDelayMs, opts.random);
      if (err.disposition === 'throttled') wait = Math.max(wait, err.retryAfterMs ?? opts.baseDelayMs);
      opts.onRetry?.(err, attempt, wait);
      await delay(wait, opts.signal);
    }
  }
}
