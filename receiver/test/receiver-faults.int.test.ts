import net from 'node:net';
import path from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { exitOf, kafkaProxy, TestContext, uniqueName, waitFor } from '../../shared/testing';
import { ensureTopics, ExportTraceServiceRequestType } from '../../shared/src';
import { librdkafkaForTests } from '../../ingest/test/helpers';
import { createReceiver, partitionOfKey } from '../src';
import { exportFromChild, grpcExport, startReceiver } from './helpers';

type Req = { resourceSpans?: { scopeSpans?: { spans?: { spanId: Uint8Array }[] }[] }[] };

/** An OTLP/protobuf export of `n` spans of one new trace, padded to about `bytes`. */
function exportBody(n: number, bytes = 0): Buffer {
  const traceId = Buffer.from(Array.from({ length: 16 }, () => Math.floor(Math.random() * 256)));
  const now = BigInt(Date.now()) * 1_000_000n;
  const pad = 'x'.repeat(Math.max(0, Math.floor(bytes / Math.max(n, 1))));
  return Buffer.from(
    ExportTraceServiceRequestType.encode(
      ExportTraceServiceRequestType.fromObject({
        resourceSpans: [
          {
            scopeSpans: [
              {
                spans: Array.from({ length: n }, (_, i) => ({
                  traceId,
                  spanId: Buffer.from((i + 1).toString(16).padStart(16, '0'), 'hex'),
                  name: 'op',
                  kind: 2,
                  startTimeUnixNano: now.toString(),
                  endTimeUnixNano: (now + 1000n).toString(),
                  attributes: pad ? [{ key: 'pad', value: { stringValue: pad } }] : [],
                })),
              },
            ],
          },
        ],
      }),
    ).finish(),
  );
}

describe('OTLP receiver when Kafka is unreachable or stalls (TCP proxy in front of the shared Kafka)', () => {
  const ctx = new TestContext();
  afterAll(() => ctx.cleanup());

  it("answers 503 / UNAVAILABLE with Retry-After and RetryInfo, bounds the bytes in flight (429 past it), and after Kafka returns a retrying OTel exporter's spans all arrive once each", async () => {
    const [raw] = await ctx.topics(['raw'], 3);
    const proxy = await kafkaProxy(ctx);
    const maxInFlight = 128 * 1024;
    const receiver = await startReceiver(
      ctx,
      raw,
      {
        MPLP_RECEIVER_RETRY_AFTER: '1s',
        MPLP_RECEIVER_KAFKA_TIMEOUT: '3s',
        MPLP_RECEIVER_MAX_IN_FLIGHT_BYTES: String(maxInFlight),
      },
      proxy.socketFactory,
    );
    const { http: httpPort, grpc: grpcPort } = receiver.ports();
    const post = (body: Buffer) =>
      fetch(`http://127.0.0.1:${httpPort}/v1/traces`, { method: 'POST', body, headers: { 'content-type': 'application/x-protobuf' } });
    await waitFor('a first export accepted', async () => (await post(exportBody(2))).status === 200);

    // Kafka unreachable: 503 with Retry-After over HTTP, UNAVAILABLE with a RetryInfo detail over gRPC.
    proxy.cut();
    const down = await post(exportBody(2));
    expect(down.status).toBe(503);
    expect(down.headers.get('retry-after')).toBe('1');
    expect(receiver.publisher.ready).toBe(false);
    const client = new grpc.Client(`127.0.0.1:${grpcPort}`, grpc.credentials.createInsecure());
    ctx.defer(() => client.close());
    const grpcErr = (await grpcExport(client, exportBody(2), new grpc.Metadata())).err;
    expect(grpcErr?.code).toBe(grpc.status.UNAVAILABLE);
    const details = grpcErr!.metadata.get('grpc-status-details-bin')[0] as Buffer;
    expect(details.toString('latin1')).toContain('type.googleapis.com/google.rpc.RetryInfo');
    proxy.restore();
    await waitFor('exports accepted again', async () => (await post(exportBody(2))).status === 200, { timeoutMs: 20_000 });

    // Kafka stalls (accepts, never answers): exports hold their bytes until the deadline; past the bound, 429 at once.
    proxy.stall();
    let maxUsed = 0;
    const sampler = setInterval(() => {
      maxUsed = Math.max(maxUsed, receiver.inFlight.budget.used);
    }, 5);
    const storm = await Promise.all(
      Array.from({ length: 12 }, () =>
        post(exportBody(4, 40 * 1024)).then((r) => ({ status: r.status, retryAfter: r.headers.get('retry-after') })),
      ),
    );
    clearInterval(sampler);
    expect(storm.filter((r) => r.status === 200)).toEqual([]);
    expect(storm.filter((r) => r.status === 429).length).toBeGreaterThan(0);
    expect(storm.filter((r) => r.status === 503).length).toBeGreaterThan(0);
    for (const r of storm) expect(r.retryAfter).toBe('1');
    expect(maxUsed).toBeGreaterThan(0);
    expect(maxUsed).toBeLessThanOrEqual(maxInFlight);
    expect(receiver.inFlight.budget.used).toBe(0);
    proxy.restore();
    await waitFor('exports accepted again', async () => (await post(exportBody(2))).status === 200, { timeoutMs: 20_000 });

    // Cut again while the official exporter sends: it retries on 503 (honouring Retry-After) until Kafka is back.
    proxy.cut();
    const unavailable = () =>
      receiver.metrics.exports
        .get()
        .then((m) => m.values.filter((v) => v.labels.outcome === 'unavailable').reduce((n, v) => n + v.value, 0));
    const before = await unavailable();
    const exported = exportFromChild(ctx, {
      kind: 'proto',
      url: `http://127.0.0.1:${httpPort}/v1/traces`,
      compression: 'gzip',
      traces: 4,
      timeoutMillis: 30_000,
    });
    await waitFor('the exporter refused while Kafka is away', async () => (await unavailable()) > before, { timeoutMs: 20_000 });
    proxy.restore();
    const { spans, failed } = await exported;
    expect(failed).toBe(0);
    const { messages } = await ctx.collect(raw);
    const want = new Set(spans.map((s) => s.spanId));
    const seen = () =>
      messages
        .flatMap((m) =>
          (ExportTraceServiceRequestType.decode(m.value!) as Req).resourceSpans!.flatMap((rs) =>
            rs.scopeSpans!.flatMap((ss) => ss.spans!.map((s) => Buffer.from(s.spanId).toString('hex'))),
          ),
        )
        .filter((id) => want.has(id));
    await waitFor('every exported span in the raw topic', () => seen().length >= want.size);
    const ids = seen();
    expect(ids.length).toBe(want.size);
    expect(new Set(ids).size).toBe(want.size);
  });
});

describe('OTLP receiver process stopped with SIGTERM under load', () => {
  const ctx = new TestContext();
  afterAll(() => ctx.cleanup());

  it('answers the exports in flight and exits 0 promptly (keep-alive clients do not hold it), and every export answered 200 is in Kafka', async () => {
    const [raw] = await ctx.topics(['raw'], 3);
    const free = () =>
      new Promise<number>((resolve) => {
        const s = net.createServer().listen(0, '127.0.0.1', () => {
          const p = (s.address() as net.AddressInfo).port;
          s.close(() => resolve(p));
        });
      });
    const [httpPort, grpcPort, opsPort] = [await free(), await free(), await free()];
    const child = ctx.spawnProcess(path.join(__dirname, '..', 'src', 'main.js'), {
      MPLP_TOPIC_RAW: raw,
      MPLP_RECEIVER_HTTP_PORT: String(httpPort),
      MPLP_RECEIVER_GRPC_PORT: String(grpcPort),
      MPLP_RECEIVER_OPS_PORT: String(opsPort),
      MPLP_LOG_LEVEL: 'warn',
    });
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    await waitFor('the receiver ready', async () => (await fetch(`http://127.0.0.1:${opsPort}/readyz`)).status === 200, {
      timeoutMs: 30_000,
    });
    const answered: string[] = [];
    let stop = false;
    const sender = async () => {
      while (!stop) {
        const body = exportBody(20);
        const traceId = Buffer.from(
          (ExportTraceServiceRequestType.decode(body) as { resourceSpans: { scopeSpans: { spans: { traceId: Uint8Array }[] }[] }[] })
            .resourceSpans[0].scopeSpans[0].spans[0].traceId,
        ).toString('hex');
        try {
          const res = await fetch(`http://127.0.0.1:${httpPort}/v1/traces`, {
            method: 'POST',
            body,
            headers: { 'content-type': 'application/x-protobuf' },
          });
          await res.arrayBuffer();
          if (res.status === 200) answered.push(traceId);
        } catch {
          stop = true;
        }
      }
    };
    const senders = Array.from({ length: 6 }, () => sender());
    await waitFor('exports flowing', () => answered.length >= 20);
    const signalled = Date.now();
    child.kill('SIGTERM');
    expect(await exited).toBe(0);
    // Well under the 30 s keep-alive timeout: connections busy at SIGTERM are closed by their answer.
    expect(Date.now() - signalled).toBeLessThan(10_000);
    stop = true;
    await Promise.all(senders);
    const { messages } = await ctx.collect(raw);
    const inKafka = new Set<string>();
    await waitFor('every answered export in the raw topic', () => {
      for (const m of messages) inKafka.add(m.key!.toString());
      return answered.every((t) => inKafka.has(t));
    });
  });
});

describe('OTLP receiver producing with librdkafka (MPLP_RECEIVER_PRODUCER=librdkafka)', () => {
  const ctx = new TestContext();
  afterAll(() => ctx.cleanup());

  it('puts an export of many traces in one record per partition, each trace whole in the partition its id hashes to', async () => {
    if (!librdkafkaForTests()) return;
    const [raw] = await ctx.topics(['raw'], 3);
    const receiver = await startReceiver(ctx, raw, { MPLP_RECEIVER_PRODUCER: 'librdkafka' });
    expect(receiver.publisher.kind).toBe('librdkafka');
    const traces = Array.from({ length: 12 }, () => ExportTraceServiceRequestType.decode(exportBody(3)) as Req);
    const body = Buffer.from(
      ExportTraceServiceRequestType.encode({ resourceSpans: traces.flatMap((t) => t.resourceSpans ?? []) } as never).finish(),
    );
    const res = await fetch(`http://127.0.0.1:${receiver.ports().http}/v1/traces`, {
      method: 'POST',
      body,
      headers: { 'content-type': 'application/x-protobuf' },
    });
    expect(res.status).toBe(200);
    const got: { partition: number; key: string; traceIds: Set<string> }[] = [];
    const consumer = ctx.kafka('test-consumer').consumer({ groupId: uniqueName('test-group') });
    await consumer.connect();
    ctx.defer(() => consumer.disconnect());
    await consumer.subscribe({ topic: raw, fromBeginning: true });
    await consumer.run({
      eachMessage: async ({ partition, message }) => {
        const req = ExportTraceServiceRequestType.decode(message.value!) as unknown as {
          resourceSpans: { scopeSpans: { spans: { traceId: Uint8Array }[] }[] }[];
        };
        const traceIds = new Set(
          req.resourceSpans.flatMap((rs) => rs.scopeSpans.flatMap((ss) => ss.spans.map((s) => Buffer.from(s.traceId).toString('hex')))),
        );
        got.push({ partition, key: message.key!.toString(), traceIds });
      },
    });
    await waitFor('36 spans of 12 traces in the raw topic', () => got.reduce((n, r) => n + r.traceIds.size, 0) >= 12);
    expect(got.length).toBeLessThanOrEqual(3);
    expect(new Set(got.map((r) => r.partition)).size).toBe(got.length);
    for (const r of got) {
      expect(partitionOfKey(r.key, 3)).toBe(r.partition);
      for (const t of r.traceIds) expect(partitionOfKey(t, 3)).toBe(r.partition);
    }
  });

  it('answers 503 with Retry-After and gRPC UNAVAILABLE while no broker answers, and stops promptly', async () => {
    if (!librdkafkaForTests()) return;
    const closed = await new Promise<number>((resolve) => {
      const s = net.createServer().listen(0, '127.0.0.1', () => {
        const p = (s.address() as net.AddressInfo).port;
        s.close(() => resolve(p));
      });
    });
    const { service } = createReceiver({
      ...process.env,
      MPLP_KAFKA_BROKERS: `127.0.0.1:${closed}`,
      MPLP_RECEIVER_PRODUCER: 'librdkafka',
      MPLP_RECEIVER_RECORDS: 'trace',
      MPLP_RECEIVER_KAFKA_TIMEOUT: '2s',
      MPLP_RECEIVER_RETRY_AFTER: '1s',
      MPLP_RECEIVER_HTTP_PORT: '0',
      MPLP_RECEIVER_GRPC_PORT: '0',
      MPLP_RECEIVER_OPS_PORT: '0',
      MPLP_LOG_LEVEL: 'silent',
    });
    let stopped = false;
    ctx.defer(() => (stopped ? undefined : service.stop()));
    await service.start();
    const { http: httpPort, grpc: grpcPort } = service.ports();
    for (let i = 0; i < 2; i++) {
      // The first is refused during the cooldown after the failed start, the second after its own deadline.
      if (i === 1) await waitFor('the cooldown over', () => service.publisher.ready);
      const res = await fetch(`http://127.0.0.1:${httpPort}/v1/traces`, {
        method: 'POST',
        body: exportBody(2),
        headers: { 'content-type': 'application/x-protobuf' },
      });
      expect(res.status).toBe(503);
      expect(res.headers.get('retry-after')).toBe('1');
    }
    const client = new grpc.Client(`127.0.0.1:${grpcPort}`, grpc.credentials.createInsecure());
    const err = (await grpcExport(client, exportBody(2), new grpc.Metadata())).err;
    client.close();
    expect(err?.code).toBe(grpc.status.UNAVAILABLE);
    const stopping = Date.now();
    await service.stop();
    stopped = true;
    expect(Date.now() - stopping).toBeLessThan(5_000);
  });
});

describe('OTLP receiver whose request cap the raw topic cannot take', () => {
  const ctx = new TestContext();
  afterEach(() => ctx.cleanup());

  it("stops at start with one line naming MPLP_RECEIVER_MAX_REQUEST_BYTES when it is above the raw topic's max.message.bytes", async () => {
    const admin = await ctx.admin();
    const raw = uniqueName('test.raw');
    await ensureTopics(admin, [
      { topic: raw, numPartitions: 1, replicationFactor: 1, configEntries: [{ name: 'max.message.bytes', value: '1048576' }] },
    ]);
    ctx.defer(() => admin.deleteTopics({ topics: [raw] }).catch(() => undefined));
    const child = ctx.spawnProcess(path.join(__dirname, '..', 'src', 'main.js'), {
      MPLP_TOPIC_RAW: raw,
      MPLP_RECEIVER_MAX_REQUEST_BYTES: String(2 * 1048576),
      MPLP_RECEIVER_HTTP_PORT: '0',
      MPLP_RECEIVER_GRPC_PORT: '0',
      MPLP_RECEIVER_OPS_PORT: '0',
      MPLP_LOG_LEVEL: 'warn',
    });
    const { code, stderrLines } = await exitOf(child);
    expect(code).toBe(2);
    expect(stderrLines).toEqual([
      `receiver: invalid setting MPLP_RECEIVER_MAX_REQUEST_BYTES: 2097152 is above max.message.bytes of topic ${raw} (1048576); set it to at most 1048576`,
    ]);
  });
});
