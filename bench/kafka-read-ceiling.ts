/**
 * The ceiling of `bench:aggregator`'s CPU per span: the same records read the simplest way, with
 * the same client and fetch settings as the aggregator's source stage (kafkajs, read_committed,
 * its MPLP_AGGREGATOR_FETCH_MAX_BYTES_PER_PARTITION and MPLP_AGGREGATOR_FETCH_MAX_WAIT) and
 * nothing done with them but summing each record's `mplp-spans` header. Its own process, as the
 * aggregator is; the count goes to the parent over IPC.
 * Args: topic, group id.
 */
import { createKafka, HEADER_SPANS, loadConfig, sharedSchema } from '../shared/src';
import { aggregatorSchema } from '../aggregator/src/config';

async function main(): Promise<void> {
  const [topic, groupId] = process.argv.slice(2);
  const kafka = createKafka(loadConfig(sharedSchema, process.env), 'bench-read-ceiling');
  const { fetchMaxBytesPerPartition, fetchMaxWaitMs } = loadConfig(aggregatorSchema, process.env);
  const consumer = kafka.consumer({
    groupId,
    maxBytesPerPartition: fetchMaxBytesPerPartition,
    maxWaitTimeInMs: fetchMaxWaitMs,
    readUncommitted: false,
  });
  await consumer.connect();
  await consumer.subscribe({ topic, fromBeginning: true });
  let spans = 0;
  consumer.on(consumer.events.GROUP_JOIN, () => process.send!({ ready: true }));
  await consumer.run({
    autoCommit: false,
    eachBatch: async ({ batch }) => {
      for (const m of batch.messages) spans += Number(m.headers?.[HEADER_SPANS] ?? 0);
      process.send!({ spans });
    },
  });
  process.once('SIGTERM', () => void consumer.disconnect().then(() => process.exit(0)));
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
