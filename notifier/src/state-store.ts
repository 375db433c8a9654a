import { randomUUID } from 'node:crypto';
import type { Admin, Kafka, KafkaMessage, Producer } from 'kafkajs';
import { ConfigError, ensureTopics, Logger, MplpError } from '../../shared/src';
import type { AlertRecord } from './alert-record';

/** The last change delivered for one alert (rule, series), and when its current firing started. */
export interface StateEntry {
  record: AlertRecord;
  startsAt: string;
}

/** How long a read of the state topic may take before the assignment is retried. */
const READ_TIMEOUT_MS = 60_000;

/**
 * The notifier's delivered state, kept in a compacted topic: key = alert key, value = the last
 * change delivered, written to the partition of the same number as the alerts partition it came
 * from. The owner of an alerts partition rebuilds its state (the firing set to re-send, and what
 * was delivered already, to drop replays) by reading that partition to its end on assignment.
 * Entries of resolved alerts stay (compaction keeps one per alert): they are what recognises a
 * replayed change as delivered.
 */
export class AlertStateStore {
  private waiting = new Map<number, { resolve: (m: Map<string, StateEntry>) => void; reject: (e: unknown) => void }[]>();
  private scheduled = false;

  constructor(private readonly d: { kafka: Kafka; admin: Admin; producer: Producer; topic: string; groupId: string; logger: Logger }) {}

  /** Creates the compacted topic with as many partitions as the alerts topic; refuses one with fewer. */
  async ensure(alertsTopic: string, replicationFactor: number): Promise<void> {
    const { admin, topic } = this.d;
    const meta = await admin.fetchTopicMetadata({ topics: [alertsTopic] });
    const n = meta.topics[0].partitions.length;
    await ensureTopics(admin, [
      { topic, numPartitions: n, replicationFactor, configEntries: [{ name: 'cleanup.policy', value: 'compact' }] },
    ]);
    const have = (await admin.fetchTopicMetadata({ topics: [topic] })).topics[0].partitions.length;
    if (have < n)
      throw new ConfigError(
        'MPLP_NOTIFIER_STATE_TOPIC',
        `${topic} has ${have} partitions, fewer than ${alertsTopic} (${n}); add partitions to it (kafka-topics --alter) or name a new topic`,
      );
  }

  /** The state of one partition; calls made together (one assignment) share one read of the topic. */
  load(partition: number): Promise<Map<string, StateEntry>> {
    return new Promise((resolve, reject) => {
      const list = this.waiting.get(partition) ?? [];
      list.push({ resolve, reject });
      this.waiting.set(partition, list);
      if (this.scheduled) return;
      this.scheduled = true;
      setImmediate(() => {
        this.scheduled = false;
        const batch = this.waiting;
        this.waiting = new Map();
        this.read(new Set(batch.keys())).then(
          (all) => {
            for (const [p, ws] of batch) for (const w of ws) w.resolve(all.get(p) ?? new Map());
          },
          (err) => {
            for (const ws of batch.values()) for (const w of ws) w.reject(err);
          },
        );
      });
    });
  }

  /** Writes the entries to `partition`, acknowledged by every in-sync replica. */
  async write(partition: number, entries: StateEntry[]): Promise<void> {
    if (!entries.length) return;
    await this.d.producer.send({
      topic: this.d.topic,
      acks: -1,
      messages: entries.map((e) => ({ partition, key: `${e.record.ruleId}|${e.record.series.key}`, value: JSON.stringify(e) })),
    });
  }

  /** Reads the partitions up to their current end with a consumer of a throwaway group (kafkajs has no manual assignment). */
  private async read(parts: Set<number>): Promise<Map<number, Map<string, StateEntry>>> {
    const { kafka, admin, topic, logger } = this.d;
    const out = new Map([...parts].map((p) => [p, new Map<string, StateEntry>()]));
    const ends = new Map<number, bigint>();
    for (const o of await admin.fetchTopicOffsets(topic))
      if (parts.has(o.partition) && BigInt(o.high) > BigInt(o.low)) ends.set(o.partition, BigInt(o.high));
    if (!ends.size) return out;
    const started = Date.now();
    const groupId = `${this.d.groupId}-state-${randomUUID()}`;
    const consumer = kafka.consumer({ groupId });
    await consumer.connect();
    try {
      await consumer.subscribe({ topics: [topic], fromBeginning: true });
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(
          () =>
            reject(new MplpError('state_read_timeout', `reading ${topic} took over ${READ_TIMEOUT_MS} ms`, { disposition: 'retryable' })),
          READ_TIMEOUT_MS,
        );
        consumer.on(consumer.events.CRASH, (e) => {
          if (!e.payload.restart) {
            clearTimeout(timer);
            reject(e.payload.error);
          }
        });
        consumer
          .run({
            autoCommit: false,
            eachBatch: async ({ batch }) => {
              const end = ends.get(batch.partition);
              if (end === undefined) return;
              for (const m of batch.messages) if (BigInt(m.offset) < end) apply(out.get(batch.partition)!, m);
              if (BigInt(batch.lastOffset()) + 1n >= end) ends.delete(batch.partition);
              if (!ends.size) {
                clearTimeout(timer);
                resolve();
              }
            },
          })
          .catch((err) => {
            clearTimeout(timer);
            reject(err);
          });
      });
    } finally {
      await consumer.disconnect().catch(() => undefined);
      await admin.deleteGroups([groupId]).catch(() => undefined);
    }
    logger.info(
      { partitions: [...parts], entries: [...out.values()].reduce((n, m) => n + m.size, 0), ms: Date.now() - started },
      'alert state restored from the state topic',
    );
    return out;
  }
}

function apply(into: Map<string, StateEntry>, m: KafkaMessage): void {
  const key = m.key?.toString('utf8');
  if (!key) return;
  if (!m.value) {
    into.delete(key);
    return;
  }
  try {
    into.set(key, JSON.parse(m.value.toString('utf8')) as StateEntry);
  } catch {
    /* not ours: only this process writes the topic */
  }
}
