import type { S3Client } from '@aws-sdk/client-s3';
import { ArchiveStore } from '../src/archive-store';

describe('lease renewal', () => {
  it('a run stuck past its own lease never renews it, and never asks S3', async () => {
    const sent: unknown[] = [];
    const s3 = {
      send: async (cmd: unknown) => {
        sent.push(cmd);
        return { ETag: '"new"' };
      },
    } as unknown as S3Client;
    const store = new ArchiveStore(s3, 'bucket', 'prefix');
    const lease = { index: 'i', owner: 'me', ttlMs: 60_000, etag: '"old"', renewedAt: 1_000_000 };
    await expect(store.renewLease(lease, 1_000_000 + 60_001)).rejects.toMatchObject({
      code: 'lease_lost',
      message: expect.stringMatching(/expired while this run was stuck/),
    });
    expect(sent).toEqual([]);
    expect(lease.etag).toBe('"old"');
    // Within its TTL it renews, conditional on its ETag.
    await store.renewLease(lease, 1_000_000 + 59_000);
    expect(sent).toHaveLength(1);
    expect((sent[0] as { input: { IfMatch: string } }).input.IfMatch).toBe('"old"');
    expect(lease).toMatchObject({ etag: '"new"', renewedAt: 1_059_000 });
  });
});
