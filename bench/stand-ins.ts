/**
 * Memory of the stand-in records of one refused Kafka batch, decoded the way a consumer gets
 * them (kafkajs' RecordBatch decoder, then its Batch filter): heap and RSS after decoding, the
 * process's peak RSS, and how many records the handler would see.
 *
 *   node --expose-gc dist/bench/stand-ins.js [records=100000] [MPLP_KAFKA_MAX_STAND_IN_RECORDS=10000]
 */
import zlib from 'node:zlib';
import { registerKafkaCodecs } from '../shared/src';

const decodeBatch = require('kafkajs/src/protocol/recordBatch/v0/decoder') as (d: unknown) => Promise<{ records: unknown[] }>;
const Decoder = require('kafkajs/src/protocol/decoder') as new (b: Buffer) => unknown;
const Batch = require('kafkajs/src/consumer/batch') as new (topic: string, fetchedOffset: string, data: unknown) => { messages: unknown[] };

/** A gzip RecordBatch v2 of `count` records whose payload inflates past the 64 KiB cap set below. */
function refusedBatch(count: number): Buffer {
  const payload = zlib.gzipSync(Buffer.alloc(200_000));
  const b = Buffer.alloc(61 + payload.length);
  b.writeInt32BE(b.length - 12, 8);
  b.writeInt8(2, 16);
  b.writeInt16BE(1, 21);
  b.writeInt32BE(count - 1, 23);
  b.writeInt32BE(count, 57);
  payload.copy(b, 61);
  return b;
}

const MB = (n: number) => Math.round(n / 1e5) / 10;

async function main(): Promise<void> {
  const count = Number(process.argv[2] ?? 100_000);
  const cap = Number(process.argv[3] ?? 10_000);
  const gc = (globalThis as { gc?: () => void }).gc;
  if (!gc) throw new Error('run with node --expose-gc');
  registerKafkaCodecs(65_536, cap);
  const batchBytes = refusedBatch(count);
  gc();
  const before = process.memoryUsage();
  const started = performance.now();
  const { records } = await decodeBatch(new Decoder(batchBytes));
  const batch = new Batch('t', '0', { partition: 0, highWatermark: '0', messages: records, abortedTransactions: [] });
  const ms = performance.now() - started;
  gc();
  const after = process.memoryUsage();
  console.log(
    JSON.stringify({
      records: count,
      cap,
      handlerSees: batch.messages.length,
      decodeMs: Math.round(ms),
      heapMB: MB(after.heapUsed - before.heapUsed),
      rssMB: MB(after.rss - before.rss),
      peakRssMB: MB(process.resourceUsage().maxRSS * 1024),
      baselineRssMB: MB(before.rss),
    }),
  );
}

void main();
