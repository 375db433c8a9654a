import type { KafkaMessage } from 'kafkajs';
import { TestContext, waitFor } from '../../shared/testing';
import { DLQ_HEADER_CODE } from '../src/message-processor';
import { encodeTraces, TraceGenerator } from '../src/loadgen/trace-generator';
import { committedLag, copiesOf, ingestTopics, spansOf, spawnIngest } from './helpers';

const SENTINEL = 'mplp-test-sentinel';

/**
 * Writes a plain record to every partition of `topic` and waits until the collector got them all: a
 * read_committed consumer delivers a partition in offset order, so by then it has delivered every
 * committed record before them, and no open transaction is left below them.
 */
async function readToEnd(ctx: TestContext, topic: string, collected: KafkaMessage[], partitions: number): Promise<KafkaMessage[]> {
  const producer = await ctx.producer();
  const marker = `${Date.now()}-${Math.random()}`;
  await producer.send({
    topic,
    acks: -1,
    messages: Array.from({ length: partitions }, (_, partition) => ({ partition, value: marker, headers: { [SENTINEL]: marker } })),
  });
  await waitFor(
    `${topic} read to its end`,
    () => collected.filter((m) => m.headers?.[SENTINEL]?.toString() === marker).length === partitions,
    {
      timeoutMs: 30_000,
      intervalMs: 100,
    },
  );
  return collected.filter((m) => !m.headers?.[SENTINEL]);
}

describe('ingest exactly once (real Kafka, ingest as its own process)', () => {
  const ctx = new TestContext();
  afterAll(() => ctx.cleanup());

  it('killed with -9 three times under steady load and restarted: every valid span is in the validated topic once and every bad message in the DLQ once, read committed', async () => {
    const { raw, validated, dlq, env } = await ingestTopics(ctx, {
      // A dead member's partitions move after its session: the minimum, so each restart takes seconds.
      MPLP_INGEST_SESSION_TIMEOUT: '6000',
      // Small fetches and tasks: many chunks and transactions in flight when the kill lands.
      MPLP_INGEST_FETCH_MAX_BYTES_PER_PARTITION: '65536',
      MPLP_INGEST_TASK_BYTES: '16384',
    });
    const groupId = env.MPLP_INGEST_GROUP_ID;
    const validatedOut = await ctx.collect(validated);
    const dlqOut = await ctx.collect(dlq);
    const delivered = () => spansOf(validatedOut.messages.filter((m) => !m.headers?.[SENTINEL])).length;

    // Steady input: every 20 ms a request of 4 traces (both encodings), every 10th also a message that does not decode.
    const gen = new TraceGenerator({ errorRate: 0.05 });
    const sent = new Set<string>();
    const bad = new Set<string>();
    const producer = await ctx.producer();
    let producing = true;
    const input = (async () => {
      for (let i = 0; producing; i++) {
        const traces = Array.from({ length: 4 }, () => gen.trace(Date.now()));
        for (const s of traces.flat()) sent.add(s.spanId.toString('hex'));
        const messages = [{ value: encodeTraces(traces, i % 2 ? 'json' : 'protobuf') }];
        if (i % 10 === 0) {
          const value = `not a span ${i} ${Date.now()}`;
          bad.add(value);
          messages.push({ value: Buffer.from(value) });
        }
        await producer.send({ topic: raw, acks: -1, messages });
        await new Promise((r) => setTimeout(r, 20));
      }
    })();

    let child = spawnIngest(ctx, env);
    for (let kill = 0; kill < 3; kill++) {
      const before = delivered();
      await waitFor(`spans flowing through ingest process ${kill + 1}`, () => delivered() > before + 300, {
        timeoutMs: 60_000,
        intervalMs: 20,
      });
      child.kill('SIGKILL');
      await new Promise((r) => child.once('exit', r));
      child = spawnIngest(ctx, env);
    }
    const before = delivered();
    await waitFor('spans flowing after the last restart', () => delivered() > before + 300, { timeoutMs: 60_000, intervalMs: 20 });
    producing = false;
    await input;
    await waitFor('the input committed to its end', async () => (await committedLag(ctx, groupId, raw)) === 0, {
      timeoutMs: 60_000,
      intervalMs: 250,
    });

    const spans = spansOf(await readToEnd(ctx, validated, validatedOut.messages, 3));
    const copies = copiesOf(spans.map((s) => s.spanId));
    const repeated = [...copies].filter(([, n]) => n > 1);
    console.log(
      `ingest exactly once: ${sent.size} spans and ${bad.size} bad messages sent over 3 kills; ${spans.length} spans read committed, ${repeated.length} span ids more than once`,
    );
    expect([...copies.keys()].filter((id) => !sent.has(id))).toEqual([]);
    expect(copies.size).toBe(sent.size);
    expect(repeated).toEqual([]);

    const dead = await readToEnd(ctx, dlq, dlqOut.messages, 3);
    expect(dead.every((m) => m.headers?.[DLQ_HEADER_CODE]?.toString() === 'decode')).toBe(true);
    const deadCopies = copiesOf(dead.map((m) => m.value!.toString()));
    expect([...deadCopies.keys()].sort()).toEqual([...bad].sort());
    expect([...deadCopies].filter(([, n]) => n > 1)).toEqual([]);
    child.kill('SIGTERM');
  });
});
