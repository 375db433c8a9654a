import { readFileSync } from 'node:fs';
import { ConfigResourceTypes } from 'kafkajs';
import type { IHeaders } from 'kafkajs';
import { exitOf, freePort, outputOf, TestContext, uniqueName, waitFor } from '../../shared/testing';
import { ensureTopics, NormalizedSpan, spanDocId, traceMappings } from '../../shared/src';
import {
  amplifyingRequest,
  badSpansSharingAResource,
  jsonRequest,
  jsonRequestWithDeepSpan,
  jsonSpan,
  longKeyOverKvlist,
  noise,
  protobufRequest,
  protobufRequestWithDeepSpan,
} from './hostile-inputs';
import { librdkafkaForTests, spansOf, spawnIngest } from './helpers';

const MiB = 1024 * 1024;

interface Outcome {
  spans: NormalizedSpan[];
  dead: { code: string; source: string; value: Buffer; headers: IHeaders }[];
  /** Peak resident memory of the ingest process (VmHWM), bytes. */
  peakRss: number;
  raw: string;
}

/**
 * The harness of every test here: fresh topics (the raw one with one partition), an ingest
 * process of its own, the hostile input and then a canary span published to that partition; it
 * returns once the group's committed offset reaches the end of the partition, the canary is in
 * the validated topic (the partition did not stall) and the expected numbers of spans and dead
 * letters are read back. Fails on a timeout otherwise.
 */
async function runHostile(
  ctx: TestContext,
  input: { value: Buffer; headers?: IHeaders }[],
  expected: { spans: number; dead: number },
  opts: { recordBytes?: number; lowerValidatedTo?: number; lowerDlqTo?: number; env?: Record<string, string> } = {},
): Promise<Outcome> {
  const admin = await ctx.admin();
  const [raw, validated, dlq] = ['raw', 'validated', 'dlq'].map((b) => uniqueName(`test.${b}`));
  const limit = (bytes: number) => [{ name: 'max.message.bytes', value: String(bytes) }];
  await ensureTopics(admin, [
    { topic: raw, numPartitions: 1, replicationFactor: 1, configEntries: limit(8 * MiB) },
    { topic: validated, numPartitions: 3, replicationFactor: 1, configEntries: limit(opts.recordBytes ?? 8 * MiB) },
    { topic: dlq, numPartitions: 3, replicationFactor: 1, configEntries: limit(opts.recordBytes ?? 8 * MiB) },
  ]);
  ctx.defer(() => admin.deleteTopics({ topics: [raw, validated, dlq] }).catch(() => undefined));
  const groupId = uniqueName('test-ingest');
  // From the OS, not a random number: 20000-40000 overlaps the ephemeral range, where a port picked
  // at random was once held by a client connection (EADDRINUSE at the ingest's start).
  const port = await freePort();
  const child = spawnIngest(ctx, {
    MPLP_TOPIC_RAW: raw,
    MPLP_TOPIC_VALIDATED: validated,
    MPLP_TOPIC_DLQ: dlq,
    MPLP_INGEST_GROUP_ID: groupId,
    MPLP_INGEST_HTTP_PORT: String(port),
    MPLP_LOG_LEVEL: 'warn',
    ...opts.env,
  });
  await waitFor(
    'ingest ready',
    () => {
      if (child.exitCode !== null) throw new Error(`ingest exited with code ${child.exitCode}:\n${outputOf(child)}`);
      return fetch(`http://127.0.0.1:${port}/readyz`).then(
        (r) => r.ok,
        () => false,
      );
    },
    { timeoutMs: 60_000 },
  );
  // A topic whose limit is lowered while ingest runs (at start, a setting above it stops the process).
  for (const [topic, bytes] of [
    [validated, opts.lowerValidatedTo],
    [dlq, opts.lowerDlqTo],
  ] as const) {
    if (bytes === undefined) continue;
    await admin.alterConfigs({
      validateOnly: false,
      resources: [{ type: ConfigResourceTypes.TOPIC, name: topic, configEntries: limit(bytes) }],
    });
    await waitFor(`max.message.bytes of ${topic} lowered`, async () => {
      const res = await admin.describeConfigs({
        includeSynonyms: false,
        resources: [{ type: ConfigResourceTypes.TOPIC, name: topic, configNames: ['max.message.bytes'] }],
      });
      return res.resources[0].configEntries[0]?.configValue === String(bytes);
    });
  }
  const producer = await ctx.producer();
  await producer.send({ topic: raw, acks: -1, messages: input.map((m) => ({ ...m, partition: 0 })) });
  const canary = jsonSpan({ name: 'canary' });
  await producer.send({ topic: raw, acks: -1, messages: [{ value: jsonRequest([canary]), partition: 0 }] });
  const [{ high: end }] = await admin.fetchTopicOffsets(raw);
  const ok = await ctx.collect(validated);
  const dead = await ctx.collect(dlq);
  await waitFor(
    'the committed offset at the end of the partition',
    async () => {
      const [t] = await admin.fetchOffsets({ groupId, topics: [raw] });
      return t.partitions[0].offset === end;
    },
    { timeoutMs: 60_000, intervalMs: 250 },
  );
  await waitFor('the canary published after the bad input validated', () => spansOf(ok.messages).some((s) => s.spanId === canary.spanId), {
    timeoutMs: 30_000,
  });
  const spans = () => spansOf(ok.messages).filter((s) => s.spanId !== canary.spanId);
  await waitFor(
    `${expected.spans} spans and ${expected.dead} dead letters read back`,
    async () => {
      if (spans().length >= expected.spans && dead.messages.length >= expected.dead) return true;
      const metrics = await fetch(`http://127.0.0.1:${port}/metrics`).then(
        (r) => r.text(),
        () => '',
      );
      throw new Error(
        `read ${spans().length} spans, ${dead.messages.length} dead letters; ingest counted ${metrics
          .split('\n')
          .filter((l) => /^mplp_ingest_(spans_valid|rejected)/.test(l))
          .join(', ')}`,
      );
    },
    { timeoutMs: 30_000 },
  );
  const peakRss = Number(/VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${child.pid}/status`, 'utf8'))![1]) * 1024;
  return {
    spans: spans(),
    dead: dead.messages.map((m) => ({
      code: m.headers!['mplp-error-code']!.toString(),
      source: m.headers!['mplp-source']!.toString(),
      value: m.value!,
      headers: m.headers!,
    })),
    peakRss,
    raw,
  };
}

describe('hostile input cannot stall a partition or multiply memory (real Kafka, issue #12)', () => {
  const ctx = new TestContext();
  afterAll(() => ctx.cleanup());

  it('item 1: a 100 KB key over a 128-leaf kvlist (a 13 MB record before) becomes a small record with cut keys; commits reach the end', async () => {
    const { span, value } = longKeyOverKvlist();
    const out = await runHostile(ctx, [{ value }], { spans: 1, dead: 0 });
    const got = out.spans.find((s) => s.spanId === span.spanId)!;
    for (const k of Object.keys(got.attributes)) expect(Buffer.byteLength(k)).toBeLessThanOrEqual(1024);
    expect(got.dropped).toMatchObject({ attributes: 127, truncatedValues: 1 });
    expect(out.dead).toEqual([]);
    console.log(`item 1 long key: input ${value.length} B, ingest peak RSS ${(out.peakRss / MiB).toFixed(0)} MiB`);
  });

  it('item 1: 50 bad spans sharing a 527 KB resource make one dead letter with the resource once (26 MB before)', async () => {
    const { spans, value } = badSpansSharingAResource();
    const out = await runHostile(ctx, [{ value }], { spans: 0, dead: 1 });
    const dead = out.dead;
    expect(dead.map((d) => d.code)).toEqual(['trace_id']);
    expect(dead[0].headers['mplp-spans']!.toString()).toBe('50');
    const dlqBytes = dead.reduce((n, d) => n + d.value.length, 0);
    expect(dlqBytes).toBeLessThan(value.length * 1.1);
    expect(JSON.parse(dead[0].value.toString()).resourceSpans[0].scopeSpans[0].spans).toHaveLength(spans.length);
    console.log(`item 1 DLQ: input ${value.length} B -> ${dlqBytes} B of dead letters in ${dead.length} record(s)`);
  });

  it('item 1: a span that cannot fit in a record of the topic goes to the DLQ as a too_large reference (source, ids, sizes)', async () => {
    const big = jsonSpan({ attributes: Array.from({ length: 60 }, (_, i) => ({ key: `a${i}`, value: { stringValue: noise(8000) } })) });
    const good = jsonSpan();
    const out = await runHostile(
      ctx,
      [{ value: protobufRequest([big, good]) }],
      { spans: 1, dead: 1 },
      {
        recordBytes: 256 * 1024,
        env: {
          MPLP_INGEST_MAX_RECORD_BYTES: String(256 * 1024),
          MPLP_INGEST_MAX_BATCH_BYTES: String(128 * 1024),
          MPLP_INGEST_MAX_DLQ_VALUE_BYTES: String(128 * 1024),
        },
      },
    );
    expect(out.spans.map((s) => s.spanId)).toEqual([good.spanId]);
    const [ref] = out.dead;
    expect(ref.code).toBe('too_large');
    expect(ref.headers['mplp-truncated']!.toString()).toBe('true');
    expect(JSON.parse(ref.value.toString()).mplpReference).toMatchObject({
      source: `${out.raw}/0/0`,
      traceId: big.traceId,
      spanId: big.spanId,
      limitBytes: 256 * 1024,
    });
  });

  it.each(['librdkafka', 'kafkajs'])(
    'item 1: output a topic refuses for good (its max.message.bytes lowered below the setting while running) settles through the DLQ instead of stalling (%s)',
    async (producer) => {
      if (producer === 'librdkafka' && !librdkafkaForTests()) return;
      // A trace of 400 KB of incompressible NDJSON: under MPLP_INGEST_MAX_RECORD_BYTES, over this topic's 200 KB.
      const traceId = jsonSpan().traceId;
      const spans = Array.from({ length: 50 }, () =>
        jsonSpan({ traceId, attributes: [{ key: 'v', value: { stringValue: noise(8000) } }] }),
      );
      const other = jsonSpan();
      const out = await runHostile(
        ctx,
        [{ value: protobufRequest([...spans, other]) }],
        { spans: 1, dead: 1 },
        // librdkafka produces only without transactions; kafkajs here with them (the default).
        {
          lowerValidatedTo: 200 * 1024,
          env: { MPLP_INGEST_PRODUCER: producer, ...(producer === 'librdkafka' ? { MPLP_INGEST_TRANSACTIONS: 'false' } : {}) },
        },
      );
      // librdkafka reports each record, so what was delivered is not sent again; a kafkajs request fails as a whole and is sent again record by record.
      if (producer === 'librdkafka') expect(out.spans.map((s) => s.spanId)).toEqual([other.spanId]);
      else expect([...new Set(out.spans.map((s) => s.spanId))]).toEqual([other.spanId]);
      expect(out.dead).toHaveLength(1);
      const [ref] = out.dead;
      expect(ref.code).toBe('too_large');
      expect(ref.headers['mplp-spans']!.toString()).toBe('50');
      expect(JSON.parse(ref.value.toString()).mplpReference).toMatchObject({ sources: [`${out.raw}/0/0`], traceId, spans: 50 });
    },
  );

  it('item 1: a dead letter the DLQ topic refuses for good is replaced by a reference, and commits go on', async () => {
    const undecodable = Buffer.concat([Buffer.from('{"resourceSpans": ['), Buffer.alloc(20_000, 0x20)]);
    const out = await runHostile(ctx, [{ value: undecodable }], { spans: 0, dead: 1 }, { lowerDlqTo: 8192 });
    const [ref] = out.dead;
    expect(ref.code).toBe('decode');
    expect(ref.source).toBe(`${out.raw}/0/0`);
    expect(JSON.parse(ref.value.toString()).mplpReference).toMatchObject({ source: `${out.raw}/0/0`, code: 'decode', bytes: 20_019 });
  });

  it('item 5: a 346 KB request that would become 150 MB of output goes to the DLQ as too_large; memory stays bounded', async () => {
    const { value } = amplifyingRequest();
    const out = await runHostile(ctx, [{ value }], { spans: 0, dead: 1 });
    const dead = out.dead;
    expect(dead.map((d) => d.code)).toEqual(['too_large']);
    expect(dead[0].headers['mplp-error']!.toString()).toMatch(/MPLP_INGEST_MAX_OUTPUT_BYTES_PER_MESSAGE/);
    expect(out.spans).toEqual([]);
    console.log(
      `item 5: input ${value.length} B -> ${dead[0].value.length} B dead letter; ingest peak RSS ${(out.peakRss / MiB).toFixed(0)} MiB`,
    );
    expect(out.peakRss).toBeLessThan(400 * MiB);
  });

  it('items 7 and 10: a kvlist nested 100,000 deep in JSON is kept as text; nested 20,000 deep in protobuf that span alone is dead-lettered', async () => {
    const [deepJson, goodJson, deepPb, goodPb] = [jsonSpan(), jsonSpan(), jsonSpan(), jsonSpan()];
    const out = await runHostile(
      ctx,
      [
        { value: jsonRequestWithDeepSpan(100_000, deepJson, [goodJson]), headers: { 'content-type': 'application/json' } },
        { value: protobufRequestWithDeepSpan(20_000, deepPb, [goodPb]) },
      ],
      { spans: 3, dead: 1 },
    );
    expect(out.spans.map((s) => s.spanId).sort()).toEqual([deepJson.spanId, goodJson.spanId, goodPb.spanId].sort());
    const kept = out.spans.find((s) => s.spanId === deepJson.spanId)!;
    expect(Object.values(kept.attributes).some((v) => typeof v === 'string' && v.startsWith('{"k":{"k":'))).toBe(true);
    expect(kept.dropped?.truncatedValues).toBe(1);
    const dead = out.dead;
    expect(dead.map((d) => [d.code, d.source, d.headers['content-type']?.toString(), d.headers['mplp-spans']?.toString()])).toEqual([
      ['decode', `${out.raw}/0/1`, 'application/x-protobuf', '1'],
    ]);
  });

  it('item 10: a span with intValue "abc" goes alone to the DLQ, the good span of its message goes on', async () => {
    const [bad, good] = [jsonSpan({ attributes: [{ key: 'n', value: { intValue: 'abc' } }] }), jsonSpan()];
    const out = await runHostile(ctx, [{ value: jsonRequest([bad, good]) }], { spans: 1, dead: 1 });
    expect(out.spans.map((s) => s.spanId)).toEqual([good.spanId]);
    const dead = out.dead;
    expect(dead.map((d) => d.code)).toEqual(['decode']);
    expect(JSON.parse(dead[0].value.toString()).resourceSpans[0].scopeSpans[0].spans.map((s: { spanId: string }) => s.spanId)).toEqual([
      bad.spanId,
    ]);
  });

  it('item 9: an end in 2554 is dead-lettered; clamped counters and cut keys are spans Elasticsearch indexes', async () => {
    const [late, counters, longKey] = [
      jsonSpan({ endTimeUnixNano: '18446744073709551615' }),
      jsonSpan({ droppedAttributesCount: 4294967295, droppedEventsCount: 4294967295 }),
      jsonSpan({ attributes: [{ key: noise(40_000), value: { stringValue: 'v' } }] }),
    ];
    const out = await runHostile(ctx, [{ value: protobufRequest([late, counters, longKey]) }], { spans: 2, dead: 1 });
    expect(out.spans.map((s) => s.spanId).sort()).toEqual([counters.spanId, longKey.spanId].sort());
    const dead = out.dead;
    expect(dead.map((d) => d.code)).toEqual(['timestamps']);
    expect(out.spans.find((s) => s.spanId === counters.spanId)!.dropped).toMatchObject({ attributes: 2 ** 31 - 1, events: 2 ** 31 - 1 });
    // What the indexer would write, with the project's mappings: every document is accepted.
    const es = ctx.es();
    const index = `${ctx.indexPrefix('hostile')}-traces-2024.01.01`;
    await es.indices.create({ index, settings: { number_of_shards: 1, number_of_replicas: 0 }, mappings: traceMappings() as never });
    const res = await es.bulk({
      refresh: true,
      operations: out.spans.flatMap((s) => [{ index: { _index: index, _id: spanDocId(s) } }, s]),
    });
    expect(res.items.map((i) => i.index?.error?.type ?? 'ok')).toEqual(out.spans.map(() => 'ok'));
  });

  it("item 1: MPLP_INGEST_MAX_RECORD_BYTES above an output topic's max.message.bytes stops the process at start, naming the setting", async () => {
    const admin = await ctx.admin();
    const [raw, validated, dlq] = ['raw', 'validated', 'dlq'].map((b) => uniqueName(`test.${b}`));
    await ensureTopics(
      admin,
      [raw, validated, dlq].map((topic) => ({
        topic,
        numPartitions: 1,
        replicationFactor: 1,
        configEntries: [{ name: 'max.message.bytes', value: String(MiB) }],
      })),
    );
    ctx.defer(() => admin.deleteTopics({ topics: [raw, validated, dlq] }).catch(() => undefined));
    const child = spawnIngest(ctx, {
      MPLP_TOPIC_RAW: raw,
      MPLP_TOPIC_VALIDATED: validated,
      MPLP_TOPIC_DLQ: dlq,
      MPLP_INGEST_HTTP_PORT: '0',
      MPLP_LOG_LEVEL: 'warn',
    });
    const { code, stderrLines } = await exitOf(child);
    expect(code).toBe(2);
    expect(stderrLines).toEqual([
      `ingest: invalid setting MPLP_INGEST_MAX_RECORD_BYTES: 8388608 is above max.message.bytes of topic ${validated} (1048576); set it to at most 1048576`,
    ]);
  });
});
