/**
 * The live traffic of bench:aggregator, in its own process like a real upstream: its CPU and GC
 * must not land on the aggregator's main thread being measured. Produces MPLP_BENCH_LIVE_RATE
 * spans/s over MPLP_BENCH_LIVE_SERIES series to the topic in argv[2] for argv[3] seconds, in
 * 200-span messages every 50 ms stamped now, then prints the number of spans sent.
 */
import { createKafka, loadConfig, NormalizedSpan, sharedSchema } from '../shared/src';
import { produceSpans, span } from '../aggregator/test/helpers';
import { loadBenchSettings } from './settings';

async function main(): Promise<void> {
  const [topic, seconds] = [process.argv[2], Number(process.argv[3])];
  const { liveRate: rate, liveSeries: series } = loadBenchSettings({ rounds: 3 });
  const kafka = createKafka(loadConfig(sharedSchema, process.env), 'bench-live');
  const producer = kafka.producer();
  await producer.connect();
  const stopAt = Date.now() + seconds * 1000;
  let i = 0;
  let spans = 0;
  while (Date.now() < stopAt) {
    const tickStart = Date.now();
    const batch: NormalizedSpan[] = [];
    for (let k = 0; k < rate / 20; k++, i++) {
      batch.push(span(`svc-${i % 10}`, `op-${(i >> 3) % (series / 10)}`, Date.now(), 1 + ((i * 7919) % 500), i % 13 === 0));
    }
    await produceSpans(producer, topic, batch, 200);
    spans += batch.length;
    await new Promise((r) => setTimeout(r, Math.max(0, 50 - (Date.now() - tickStart))));
  }
  await producer.disconnect();
  process.stdout.write(`${spans}\n`);
}

main().then(
  () => process.exit(0),
  (err) => {
    console.error(err);
    process.exit(1);
  },
);
