import path from 'node:path';
import { TestContext, uniqueName, waitFor } from '../../shared/testing';
import { SpanBatchCodec, NormalizedSpan } from '../../shared/src';
import { createIngest } from '../src';
import { loadLibrdkafka } from '../../shared/src/output-producer';

export const INGEST_MAIN = path.join(__dirname, '..', 'src', 'main.js');

/** Fresh raw/validated/dlq topics and the env that points an ingest worker at them. */
export async function ingestTopics(ctx: TestContext, extraEnv: Record<string, string> = {}) {
  const [raw, validated, dlq] = await ctx.topics(['raw', 'validated', 'dlq'], 3);
  const env: Record<string, string> = {
    MPLP_TOPIC_RAW: raw,
    MPLP_TOPIC_VALIDATED: validated,
    MPLP_TOPIC_DLQ: dlq,
    MPLP_INGEST_GROUP_ID: uniqueName('test-ingest'),
    MPLP_INGEST_HTTP_PORT: '0',
    MPLP_LOG_LEVEL: 'warn',
    ...extraEnv,
  };
  return { raw, validated, dlq, env };
}

/** Starts an ingest worker in this process; stopped at cleanup. */
export async function startIngest(ctx: TestContext, env: Record<string, string>) {
  const { service } = createIngest({ ...process.env, ...env });
  await service.start();
  ctx.defer(() => service.stop());
  await waitFor('ingest joined its group', () => service.worker.ready, { timeoutMs: 60_000 });
  return service;
}

/** Spawns `node dist/ingest/src/main.js` as its own process (for kill -9). */
export function spawnIngest(ctx: TestContext, env: Record<string, string>) {
  return ctx.spawnProcess(INGEST_MAIN, env);
}

/** All spans in a collected validated topic. */
export function spansOf(messages: { value: Buffer | null }[]): NormalizedSpan[] {
  return messages.flatMap((m) => SpanBatchCodec.decode(m.value!));
}

/**
 * Whether tests of the librdkafka producer can run: its native addon is an optional dependency.
 * Where CI_REQUIRE_LIBRDKAFKA is set (.ci/run sets it) a missing addon fails the test;
 * elsewhere those tests pass over it with a warning.
 */
export function librdkafkaForTests(): boolean {
  const rd = loadLibrdkafka();
  if (rd.module) return true;
  if (process.env.CI_REQUIRE_LIBRDKAFKA) throw new Error(`librdkafka required by CI_REQUIRE_LIBRDKAFKA but not loadable: ${rd.error}`);
  console.warn(`librdkafka not installed (${rd.error}): its producer is not tested here`);
  return false;
}

/** Input of `topic` not yet committed by the group (0: its committed offsets are at the end of every partition). */
export async function committedLag(ctx: TestContext, groupId: string, topic: string): Promise<number> {
  const admin = await ctx.admin();
  const [committed] = await admin.fetchOffsets({ groupId, topics: [topic] });
  const ends = await admin.fetchTopicOffsets(topic);
  return ends.reduce((n, e) => {
    const c = committed.partitions.find((p) => p.partition === e.partition);
    return n + Number(e.high) - (c && Number(c.offset) >= 0 ? Number(c.offset) : 0);
  }, 0);
}

/** How many times each key occurs. */
export function copiesOf(keys: Iterable<string>): Map<string, number> {
  const copies = new Map<string, number>();
  for (const k of keys) copies.set(k, (copies.get(k) ?? 0) + 1);
  return copies;
}
