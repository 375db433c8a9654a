import { freePort, TestContext, waitFor } from '../../shared/testing';
import { encodeTraces, TraceGenerator } from '../src/loadgen/trace-generator';
import { ingestTopics, spansOf, spawnIngest } from './helpers';

/** Publishes `messages` OTLP requests of 10 traces each (alternating encodings); returns every span id sent. */
async function publish(ctx: TestContext, topic: string, messages: number): Promise<Set<string>> {
  const gen = new TraceGenerator({ errorRate: 0.05 });
  const ids = new Set<string>();
  const producer = await ctx.producer();
  for (let batch = 0; batch < messages; batch += 50) {
    const msgs = [];
    for (let i = batch; i < Math.min(messages, batch + 50); i++) {
      const traces = Array.from({ length: 10 }, () => gen.trace(Date.now()));
      for (const s of traces.flat()) ids.add(s.spanId.toString('hex'));
      msgs.push({ value: encodeTraces(traces, i % 2 ? 'json' : 'protobuf') });
    }
    await producer.send({ topic, acks: -1, messages: msgs });
  }
  return ids;
}

describe('ingest under failure (real Kafka, separate processes)', () => {
  const ctx = new TestContext();
  afterAll(() => ctx.cleanup());

  it('kill -9 mid-stream, then restart: every input span reaches the validated topic', async () => {
    // Small fetches make many small batches, so the kill lands between a produce and its commit.
    const { raw, validated, env } = await ingestTopics(ctx, {
      MPLP_INGEST_FETCH_MAX_BYTES_PER_PARTITION: '65536',
      MPLP_INGEST_PARTITIONS_CONCURRENTLY: '1',
    });
    const sent = await publish(ctx, raw, 400);
    const out = await ctx.collect(validated);
    const first = spawnIngest(ctx, env);
    await waitFor('some spans through before the kill', () => spansOf(out.messages).length > sent.size / 10, {
      timeoutMs: 90_000,
      intervalMs: 20,
    });
    first.kill('SIGKILL');
    await new Promise((r) => first.once('exit', r));
    const atKill = new Set(spansOf(out.messages).map((s) => s.spanId)).size;
    expect(atKill).toBeLessThan(sent.size);
    spawnIngest(ctx, env);
    const seen = await waitFor(
      'every span after the restart',
      () => {
        const got = new Set(spansOf(out.messages).map((s) => s.spanId));
        return got.size >= sent.size ? got : undefined;
      },
      { timeoutMs: 120_000, intervalMs: 250 },
    );
    expect([...seen].filter((id) => !sent.has(id))).toEqual([]);
    expect(seen.size).toBe(sent.size);
  });

  it('two processes in one group split the partitions and together produce every span', async () => {
    const { raw, validated, env } = await ingestTopics(ctx);
    const ports = [await freePort(), 0];
    while (ports[1] === 0 || ports[1] === ports[0]) ports[1] = await freePort();
    const a = spawnIngest(ctx, { ...env, MPLP_INGEST_HTTP_PORT: String(ports[0]) });
    const b = spawnIngest(ctx, { ...env, MPLP_INGEST_HTTP_PORT: String(ports[1]) });
    const messagesOf = async (port: number) => {
      const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
      return [...text.matchAll(/^mplp_ingest_messages_total\{[^}]*\} (\d+)/gm)].reduce((n, m) => n + Number(m[1]), 0);
    };
    await waitFor(
      'both processes ready',
      async () => {
        const r = await Promise.all(
          ports.map((p) =>
            fetch(`http://127.0.0.1:${p}/readyz`).then(
              (x) => x.ok,
              () => false,
            ),
          ),
        );
        return r.every(Boolean);
      },
      { timeoutMs: 90_000 },
    );
    const sent = await publish(ctx, raw, 120);
    const out = await ctx.collect(validated);
    const seen = await waitFor(
      'every span',
      () => {
        const got = new Set(spansOf(out.messages).map((s) => s.spanId));
        return got.size >= sent.size ? got : undefined;
      },
      { timeoutMs: 120_000, intervalMs: 250 },
    );
    expect(seen).toEqual(sent);
    const perProcess = await Promise.all(ports.map(messagesOf));
    expect(perProcess[0]).toBeGreaterThan(0);
    expect(perProcess[1]).toBeGreaterThan(0);
    expect(perProcess[0] + perProcess[1]).toBeGreaterThanOrEqual(120);
    a.kill('SIGTERM');
    b.kill('SIGTERM');
  });
});
