/**
 * A load generator of the pipeline bench, in its own process (forked by processes.ts) so its CPU
 * is measured apart from the workers'. Publishes OTLP/protobuf requests of 10 synthetic traces
 * (the load generator's TraceGenerator, stamped now) to MPLP_TOPIC_RAW at the rate the parent
 * sets over IPC, and reports after every send: spans acknowledged so far (acks=all), and one
 * sampled span id per 100 ms tick with the time its request was acknowledged, for the
 * produced → searchable latency.
 *
 * IPC: parent → child `{ rate }` (spans/s, 0 pauses) or `{ stop: true }`;
 * child → parent `{ kind: 'ready' }`, `{ kind: 'progress', acked, samples: [spanIdHex, ackedAtMs][] }`,
 * `{ kind: 'done', acked }`.
 */
import { Partitioners } from 'kafkajs';
import { createKafka, loadConfig, sharedSchema } from '../../shared/src';
import { encodeTraces, TraceGenerator } from '../../ingest/src/loadgen/trace-generator';

const TICK_MS = 100;
const TRACES_PER_MESSAGE = 10;
// One produce request stays well under the broker's 1 MiB per-partition batch (~10 KB a message).
const MESSAGES_PER_SEND = 50;

export type LoadCommand = { rate: number } | { stop: true };
export type LoadReport =
  { kind: 'ready' } | { kind: 'progress'; acked: number; samples: [string, number][] } | { kind: 'done'; acked: number };

function report(r: LoadReport): Promise<void> {
  return new Promise((resolve) => process.send!(r, undefined, {}, () => resolve()));
}

async function main(): Promise<void> {
  const shared = loadConfig(sharedSchema, process.env);
  const kafka = createKafka(shared, `bench-load-${process.argv[2] ?? 0}`);
  const producer = kafka.producer({ allowAutoTopicCreation: false, createPartitioner: Partitioners.DefaultPartitioner });
  await producer.connect();
  const gen = new TraceGenerator({ errorRate: 0.02 });
  let rate = 0;
  let stop = false;
  process.on('message', (m: LoadCommand) => {
    if ('stop' in m) stop = true;
    else rate = m.rate;
  });
  process.on('disconnect', () => (stop = true));
  await report({ kind: 'ready' });
  let owed = 0; // spans the rate asks for and not yet generated
  let acked = 0;
  let last = performance.now();
  while (!stop) {
    const tickStart = performance.now();
    // At most a second of backlog is owed: a generator that cannot keep up shows as a shortfall
    // in produced spans/s rather than as ever larger requests.
    owed = Math.min(owed + (rate * (tickStart - last)) / 1000, Math.max(rate, 1));
    last = tickStart;
    const messages: Buffer[] = [];
    let sample: string | undefined;
    let spans = 0;
    while (owed >= 1) {
      const traces = Array.from({ length: TRACES_PER_MESSAGE }, () => gen.trace(Date.now()));
      sample ??= traces[0][0].spanId.toString('hex');
      const n = traces.reduce((a, t) => a + t.length, 0);
      owed -= n;
      spans += n;
      messages.push(encodeTraces(traces, 'protobuf'));
    }
    let sampleAckedAt = 0;
    for (let i = 0; i < messages.length; i += MESSAGES_PER_SEND) {
      const chunk = messages.slice(i, i + MESSAGES_PER_SEND);
      await producer.send({
        topic: shared.topicRaw,
        acks: -1,
        messages: chunk.map((value) => ({ value, headers: { 'content-type': 'application/x-protobuf' } })),
      });
      sampleAckedAt ||= Date.now(); // the sampled span is in the first request
    }
    if (messages.length) {
      acked += spans;
      void report({ kind: 'progress', acked, samples: sample ? [[sample, sampleAckedAt]] : [] });
    }
    const wait = TICK_MS - (performance.now() - tickStart);
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
  }
  await producer.disconnect();
  await report({ kind: 'done', acked });
}

main().then(
  () => process.exit(0),
  (err) => {
    console.error(`bench load generator: ${(err as Error).stack ?? err}`);
    process.exit(1);
  },
);
