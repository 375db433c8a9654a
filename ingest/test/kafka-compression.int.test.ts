import { CompressionTypes } from 'kafkajs';
import { TestContext, uniqueName, waitFor } from '../../shared/testing';
import { ensureTopics } from '../../shared/src';
import { encodeTraces, TraceGenerator } from '../src/loadgen/trace-generator';
import { ingestTopics, spansOf, spawnIngest, startIngest } from './helpers';

/** OTLP protobuf requests of 5 traces each; returns them and every span id in them. */
function requests(n: number): { values: Buffer[]; ids: Set<string> } {
  const gen = new TraceGenerator({ errorRate: 0.05 });
  const ids = new Set<string>();
  const values: Buffer[] = [];
  for (let i = 0; i < n; i++) {
    const traces = Array.from({ length: 5 }, () => gen.trace(Date.now()));
    for (const s of traces.flat()) ids.add(s.spanId.toString('hex'));
    values.push(encodeTraces(traces, 'protobuf'));
  }
  return { values, ids };
}

describe('ingest reads Kafka-compressed input (real Kafka)', () => {
  const ctx = new TestContext();
  afterAll(() => ctx.cleanup());

  // compression.type on the topic makes the broker itself (Java's codecs) recompress every batch:
  // what a Collector exporter or librdkafka producer with that codec would also send.
  it.each(['gzip', 'snappy', 'lz4', 'zstd'])('a raw topic stored as %s: every span arrives, nothing dead-lettered', async (codec) => {
    const { validated, dlq, env } = await ingestTopics(ctx);
    const raw = uniqueName(`test.raw-${codec}`);
    const admin = await ctx.admin();
    await ensureTopics(admin, [
      { topic: raw, numPartitions: 2, replicationFactor: 1, configEntries: [{ name: 'compression.type', value: codec }] },
    ]);
    ctx.defer(() => admin.deleteTopics({ topics: [raw] }).catch(() => undefined));
    const { values, ids } = requests(40);
    const producer = await ctx.producer();
    await producer.send({ topic: raw, acks: -1, messages: values.map((value) => ({ value })) });
    await startIngest(ctx, { ...env, MPLP_TOPIC_RAW: raw });
    const ok = await ctx.collect(validated);
    const dead = await ctx.collect(dlq);
    await waitFor(`every span of the ${codec} topic validated`, () => new Set(spansOf(ok.messages).map((s) => s.spanId)).size >= ids.size, {
      timeoutMs: 60_000,
    });
    expect(new Set(spansOf(ok.messages).map((s) => s.spanId))).toEqual(ids);
    expect(dead.messages).toHaveLength(0);
  });

  it('a batch that expands past MPLP_KAFKA_MAX_DECOMPRESSED_BATCH_BYTES goes to the DLQ record by record, and consuming goes on', async () => {
    const { raw, validated, dlq, env } = await ingestTopics(ctx);
    const before = requests(3);
    const inBomb = requests(1);
    const after = requests(3);
    const producer = await ctx.producer();
    const send = (values: Buffer[], compression = CompressionTypes.None) =>
      producer.send({ topic: raw, acks: -1, compression, messages: values.map((value) => ({ value, partition: 0 })) });
    await send(before.values);
    // ~8 KiB of gzip that inflates to 4 MiB, next to a good request in the same batch.
    await send([Buffer.alloc(4 * 1024 * 1024), inBomb.values[0]], CompressionTypes.GZIP);
    await send(after.values);
    // Its own process, so the 1 MiB cap applies to its Kafka client alone.
    spawnIngest(ctx, { ...env, MPLP_KAFKA_MAX_DECOMPRESSED_BATCH_BYTES: String(1024 * 1024) });
    const ok = await ctx.collect(validated);
    const dead = await ctx.collect(dlq);
    const expected = new Set([...before.ids, ...after.ids]);
    await waitFor(
      'the requests around the refused batch validated',
      () => new Set(spansOf(ok.messages).map((s) => s.spanId)).size >= expected.size,
      { timeoutMs: 60_000 },
    );
    await waitFor('both records of the refused batch dead-lettered', () => dead.messages.length >= 2, { timeoutMs: 30_000 });
    expect(new Set(spansOf(ok.messages).map((s) => s.spanId))).toEqual(expected);
    expect(dead.messages).toHaveLength(2);
    // The records between the 3 before and the 3 after: offsets 3 and 4 of partition 0.
    expect(dead.messages.map((m) => m.headers!['mplp-source']!.toString()).sort()).toEqual([`${raw}/0/3`, `${raw}/0/4`]);
    for (const m of dead.messages) {
      expect(m.headers!['mplp-error-code']!.toString()).toBe('too_large');
      expect(m.headers!['mplp-error']!.toString()).toContain('MPLP_KAFKA_MAX_DECOMPRESSED_BATCH_BYTES');
    }
  });
});
