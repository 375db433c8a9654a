import { upstreamPending } from '../src/upstream-progress';

describe('upstreamPending (is input waiting for the upstream group on the raw topic?)', () => {
  const p = (committed: bigint, low: bigint, high: bigint) => ({ committed, low, high });
  it('is false when every partition is committed at its end, or empty', () => {
    expect(upstreamPending([p(10n, 0n, 10n), p(-1n, 0n, 0n), p(-1n, 7n, 7n)])).toBe(false);
  });
  it('is true when one partition is committed behind its end', () => {
    expect(upstreamPending([p(10n, 0n, 10n), p(3n, 0n, 5n)])).toBe(true);
  });
  it('counts a group with no commit on a non-empty partition as pending', () => {
    expect(upstreamPending([p(-1n, 0n, 1n)])).toBe(true);
  });
  it('measures from the log start when the commit fell out of retention', () => {
    expect(upstreamPending([p(2n, 9n, 9n)])).toBe(false);
    expect(upstreamPending([p(2n, 9n, 12n)])).toBe(true);
  });
});
