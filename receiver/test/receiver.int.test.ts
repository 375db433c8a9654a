import { readFileSync } from 'node:fs';
import https from 'node:https';
import { gzipSync } from 'node:zlib';
import * as grpc from '@grpc/grpc-js';
import type { IHeaders } from 'kafkajs';
import { selfSignedCert, TestContext, uniqueName, waitFor } from '../../shared/testing';
import { ensureIndexTemplates, ExportTraceServiceRequestType, ExportTraceServiceResponseType, NormalizedSpan } from '../../shared/src';
import { ingestTopics, spansOf, startIngest } from '../../ingest/test/helpers';
import { startIndexer } from '../../indexer/test/helpers';
import { KafkaSpanExporter } from '../../exporters/kafka-span-exporter/src';
import { partitionOfKey } from '../src';
import { exportFromChild, exportSdkTraces, expectSameSpans, grpcExport, SdkSpanView, startReceiver } from './helpers';

const TOKEN = 'receiver-test-token';
/** The raw topic's partitions, as ingestTopics creates it. */
const RAW_PARTITIONS = 3;

type RawMessage = { key: Buffer | null; value: Buffer | null; headers?: IHeaders; partition: number };

/** Every record of the topic, with the partition it is in. */
async function collectWithPartitions(ctx: TestContext, topic: string): Promise<RawMessage[]> {
  const consumer = ctx.kafka('test-consumer').consumer({ groupId: uniqueName('test-group') });
  await consumer.connect();
  ctx.defer(() => consumer.disconnect());
  await consumer.subscribe({ topic, fromBeginning: true });
  const messages: RawMessage[] = [];
  await consumer.run({ eachMessage: async ({ partition, message }) => void messages.push({ ...message, partition }) });
  return messages;
}

/** The trace ids (hex) of the spans in a raw record, OTLP/JSON or OTLP/protobuf by its content-type. */
function traceIdsOf(m: RawMessage): Set<string> {
  type Req = { resourceSpans?: { scopeSpans?: { spans?: { traceId: Uint8Array | string }[] }[] }[] };
  const json = String(m.headers?.['content-type'] ?? '').includes('json');
  const req = (json ? JSON.parse(m.value!.toString()) : ExportTraceServiceRequestType.decode(m.value!)) as Req;
  const ids = (req.resourceSpans ?? []).flatMap((rs) =>
    (rs.scopeSpans ?? []).flatMap((ss) =>
      (ss.spans ?? []).map((s) => (typeof s.traceId === 'string' ? s.traceId.toLowerCase() : Buffer.from(s.traceId).toString('hex'))),
    ),
  );
  return new Set(ids);
}

describe('OTLP receiver on the real Kafka, read by the real ingest and indexer into Elasticsearch', () => {
  const ctx = new TestContext();
  let raw: string;
  let rawMessages: RawMessage[];
  let validated: { value: Buffer | null }[];
  let ports: ReturnType<Awaited<ReturnType<typeof startReceiver>>['ports']>;
  let prefix: string;
  beforeAll(async () => {
    const topics = await ingestTopics(ctx);
    raw = topics.raw;
    await startIngest(ctx, topics.env);
    prefix = ctx.indexPrefix('test-recv');
    await ensureIndexTemplates(ctx.es(), prefix);
    await startIndexer(ctx, {
      ...topics.env,
      MPLP_INDEXER_TOPICS: 'spans',
      MPLP_INDEX_PREFIX: prefix,
      MPLP_INDEXER_GROUP_ID: uniqueName('test-recv-indexer'),
      MPLP_INDEXER_HTTP_PORT: '0',
      MPLP_INDEXER_QUERY_PORT: '0',
      MPLP_INDEXER_UI_LIVE: 'false',
    });
    ports = (await startReceiver(ctx, raw, { MPLP_RECEIVER_TOKEN: TOKEN, MPLP_RECEIVER_MAX_REQUEST_BYTES: String(256 * 1024) })).ports();
    rawMessages = await collectWithPartitions(ctx, raw);
    validated = (await ctx.collect(topics.validated)).messages;
  }, 120_000);
  afterAll(() => ctx.cleanup());

  const spansOfTraces = (traceIds: Set<string>) => spansOf(validated).filter((s) => traceIds.has(s.traceId));
  const auth = { Authorization: `Bearer ${TOKEN}` };

  async function expectDelivered(sdk: SdkSpanView[]) {
    const ids = new Set(sdk.map((s) => s.traceId));
    const out = await waitFor(
      `${sdk.length} validated spans`,
      () => {
        const s = spansOfTraces(ids);
        return s.length >= sdk.length ? s : undefined;
      },
      { timeoutMs: 30_000 },
    );
    expectSameSpans(out, sdk);
    // And in Elasticsearch, as the indexer wrote them: every field as the SDK recorded it.
    const es = ctx.es();
    const indexed = await waitFor(
      `${sdk.length} spans in Elasticsearch`,
      async () => {
        await es.indices.refresh({ index: `${prefix}-traces-*`, ignore_unavailable: true, allow_no_indices: true } as never);
        const r = await es.search<NormalizedSpan>({
          index: `${prefix}-traces-*`,
          size: 1000,
          query: { terms: { traceId: [...ids] } },
          ignore_unavailable: true,
          allow_no_indices: true,
        } as never);
        const docs = r.hits.hits.map((h) => h._source!);
        return docs.length >= sdk.length ? docs : undefined;
      },
      { timeoutMs: 30_000 },
    );
    expectSameSpans(indexed, sdk);
    // Each trace whole in one raw record, in the partition its id hashes to, though the SDK sent
    // all the traces in one request (records hold the traces of one partition, keyed by one of them).
    for (const id of ids) {
      const holding = rawMessages.filter((m) => traceIdsOf(m).has(id));
      expect(holding).toHaveLength(1);
      expect(holding[0].partition).toBe(partitionOfKey(id, RAW_PARTITIONS));
      expect(partitionOfKey(holding[0].key!.toString(), RAW_PARTITIONS)).toBe(holding[0].partition);
    }
  }

  it.each([
    ['proto', 'none'],
    ['proto', 'gzip'],
    ['http', 'none'],
    ['http', 'gzip'],
    ['grpc', 'none'],
    ['grpc', 'gzip'],
  ] as const)(
    'the official exporter-trace-otlp-%s (compression %s): its spans reach the validated topic and Elasticsearch with every field right, each trace whole in its partition',
    async (kind, compression) => {
      const url = kind === 'grpc' ? `http://127.0.0.1:${ports.grpc}` : `http://127.0.0.1:${ports.http}/v1/traces`;
      const { spans, failed } = await exportFromChild(ctx, { kind, url, token: TOKEN, compression, traces: 3 });
      expect(failed).toBe(0);
      await expectDelivered(spans);
    },
  );

  it('KafkaSpanExporter: spans written straight to Kafka reach the validated topic and Elasticsearch with every field right, keyed by trace', async () => {
    const exporter = new KafkaSpanExporter({ kafka: ctx.kafka('kafka-span-exporter'), topic: raw });
    await expectDelivered(await exportSdkTraces(exporter, 3));
  });

  const post = (body: Buffer | string, headers: Record<string, string>) =>
    fetch(`http://127.0.0.1:${ports.http}/v1/traces`, { method: 'POST', body, headers: { ...auth, ...headers } });
  const status = async (res: Response) => ({ status: res.status, retryAfter: res.headers.get('retry-after') });

  it('refuses what the OTLP spec says to refuse: 400 undecodable, 401 no token, 413 over the cap (also a gzip bomb), 415 other types', async () => {
    expect(await status(await post(Buffer.from([0x0a, 0xff, 0xff, 0xff]), { 'content-type': 'application/x-protobuf' }))).toEqual({
      status: 400,
      retryAfter: null,
    });
    expect((await post('{"resourceSpans": 3', { 'content-type': 'application/json' })).status).toBe(400);
    expect((await post('{"resourceSpans": {}}', { 'content-type': 'application/json' })).status).toBe(400);
    expect((await post(Buffer.from('not gzip'), { 'content-type': 'application/x-protobuf', 'content-encoding': 'gzip' })).status).toBe(
      400,
    );
    const noToken = await fetch(`http://127.0.0.1:${ports.http}/v1/traces`, {
      method: 'POST',
      body: '{}',
      headers: { 'content-type': 'application/json', authorization: 'Bearer wrong' },
    });
    expect(noToken.status).toBe(401);
    expect((await post('x', { 'content-type': 'text/plain' })).status).toBe(415);
    expect((await post('x', { 'content-type': 'application/x-protobuf', 'content-encoding': 'br' })).status).toBe(415);
    expect((await post(Buffer.alloc(300 * 1024), { 'content-type': 'application/x-protobuf' })).status).toBe(413);
    // 100 MB of zeros is ~100 KB of gzip: under the cap on the wire, refused once inflating passes it.
    const bomb = gzipSync(Buffer.alloc(100 * 1024 * 1024));
    expect(bomb.length).toBeLessThan(256 * 1024);
    const refused = await post(bomb, { 'content-type': 'application/x-protobuf', 'content-encoding': 'gzip' });
    expect(refused.status).toBe(413);
    // The body is a protobuf google.rpc.Status whose message names the setting.
    expect(Buffer.from(await refused.arrayBuffer()).toString('latin1')).toContain('MPLP_RECEIVER_MAX_REQUEST_BYTES');
  });

  it('answers partial success for spans without a valid trace id and delivers the rest (HTTP JSON and gRPC)', async () => {
    const good = 'ab'.repeat(16);
    const span = (traceId: string, spanId: string) => ({
      traceId,
      spanId,
      name: 'op',
      kind: 2,
      startTimeUnixNano: String(BigInt(Date.now()) * 1_000_000n),
      endTimeUnixNano: String(BigInt(Date.now() + 1) * 1_000_000n),
    });
    const body = {
      resourceSpans: [
        {
          resource: { attributes: [{ key: 'service.name', value: { stringValue: 'partial' } }] },
          scopeSpans: [
            {
              scope: { name: 's' },
              spans: [span(good, '0102030405060708'), span('00'.repeat(16), '0102030405060709'), span('zz', '010203040506070a')],
            },
          ],
        },
      ],
    };
    const res = await post(JSON.stringify(body), { 'content-type': 'application/json' });
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ partialSuccess: { rejectedSpans: '2', errorMessage: expect.stringContaining('trace id') } });

    const client = new grpc.Client(`127.0.0.1:${ports.grpc}`, grpc.credentials.createInsecure());
    ctx.defer(() => client.close());
    const meta = new grpc.Metadata();
    meta.set('authorization', auth.Authorization);
    const call = (payload: Buffer) => grpcExport(client, payload, meta);
    const proto = Buffer.from(
      ExportTraceServiceRequestType.encode(
        ExportTraceServiceRequestType.fromObject({
          resourceSpans: [
            {
              scopeSpans: [
                {
                  spans: [
                    {
                      traceId: Buffer.from('cd'.repeat(16), 'hex'),
                      spanId: Buffer.from('0102030405060708', 'hex'),
                      name: 'op',
                      startTimeUnixNano: 1,
                      endTimeUnixNano: 2,
                    },
                    { traceId: Buffer.alloc(3), spanId: Buffer.alloc(8, 1), name: 'bad' },
                  ],
                },
              ],
            },
          ],
        }),
      ).finish(),
    );
    const ok = await call(proto);
    expect(ok.err).toBeNull();
    expect(ExportTraceServiceResponseType.toObject(ExportTraceServiceResponseType.decode(ok.res!), { longs: Number })).toEqual({
      partialSuccess: { rejectedSpans: 1, errorMessage: expect.stringContaining('trace id') },
    });
    const bad = await call(Buffer.from([0x0a, 0xff, 0xff, 0xff]));
    expect(bad.err?.code).toBe(grpc.status.INVALID_ARGUMENT);
    const unauth = (await grpcExport(client, proto, new grpc.Metadata())).err;
    expect(unauth?.code).toBe(grpc.status.UNAUTHENTICATED);
    const big = await call(Buffer.alloc(300 * 1024));
    expect(big.err?.code).toBe(grpc.status.RESOURCE_EXHAUSTED);
    await waitFor(
      'the good spans in the raw topic',
      () => rawMessages.some((m) => m.key?.toString() === good) && rawMessages.some((m) => m.key?.toString() === 'cd'.repeat(16)),
    );
  });
});

describe('OTLP receiver with TLS and a token', () => {
  const ctx = new TestContext();
  afterAll(() => ctx.cleanup());

  it('serves OTLP/HTTP and OTLP/gRPC over TLS with the configured certificate, and only to the right bearer token', async () => {
    const { cert, key } = selfSignedCert(ctx);
    const [raw] = await ctx.topics(['raw'], 1);
    const receiver = await startReceiver(ctx, raw, {
      MPLP_RECEIVER_TOKEN: TOKEN,
      MPLP_RECEIVER_TLS_CERT_FILE: cert,
      MPLP_RECEIVER_TLS_KEY_FILE: key,
    });
    const { http: httpPort, grpc: grpcPort } = receiver.ports();
    const ca = readFileSync(cert);
    const traceId = (b: number) => Buffer.alloc(16, b);
    const body = (b: number) =>
      Buffer.from(
        ExportTraceServiceRequestType.encode(
          ExportTraceServiceRequestType.fromObject({
            resourceSpans: [
              {
                scopeSpans: [
                  { spans: [{ traceId: traceId(b), spanId: Buffer.alloc(8, 1), name: 'op', startTimeUnixNano: 1, endTimeUnixNano: 2 }] },
                ],
              },
            ],
          }),
        ).finish(),
      );
    const post = (authorization: string) =>
      new Promise<{ status: number; wwwAuth?: string }>((resolve, reject) => {
        const req = https.request(
          {
            host: '127.0.0.1',
            port: httpPort,
            path: '/v1/traces',
            method: 'POST',
            ca,
            headers: { 'content-type': 'application/x-protobuf', authorization },
          },
          (res) => {
            res.resume();
            res.on('end', () => resolve({ status: res.statusCode!, wwwAuth: res.headers['www-authenticate'] as string | undefined }));
          },
        );
        req.on('error', reject);
        req.end(body(0x11));
      });
    const wrong = await post(`Bearer ${TOKEN}x`);
    expect(wrong.status).toBe(401);
    expect(wrong.wwwAuth).toMatch(/^Bearer/);
    expect((await post(`Basic ${TOKEN}`)).status).toBe(401);
    expect((await post(`Bearer ${TOKEN}`)).status).toBe(200);
    await expect(fetch(`http://127.0.0.1:${httpPort}/v1/traces`, { method: 'POST', body: body(0x11) })).rejects.toThrow();

    const client = new grpc.Client(`127.0.0.1:${grpcPort}`, grpc.credentials.createSsl(ca), {
      'grpc.ssl_target_name_override': 'localhost',
    });
    ctx.defer(() => client.close());
    const meta = new grpc.Metadata();
    meta.set('authorization', `Bearer ${TOKEN}`);
    const err = (await grpcExport(client, body(0x22), meta)).err;
    expect(err).toBeNull();
    const { messages } = await ctx.collect(raw);
    await waitFor('both exports in the raw topic', () => messages.length >= 2);
    expect(messages.map((m) => m.key!.toString()).sort()).toEqual([traceId(0x11).toString('hex'), traceId(0x22).toString('hex')]);
  });
});
