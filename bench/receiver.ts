/**
 * npm run bench:receiver — requests/s, traces/s, spans/s and p50/p99 latency of the OTLP receiver
 * for exports of 100 and 1,000 spans over OTLP/HTTP (protobuf) and OTLP/gRPC, side by side with
 * its ceiling: the same payloads turned into the same records (MPLP_RECEIVER_RECORDS: one per
 * destination partition, or one per trace) by the same function and produced straight to Kafka,
 * one export after the other per in-flight slot, by the same kind of producer
 * (MPLP_RECEIVER_PRODUCER; idempotent, acks=all) at the same concurrency: the receiver minus
 * HTTP/gRPC and its queue. Each case runs MPLP_BENCH_ROUNDS times (default 3) and reports
 * medians; MPLP_BENCH_MESSAGES is the number of 100-span exports per round (1,000-span exports: a
 * fifth of it).
 */
import http from 'node:http';
import * as grpc from '@grpc/grpc-js';
import { createKafka, createLogger, ensureTopics, loadProcessConfig } from '../shared/src';
import { createOutputProducer, OutputProducer } from '../shared/src/output-producer';
import { uniqueName } from '../shared/testing';
import { createReceiver, decodeExport, receiverSchema, splitExport, TRACE_SERVICE } from '../receiver/src';
import { encodeTraces, TraceGenerator } from '../ingest/src/loadgen/trace-generator';
import { fmt, median, percentile } from './util';
import { loadBenchSettings } from './settings';

// 2,000 exports of 100 spans, 400 of 1,000: a case runs for seconds, not the tenth of a second that let warm-up and noise decide.
const bench = loadBenchSettings({ rounds: 3, messages: 2000 });
const CONCURRENCY = bench.concurrency;

const { shared, own: receiverSettings } = loadProcessConfig(process.env, 'MPLP_RECEIVER_', receiverSchema);
const kafka = createKafka(shared, 'bench');
const PARTITIONS = 6;

/** Exports of exactly `spans` spans each, made of whole generated traces (the last one trimmed), and how many traces they hold. */
function payloads(count: number, spans: number): { bodies: Buffer[]; traces: number } {
  const gen = new TraceGenerator({ errorRate: 0.02 });
  let total = 0;
  const bodies = Array.from({ length: count }, () => {
    const traces = [];
    let n = 0;
    while (n < spans) {
      const t = gen.trace(Date.now()).slice(0, spans - n);
      traces.push(t);
      n += t.length;
    }
    total += traces.length;
    return encodeTraces(traces, 'protobuf');
  });
  return { bodies, traces: total };
}

type Send = (body: Buffer) => Promise<void>;

/** Sends every payload with CONCURRENCY in flight; per-request latency in ms, the wall time and the CPU used. */
async function drive(bodies: Buffer[], send: Send): Promise<{ lat: number[]; seconds: number; cpu: number }> {
  const lat: number[] = [];
  let next = 0;
  const t0 = performance.now();
  const cpu0 = process.cpuUsage();
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
  const cpu = process.cpuUsage(cpu0);
  const seconds = (performance.now() - t0) / 1000;
  // This process's CPU (the client, the receiver or the ceiling's producer) in cores: 1.0 is its event loop saturated.
  return { lat, seconds, cpu: (cpu.user + cpu.system) / 1e6 / seconds };
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

/** The ceiling: the receiver's records, produced straight to Kafka by the producer kind it uses. */
async function kafkaSender(topic: string): Promise<{ send: Send; close: () => Promise<void>; kind: string }> {
  const producer: OutputProducer = createOutputProducer(
    receiverSettings.producer,
    kafka,
    shared,
    createLogger({ name: 'bench', level: 'warn' }),
    8 * 1024 * 1024,
    { setting: 'MPLP_RECEIVER_PRODUCER', role: 'bench', idempotent: true, librdkafka: { 'message.timeout.ms': 10_000 } },
  );
  await producer.connect();
  const partitions = receiverSettings.records === 'partition' ? PARTITIONS : undefined;
  return {
    kind: producer.kind,
    send: async (body) => {
      const { records } = splitExport(decodeExport(body, 'protobuf'), body, 'protobuf', partitions);
      const messages = records.map((r) => ({ key: r.key, value: r.value, headers: { 'content-type': r.contentType } }));
      await producer.send([{ topic, messages }]);
    },
    close: () => producer.disconnect(),
  };
}

async function main() {
  const topic = uniqueName('bench.receiver.raw');
  const admin = kafka.admin();
  await admin.connect();
  await ensureTopics(admin, [{ topic, numPartitions: PARTITIONS, replicationFactor: 1 }]);
  const { service } = createReceiver({
    ...process.env,
    MPLP_TOPIC_RAW: topic,
    MPLP_RECEIVER_HTTP_PORT: '0',
    MPLP_RECEIVER_GRPC_PORT: '0',
    MPLP_RECEIVER_OPS_PORT: '0',
    MPLP_LOG_LEVEL: 'warn',
  });
  await service.start();
  const receiverKind = service.publisher.kind;
  const ports = service.ports();
  const client = new grpc.Client(`127.0.0.1:${ports.grpc}`, grpc.credentials.createInsecure());
  const direct = await kafkaSender(topic);
  const rows: string[] = [];
  try {
    for (const spans of [100, 1000]) {
      const count = spans === 100 ? bench.messages : Math.max(10, Math.floor(bench.messages / 5));
      const cases: [string, Send][] = [
        ['receiver OTLP/HTTP', httpSender(ports.http!)],
        ['receiver OTLP/gRPC', grpcSender(client)],
        ['ceiling: Kafka direct', direct.send],
      ];
      const results = new Map<string, { rps: number[]; tps: number[]; p50: number[]; p99: number[]; cpu: number[] }>();
      for (let round = 0; round < bench.rounds; round++) {
        const { bodies, traces } = payloads(count, spans);
        for (const [name, send] of cases) {
          await drive(bodies.slice(0, CONCURRENCY * 2), send); // warm-up: connections, JIT
          const { lat, seconds, cpu } = await drive(bodies, send);
          const r = results.get(name) ?? { rps: [], tps: [], p50: [], p99: [], cpu: [] };
          r.cpu.push(cpu);
          r.rps.push(bodies.length / seconds);
          r.tps.push(traces / seconds);
          r.p50.push(percentile(lat, 50));
          r.p99.push(percentile(lat, 99));
          results.set(name, r);
        }
      }
      const ceiling = median(results.get('ceiling: Kafka direct')!.rps);
      for (const [name, r] of results) {
        const rps = median(r.rps);
        rows.push(
          `| ${spans} | ${name} | ${fmt(rps)} | ${fmt(median(r.tps))} | ${fmt(rps * spans)} | ${fmt(median(r.p50), 1)} | ${fmt(median(r.p99), 1)} | ${fmt(rps / ceiling, 2)} | ${fmt(median(r.cpu), 2)} |`,
        );
      }
    }
  } finally {
    client.close();
    await direct.close();
    await service.stop();
    await admin.deleteTopics({ topics: [topic] }).catch(() => undefined);
    await admin.disconnect();
  }
  console.log(
    `\nreceiver bench: ${bench.rounds} round(s), medians; concurrency ${CONCURRENCY}; exports of generated traces (protobuf); ` +
      `producer ${direct.kind} (receiver: ${receiverKind}), records per ${receiverSettings.records}, ${PARTITIONS} partitions\n`,
  );
  console.log('| spans/export | path | requests/s | traces/s | spans/s | p50 ms | p99 ms | ratio to ceiling | bench process CPU (cores) |');
  console.log('| ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |');
  for (const r of rows) console.log(r);
}

main().then(
  () => process.exit(0),
  (err) => {
    console.error(err);
    process.exit(1);
  },
);
