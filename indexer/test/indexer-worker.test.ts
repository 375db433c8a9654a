import type { EachBatchPayload, Kafka, KafkaMessage } from 'kafkajs';
import { Registry } from 'prom-client';
import { createLogger, loadConfig, SpanBatchCodec, sharedSchema } from '../../shared/src';
import type { BulkIndexer, PoisonDoc } from '../src/bulk-indexer';
import { indexerSchema } from '../src/config';
import type { IndexDoc } from '../src/documents';
import { IndexerWorker } from '../src/indexer-worker';
import { IndexerMetrics } from '../src/metrics';
import { makeSpans } from './helpers';

/**
 * The worker against a scripted Kafka consumer and a bulk writer whose bulks the test settles in
 * any order (unit test: no cluster). What is checked is the commit rule: an offset is committed
 * only once every record below it is durable or dead-lettered.
 */
function harness(over: Record<string, string> = {}) {
  const commits: string[] = [];
  const dlq: unknown[] = [];
  let eachBatch: ((p: EachBatchPayload) => Promise<void>) | undefined;
  let onJoin: ((e: { payload: { memberAssignment: Record<string, number[]> } }) => void) | undefined;
  const consumer = {
    events: { GROUP_JOIN: 'join' },
    on: (_: string, f: typeof onJoin) => {
      onJoin = f;
    },
    connect: async () => undefined,
    subscribe: async () => undefined,
    pause: () => undefined,
    disconnect: async () => undefined,
    run: async (o: { eachBatch: typeof eachBatch }) => {
      eachBatch = o.eachBatch;
    },
    commitOffsets: async (o: Array<{ offset: string }>) => {
      commits.push(o[0].offset);
    },
  };
  const producer = {
    connect: async () => undefined,
    disconnect: async () => undefined,
    send: async (r: { messages: unknown[] }) => {
      dlq.push(...r.messages);
    },
  };
  const kafka = { consumer: () => consumer, producer: () => producer } as unknown as Kafka;
  const bulks: Array<{ docs: IndexDoc[]; settle: (poisonIds?: string[]) => void }> = [];
  const bulk = {
    writeBulk: (docs: IndexDoc[]) =>
      new Promise<{ durable: IndexDoc[]; poison: PoisonDoc[] }>((resolve) => {
        bulks.push({
          docs,
          settle: (poisonIds = []) =>
            resolve({
              durable: docs.filter((d) => !poisonIds.includes(d.id)),
              poison: docs
                .filter((d) => poisonIds.includes(d.id))
                .map((doc) => ({ doc, status: 400, type: 'document_parsing_exception', reason: 'bad' })),
            }),
        });
      }),
  } as unknown as BulkIndexer;
  const shared = loadConfig(sharedSchema, {});
  const settings = loadConfig(indexerSchema, {
    MPLP_INDEXER_BULK_MAX_DOCS: '2',
    MPLP_INDEXER_BULK_CONCURRENCY: '8',
    MPLP_INDEXER_TOPICS: 'spans',
    ...over,
  });
  const worker = new IndexerWorker({
    kafka,
    shared,
    settings,
    logger: createLogger({ name: 't', level: 'silent' }),
    metrics: new IndexerMetrics(new Registry()),
    bulk,
  });
  const resolved: string[] = [];
  const feed = async (partition: number, records: Array<{ offset: string; spans: number }>) => {
    const messages = records.map(
      (r) => ({ offset: r.offset, value: SpanBatchCodec.encode(makeSpans(1, r.spans)), headers: {} }) as unknown as KafkaMessage,
    );
    await eachBatch!({
      batch: {
        topic: shared.topicValidated,
        partition,
        highWatermark: '100',
        messages,
        firstOffset: () => messages[0].offset,
        lastOffset: () => messages[messages.length - 1].offset,
      },
      resolveOffset: (o: string) => {
        resolved.push(o);
      },
      heartbeat: async () => undefined,
      isRunning: () => true,
      isStale: () => false,
    } as unknown as EachBatchPayload);
  };
  const settled = () => new Promise((r) => setImmediate(r)).then(() => new Promise((r) => setImmediate(r)));
  return {
    worker,
    commits,
    dlq,
    bulks,
    resolved,
    feed,
    settled,
    join: (a: Record<string, number[]>) => onJoin!({ payload: { memberAssignment: a } }),
    topic: shared.topicValidated,
  };
}

describe('IndexerWorker commits (scripted consumer and bulks)', () => {
  it('hands records over at once, and commits only past records whose documents are all written', async () => {
    const h = harness();
    await h.worker.start();
    // Records 10 (3 spans), 11 (1), 12 (2) → bulks of 2: [10a 10b] [10c 11] [12a 12b].
    await h.feed(0, [
      { offset: '10', spans: 3 },
      { offset: '11', spans: 1 },
      { offset: '12', spans: 2 },
    ]);
    expect(h.resolved).toEqual(['12']); // fetching may go on before anything is written
    expect(h.bulks.map((b) => b.docs.length)).toEqual([2, 2, 2]);
    h.bulks[2].settle();
    await h.settled();
    expect(h.commits).toEqual([]); // 12 is written, 10 and 11 are not
    h.bulks[0].settle();
    await h.settled();
    expect(h.commits).toEqual([]); // 10c is still out
    h.bulks[1].settle();
    await h.settled();
    expect(h.commits).toEqual(['13']);
    await h.worker.stop();
  });

  it('commits a poison document only after the DLQ has it', async () => {
    const h = harness();
    await h.worker.start();
    await h.feed(0, [{ offset: '0', spans: 2 }]);
    const [b] = h.bulks;
    b.settle([b.docs[1].id]);
    await h.settled();
    expect(h.dlq).toHaveLength(1);
    expect(h.commits).toEqual(['1']);
    await h.worker.stop();
  });

  it("after a rebalance, commits nothing for a partition it lost, and never hands a kept one's records out twice", async () => {
    const h = harness();
    await h.worker.start();
    await h.feed(0, [{ offset: '5', spans: 2 }]);
    await h.feed(1, [{ offset: '7', spans: 2 }]);
    h.join({ [h.topic]: [1] }); // partition 0 went elsewhere
    h.bulks[0].settle();
    await h.settled();
    expect(h.commits).toEqual([]);
    // Partition 1 is read again from its committed offset: 7 is in flight already, only 8 is new.
    await h.feed(1, [
      { offset: '7', spans: 2 },
      { offset: '8', spans: 2 },
    ]);
    expect(h.bulks.map((b) => b.docs.length)).toEqual([2, 2, 2]);
    h.bulks[2].settle();
    await h.settled();
    expect(h.commits).toEqual([]); // 7 is still out
    h.bulks[1].settle();
    await h.settled();
    expect(h.commits).toEqual(['9']);
    await h.worker.stop();
  });
});
