/**
 * Load generator: publishes synthetic traces to the raw topic at a set rate (spans/s), in
 * OTLP/protobuf, OTLP/JSON or both, with an optional share of bad input. Prints progress on a
 * terminal (a log line otherwise) and a final summary.
 */
import { Partitioners } from 'kafkajs';
import { ConfigError, createKafka, loadProcessConfig, setting } from '../../../shared/src';
import { badMessage, encodeTraces, TraceGenerator } from './trace-generator';

export const loadgenSchema = {
  rate: setting.int('MPLP_LOADGEN_RATE', 1000, 'spans per second', { min: 1 }),
  durationMs: setting.duration('MPLP_LOADGEN_DURATION', 60_000, 'how long to publish (0 = until Ctrl-C)', { min: 0 }),
  encoding: setting.oneOf('MPLP_LOADGEN_ENCODING', 'mixed', ['protobuf', 'json', 'mixed'] as const, 'OTLP encoding of the messages'),
  errorRate: setting.number('MPLP_LOADGEN_ERROR_RATE', 0.02, 'share of spans with status ERROR', { min: 0, max: 1 }),
  badShare: setting.number('MPLP_LOADGEN_BAD_SHARE', 0.001, 'share of messages that are invalid input (end in the DLQ)', {
    min: 0,
    max: 1,
  }),
  tracesPerMessage: setting.int('MPLP_LOADGEN_TRACES_PER_MESSAGE', 10, 'traces in one OTLP request', { min: 1, max: 10_000 }),
};

async function main(): Promise<void> {
  const { shared, own } = loadProcessConfig(process.env, 'MPLP_LOADGEN_', loadgenSchema);
  const kafka = createKafka(shared, 'loadgen');
  const producer = kafka.producer({ allowAutoTopicCreation: false, createPartitioner: Partitioners.DefaultPartitioner });
  await producer.connect();
  const gen = new TraceGenerator({ errorRate: own.errorRate });
  const started = Date.now();
  let spans = 0,
    messages = 0,
    bad = 0,
    bytes = 0,
    stop = false;
  process.once('SIGINT', () => {
    stop = true;
  });
  process.once('SIGTERM', () => {
    stop = true;
  });
  const tty = process.stdout.isTTY;
  let lastReport = started;
  const tickMs = 100;
  while (!stop && (own.durationMs === 0 || Date.now() - started < own.durationMs)) {
    const tickStart = Date.now();
    const target = Math.floor(((tickStart - started + tickMs) / 1000) * own.rate);
    const msgs: { value: Buffer; headers?: Record<string, string> }[] = [];
    while (spans < target) {
      if (Math.random() < own.badShare) {
        const b = badMessage(Math.random);
        msgs.push({ value: b.value, headers: b.contentType ? { 'content-type': b.contentType } : undefined });
        bad++;
        continue;
      }
      const traces = Array.from({ length: own.tracesPerMessage }, () => gen.trace(Date.now()));
      const encoding = own.encoding === 'mixed' ? (Math.random() < 0.5 ? 'protobuf' : 'json') : own.encoding;
      const value = encodeTraces(traces, encoding);
      msgs.push({ value, headers: { 'content-type': encoding === 'json' ? 'application/json' : 'application/x-protobuf' } });
      spans += traces.reduce((n, t) => n + t.length, 0);
    }
    if (msgs.length) {
      await producer.send({ topic: shared.topicRaw, acks: -1, messages: msgs });
      messages += msgs.length;
      bytes += msgs.reduce((n, m) => n + m.value.length, 0);
    }
    if (Date.now() - lastReport >= (tty ? 1000 : 10_000)) {
      lastReport = Date.now();
      const line = `loadgen: ${spans} spans in ${messages} messages (${bad} bad), ${Math.round(spans / ((Date.now() - started) / 1000))} spans/s`;
      if (tty) process.stdout.write(`\r${line}   `);
      else console.log(line);
    }
    const wait = tickMs - (Date.now() - tickStart);
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
  }
  await producer.disconnect();
  const secs = (Date.now() - started) / 1000;
  if (tty) process.stdout.write('\n');
  console.log(
    `loadgen: done: ${spans} spans in ${messages} messages (${bad} bad input), ${(bytes / 1048576).toFixed(1)} MiB, ${secs.toFixed(1)} s, ${Math.round(spans / secs)} spans/s to ${shared.topicRaw}`,
  );
}

if (require.main === module) {
  main().catch((err) => {
    if (err instanceof ConfigError) {
      process.stderr.write(`loadgen: invalid setting ${err.message}\n`);
      process.exit(2);
    }
    process.stderr.write(`loadgen: ${(err as Error).message}\n`);
    process.exit(1);
  });
}
