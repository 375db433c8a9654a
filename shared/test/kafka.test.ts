import type { Admin } from 'kafkajs';
import { ensureTopics } from '../src';

/** The broker as a caller that lost a create race sees it: the topic exists, its metadata comes later. */
function racedAdmin(unknownReads: number, unledReads: number) {
  const calls = { metadata: 0 };
  const admin = {
    listTopics: async () => [],
    createTopics: async () => {
      throw Object.assign(new Error('Topic with this name already exists'), { type: 'TOPIC_ALREADY_EXISTS' });
    },
    fetchTopicMetadata: async ({ topics }: { topics: string[] }) => {
      calls.metadata++;
      if (calls.metadata <= unknownReads) {
        throw Object.assign(new Error('This server does not host this topic-partition'), {
          type: 'UNKNOWN_TOPIC_OR_PARTITION',
          retriable: true,
        });
      }
      const leader = calls.metadata <= unknownReads + unledReads ? -1 : 1;
      return { topics: topics.map((name) => ({ name, partitions: [0, 1].map((partitionId) => ({ partitionId, leader })) })) };
    },
  };
  return { admin: admin as unknown as Admin, calls };
}

describe('ensureTopics', () => {
  const spec = [{ topic: 'mplp.partials-race', numPartitions: 2, replicationFactor: 1 }];

  it('resolves only once the topic is known and led, after losing the create race', async () => {
    const { admin, calls } = racedAdmin(2, 1);
    await expect(ensureTopics(admin, spec)).resolves.toEqual([]);
    expect(calls.metadata).toBe(4);
  });

  it('gives up with a retryable error naming the topic when it never gets a leader', async () => {
    const { admin } = racedAdmin(0, Infinity);
    await expect(ensureTopics(admin, spec, { attempts: 2 })).rejects.toMatchObject({
      code: 'kafka_topic_not_ready',
      retryable: true,
      message: expect.stringContaining('mplp.partials-race'),
    });
  });
});
