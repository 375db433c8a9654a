/**
 * npm run bench:receiver — requests/s, spans/s and p50/p99 latency of the OTLP receiver for
 * exports of 100 and 1,000 spans over OTLP/HTTP (protobuf) and OTLP/gRPC, side by side with its
 * ceiling: the same payloads, already split per trace, produced straight to Kafka by the same
 * kind of producer (kafkajs, idempotent, acks=all) at the same concurrency. Also shown: the same
 * payloads as one record per request (no split), to price the per-trace split. Each case runs
 * MPLP_BENCH_ROUNDS times (default 3) and reports medians; MPLP_BENCH_MESSAGES is the number of
 * 100-span exports per round (1,000-span exports: a fifth of it).
 */
import http from 'node:http';
import * as grpc from '@grpc/grpc-js';
import { Kafka, Partitioners } from 'kafkajs';
import { createKafka, ensureTopics, loadConfig, sharedSchema } from '../shared/src';
import { uniqueName } from '../shared/testing';
import { createReceiver, splitByTrace, TRACE_SERVICE } from '../receiver/src';
import { encodeTraces, TraceGenerator } from '../ingest/src/loadgen/trace-generator';
import { fmt, median, percentile } from './util';
import { loadBenchSettings } from './settings';

const bench = loadBenchSettings({ rounds: 3, messages: 120 });
const CONCURRENCY = 4;

const shared = loadConfig(sharedSchema, process.env);
const kafka = createKafka(shared, 'bench');

/** Exports of exactly `spans` spans each, made of whole generated traces (the last one trimmed). */
function payloads(count: number, spans: number): Buffer[] {
  const gen = new TraceGenerator({ errorRate: 0.02 });
  return Array.from({ length: count }, () => {
    const traces = [];
    let n = 0;
    while (n < spans) {
      const t = gen.trace(Date.now()).slice(0, spans - n);
      traces.push(t);
      n += t.length;
    }
    return encodeTraces(traces, 'protobuf');
  });
}

type Send = (body: Buffer) => Promise<void>;

/** Sends every payload with CONCURRENCY in flight; per-request latency in ms and the wall time. */
async function drive(bodies: Buffer[], send: Send): Promise<{ lat: number[]; seconds: number }> {
  const lat: number[] = [];
  let next = 0;
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      while (next < bodies.length) {
        const body = bodies[next++];
        const s = performance.now();
        await send(body);
        lat.push(performance.now() - s);
      }
    }),
  );
  return { lat, seconds: (performance.now() - t0) / 1000 };
}

function httpSender(port: number): Send {
  const agent = new http.Agent({ keepAlive: true, maxSockets: CONCURRENCY });
  return (body) =>
    new Promise((resolve, reject) => {
      const req = http.request(
        {
          host: '127.0.0.1',
          port,
          path: '/v1/traces',
          method: 'POST',
          agent,
          headers: { 'content-type': 'application/x-protobuf', 'content-length': body.length },
        },
        (res) => {
          res.resume();
          res.on('end', () => (res.statusCode === 200 ? resolve() : reject(new Error(`receiver answered ${res.statusCode}`))));
        },
      );
      req.on('error', reject);
      req.end(body);
    });
}

function grpcSender(client: grpc.Client): Send {
  return (body) =>
    new Promise((resolve, reject) => {
      client.makeUnaryRequest(
        TRACE_SERVICE.Export.path,
        (b: Buffer) => b,
        (b: Buffer) => b,
        body,
        new grpc.Metadata(),
        (err) => (err ? reject(err) : resolve()),
      );
    });
}

async function kafkaSender(k: Kafka, topic: string, split: boolean): Promise<{ send: Send; close: () => Promise<void> }> {
  const producer = k.producer({
    idempotent: true,
    maxInFlightRequests: 1,
    allowAutoTopicCreation: false,
    createPartitioner: Partitioners.DefaultPartitioner,
  });
  await producer.connect();
  return {
    send: async (body) => {
      const messages = split
        ? splitByTrace(body, 'protobuf').records.map((r) => ({ key: r.key, value: r.value, headers: { 'content-type': r.contentType } }))
        : [{ key: splitByTrace(body, 'protobuf').records[0].key, value: body, headers: { 'content-type': 'application/x-protobuf' } }];
      await producer.send({ topic, acks: -1, messages });
    },
    close: () => producer.disconnect(),
  };
}

async function main() {
  const topic = uniqueName('bench.receiver.raw');
  const admin = kafka.admin();
  await admin.connect();
  await ensureTopics(admin, [{ topic, numPartitions: 6, replicationFactor: 1 }]);
  const { service } = createReceiver({
    ...process.env,
    MPLP_TOPIC_RAW: topic,
    MPLP_RECEIVER_HTTP_PORT: '0',
    MPLP_RECEIVER_GRPC_PORT: '0',
    MPLP_RECEIVER_OPS_PORT: '0',
    MPLP_LOG_LEVEL: 'warn',
  });
  await service.start();
  const ports = service.ports();
  const client = new grpc.Client(`127.0.0.1:${ports.grpc}`, grpc.credentials.createInsecure());
  const direct = await kafkaSender(kafka, topic, true);
  const unsplit = await kafkaSender(kafka, topic, false);
  const rows: string[] = [];
  try {
    for (const spans of [100, 1000]) {
      const count = spans === 100 ? bench.messages : Math.max(10, Math.floor(bench.messages / 5));
      const cases: [string, Send][] = [
        ['receiver OTLP/HTTP', httpSender(ports.http!)],
        ['receiver OTLP/gRPC', grpcSender(client)],
        ['ceiling: Kafka direct, split', direct.send],
        ['Kafka direct, 1 record/request', unsplit.send],
      ];
      const results = new Map<string, { rps: number[]; p50: number[]; p99: number[] }>();
      for (let round = 0; round < bench.rounds; round++) {
        const bodies = payloads(count, spans);
        for (const [name, send] of cases) {
          await drive(bodies.slice(0, CONCURRENCY * 2), send); // warm-up: connections, JIT
          const { lat, seconds } = await drive(bodies, send);
          const r = results.get(name) ?? { rps: [], p50: [], p99: [] };
          r.rps.push(bodies.length / seconds);
          r.p50.push(percentile(lat, 50));
          r.p99.push(percentile(lat, 99));
          results.set(name, r);
        }
      }
      const ceiling = median(results.get('ceiling: Kafka direct, split')!.rps);
      for (const [name, r] of results) {
        const rps = median(r.rps);
        rows.push(
          `| ${spans} | ${name} | ${fmt(rps)} | ${fmt(rps * spans)} | ${fmt(median(r.p50), 1)} | ${fmt(median(r.p99), 1)} | ${fmt(rps / ceiling, 2)} |`,
        );
      }
    }
  } finally {
    client.close();
    await direct.close();
    await unsplit.close();
    await service.stop();
    await admin.deleteTopics({ topics: [topic] }).catch(() => undefined);
    await admin.disconnect();
  }
  console.log(`\nreceiver bench: ${bench.rounds} round(s), medians; concurrency ${CONCURRENCY}; exports of generated traces (protobuf)\n`);
  console.log('| spans/export | path | requests/s | spans/s | p50 ms | p99 ms | ratio to ceiling |');
  console.log('| ---: | --- | ---: | ---: | ---: | ---: | ---: |');
  for (const r of rows) console.log(r);
}

main().then(
  () => process.exit(0),
  (err) => {
    console.error(err);
    process.exit(1);
  },
);
