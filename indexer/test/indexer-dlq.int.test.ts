import { readFileSync } from 'node:fs';
import { CompressionTypes } from 'kafkajs';
import type { KafkaMessage } from 'kafkajs';
import { TestContext, uniqueName, waitFor } from '../../shared/testing';
import {
  DLQ_HEADER_CODE,
  DLQ_HEADER_FIRST_OFFSET,
  DLQ_HEADER_ORIGINAL_BYTES,
  DLQ_HEADER_RECORDS,
  DLQ_HEADER_SOURCE,
  DLQ_HEADER_SPAN_ID,
  DLQ_HEADER_TRACE_ID,
  DLQ_HEADER_TRUNCATED,
  ensureTopics,
  FORMAT_NDJSON_V1,
  HEADER_FORMAT,
  NormalizedSpan,
  SpanBatchCodec,
  spanDocId,
} from '../../shared/src';
import { docIds, indexerSetup, lagOf, makeSpans, metricValue, spawnIndexer, startIndexer, topicSize } from './helpers';

const MiB = 1024 * 1024;

/** One validated record holding these spans, for partition 0 (so the canary comes after the bad input in the same partition). */
function record(spans: NormalizedSpan[]) {
  const lines = spans.map((s) => JSON.stringify(s)).join('\n') + '\n';
  return {
    partition: 0,
    key: spans[0].traceId,
    value: SpanBatchCodec.encodeLines(Buffer.from(lines)),
    headers: { [HEADER_FORMAT]: FORMAT_NDJSON_V1 },
  };
}

const header = (m: KafkaMessage, name: string) => m.headers?.[name]?.toString();

/** Peak resident set of a process so far (Linux). */
function peakRssBytes(pid: number): number {
  return Number(/VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))![1]) * 1024;
}

/**
 * Issue 12, items 2 and 6: input that used to stop a partition's commits for good, or to cost
 * hundreds of MB, ends in Elasticsearch or the DLQ with a code, the committed offset reaches the
 * end, and a canary published after it is indexed.
 */
describe('indexer dead letters that cannot stall a partition (real Kafka and Elasticsearch)', () => {
  const ctx = new TestContext();
  afterAll(() => ctx.cleanup());

  /** A trace of one good span and two over the 5 MiB bulk cap: 6 MiB and 15.7 MB documents from a ~90 KB lz4 record. */
  function oversized() {
    const [good, mid, huge] = makeSpans(1, 3);
    mid.attributes = { blob: 'x'.repeat(6 * MiB) };
    huge.attributes = { blob: 'y'.repeat(15_700_000) };
    return { spans: [good, mid, huge], good, mid, huge, bad: [mid, huge] };
  }

  async function publishWithCanary(validated: string, spans: NormalizedSpan[]) {
    const producer = await ctx.producer();
    const bad = record(spans);
    expect(bad.value.length).toBeLessThan(MiB);
    await producer.send({ topic: validated, acks: -1, messages: [bad] });
    const canary = makeSpans(1, 2);
    await producer.send({ topic: validated, acks: -1, messages: [record(canary)] });
    return canary;
  }

  async function expectIndexedAndCommitted(prefix: string, groupId: string, validated: string, expected: NormalizedSpan[]) {
    const want = expected.map(spanDocId).sort();
    await waitFor('the good span and the canary indexed', async () => (await docIds(ctx, prefix)).length >= want.length, {
      timeoutMs: 60_000,
      intervalMs: 250,
    });
    expect((await docIds(ctx, prefix)).sort()).toEqual(want);
    await waitFor('committed offset at the end of the partition', async () => (await lagOf(ctx, groupId, validated)) === 0, {
      timeoutMs: 30_000,
      intervalMs: 250,
    });
  }

  it('documents over the bulk cap go to the DLQ cut to MPLP_INDEXER_MAX_DLQ_VALUE_BYTES, with their ids and sizes; the partition commits on', async () => {
    const { validated, dlq, prefix, groupId, env } = await indexerSetup(ctx);
    await startIndexer(ctx, env);
    const { spans, good, bad } = oversized();
    const canary = await publishWithCanary(validated, spans);
    const dead = await ctx.collect(dlq);
    await expectIndexedAndCommitted(prefix, groupId, validated, [good, ...canary]);
    await waitFor('two dead letters', () => dead.messages.length >= 2, { timeoutMs: 30_000 });
    expect(dead.messages).toHaveLength(2);
    const byId = new Map(dead.messages.map((m) => [header(m, DLQ_HEADER_SPAN_ID), m]));
    for (const s of bad) {
      const m = byId.get(s.spanId)!;
      expect(header(m, DLQ_HEADER_CODE)).toBe('index_too_large');
      expect(header(m, DLQ_HEADER_SOURCE)).toBe(`${validated}/0/0`);
      expect(header(m, DLQ_HEADER_TRACE_ID)).toBe(s.traceId);
      expect(header(m, DLQ_HEADER_TRUNCATED)).toBe('true');
      expect(Number(header(m, DLQ_HEADER_ORIGINAL_BYTES))).toBe(Buffer.byteLength(JSON.stringify(s)));
      expect(m.value!.length).toBe(MiB);
      expect(m.value!.toString().startsWith(JSON.stringify(s).slice(0, 1000))).toBe(true);
    }
  });

  it('a DLQ topic that refuses the cut copy gets a reference (ids, source, sizes, no value)', async () => {
    const dlq = uniqueName('test.dlq-small');
    const admin = await ctx.admin();
    await ensureTopics(admin, [
      { topic: dlq, numPartitions: 1, replicationFactor: 1, configEntries: [{ name: 'max.message.bytes', value: '4096' }] },
    ]);
    ctx.defer(() => admin.deleteTopics({ topics: [dlq] }).catch(() => undefined));
    const { validated, prefix, groupId, env } = await indexerSetup(ctx, { MPLP_TOPIC_DLQ: dlq });
    await startIndexer(ctx, env);
    const { spans, good, bad } = oversized();
    const canary = await publishWithCanary(validated, spans);
    const dead = await ctx.collect(dlq);
    await expectIndexedAndCommitted(prefix, groupId, validated, [good, ...canary]);
    await waitFor('two references', () => dead.messages.length >= 2, { timeoutMs: 30_000 });
    expect(dead.messages).toHaveLength(2);
    expect(dead.messages.map((m) => header(m, DLQ_HEADER_SPAN_ID)).sort()).toEqual(bad.map((s) => s.spanId).sort());
    for (const m of dead.messages) {
      expect(m.value).toBeNull();
      expect(header(m, DLQ_HEADER_CODE)).toBe('index_too_large');
      expect(header(m, DLQ_HEADER_SOURCE)).toBe(`${validated}/0/0`);
      expect(header(m, DLQ_HEADER_TRUNCATED)).toBe('true');
      expect(Number(header(m, DLQ_HEADER_ORIGINAL_BYTES))).toBeGreaterThan(5 * MiB);
    }
  });

  it('a DLQ send refused for good, even as a reference, is counted lost and does not freeze commits', async () => {
    const dlq = uniqueName('test.dlq-tiny');
    const admin = await ctx.admin();
    await ensureTopics(admin, [
      { topic: dlq, numPartitions: 1, replicationFactor: 1, configEntries: [{ name: 'max.message.bytes', value: '100' }] },
    ]);
    ctx.defer(() => admin.deleteTopics({ topics: [dlq] }).catch(() => undefined));
    const { validated, prefix, groupId, env } = await indexerSetup(ctx, { MPLP_TOPIC_DLQ: dlq });
    const indexer = await startIndexer(ctx, env);
    const { spans, good } = oversized();
    const canary = await publishWithCanary(validated, spans);
    await expectIndexedAndCommitted(prefix, groupId, validated, [good, ...canary]);
    expect(await metricValue(indexer.opsPort()!, 'mplp_indexer_dlq_lost_total')).toBe(2);
    expect(await topicSize(ctx, dlq)).toBe(0);
  });

  it('refused Kafka batches: one dead letter per record up to MPLP_KAFKA_MAX_STAND_IN_RECORDS, one for the whole batch past it', async () => {
    const { validated, dlq, prefix, groupId, env } = await indexerSetup(ctx);
    const producer = await ctx.producer();
    // Two gzip batches that inflate past a 64 KiB cap: 50 records of 2 KB, then 40,000 records of 100 bytes (kafkajs takes long to produce more in one batch).
    const zeros = (n: number, size: number) => Array.from({ length: n }, () => ({ partition: 0, value: Buffer.alloc(size) }));
    await producer.send({ topic: validated, acks: -1, compression: CompressionTypes.GZIP, messages: zeros(50, 2048) });
    await producer.send({ topic: validated, acks: -1, compression: CompressionTypes.GZIP, messages: zeros(40_000, 100) });
    const canary = makeSpans(1, 2);
    await producer.send({ topic: validated, acks: -1, messages: [record(canary)] });
    // Its own process, so the caps apply to its Kafka client alone.
    const child = spawnIndexer(ctx, { ...env, MPLP_KAFKA_MAX_DECOMPRESSED_BATCH_BYTES: '65536', MPLP_KAFKA_MAX_STAND_IN_RECORDS: '100' });
    const dead = await ctx.collect(dlq);
    await expectIndexedAndCommitted(prefix, groupId, validated, canary);
    // 40k stand-ins built as a JS array and sent as 40k dead letters took this process to 307 MB (116 MB now).
    expect(peakRssBytes(child.pid!)).toBeLessThan(200 * MiB);
    await waitFor('51 dead letters', () => dead.messages.length >= 51, { timeoutMs: 30_000 });
    expect(dead.messages).toHaveLength(51);
    for (const m of dead.messages) expect(header(m, DLQ_HEADER_CODE)).toBe('too_large');
    const whole = dead.messages.filter((m) => header(m, DLQ_HEADER_RECORDS) !== undefined);
    expect(whole).toHaveLength(1);
    expect(header(whole[0], DLQ_HEADER_RECORDS)).toBe('40000');
    expect(header(whole[0], DLQ_HEADER_FIRST_OFFSET)).toBe('50');
    expect(header(whole[0], DLQ_HEADER_SOURCE)).toBe(`${validated}/0/40049`);
    const single = dead.messages.filter((m) => header(m, DLQ_HEADER_RECORDS) === undefined).map((m) => header(m, DLQ_HEADER_SOURCE));
    expect(single.sort()).toEqual(Array.from({ length: 50 }, (_, i) => `${validated}/0/${i}`).sort());
    // Accounted for: 50 + 40,000 refused records in the DLQ, the canary in Elasticsearch.
    expect(50 + Number(header(whole[0], DLQ_HEADER_RECORDS)) + 1).toBe(await topicSize(ctx, validated));
  });
});
