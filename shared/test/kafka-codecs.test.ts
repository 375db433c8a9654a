import { execFileSync } from 'node:child_process';
import zlib from 'node:zlib';
import { CompressionCodecs, CompressionTypes } from 'kafkajs';
import {
  gzipCodec,
  HEADER_KAFKA_BATCH_ERROR,
  kafkaBatchError,
  lz4Codec,
  registerKafkaCodecs,
  snappyCodec,
  standInDeadLetterHeaders,
  zstdCodec,
  zstdFrameLimits,
  InvalidInputError,
} from '../src';

// Made with: head -c 8388608 /dev/zero | zstd -19 -q -c --zstd=wlog=17 | base64 -w0
// A 436-byte frame with a 128 KiB window that expands to 8 MiB: only counting the output catches it.
const ZSTD_8MIB_SMALL_WINDOW =
  'KLUv/QQ4TAAACAABAPz/ORACAgAQAAIAEAACABAAAgAQAAIAEAACABAAAgAQAEQAAAABAP3/zAsQAgAQAAIAEAACABAAAgAQAAIAEAACABAAAgAQAEQAAAABAP3/zAsQAgAQAAIAEAACABAAAgAQAAIAEAACABAAAgAQAEQAAAABAP3/zAsQAgAQAAIAEAACABAAAgAQAAIAEAACABAAAgAQAEQAAAABAP3/zAsQAgAQAAIAEAACABAAAgAQAAIAEAACABAAAgAQAEQAAAABAP3/zAsQAgAQAAIAEAACABAAAgAQAAIAEAACABAAAgAQAEQAAAABAP3/zAsQAgAQAAIAEAACABAAAgAQAAIAEAACABAAAgAQAEQAAAABAP3/zAsQAgAQAAIAEAACABAAAgAQAAIAEAACABAAAgAQAAEAAA/f9mE=';
// echo -n 'hello kafka zstd records' | zstd -q -c | base64 -w0
const ZSTD_HELLO = 'KLUv/QRYwQAAaGVsbG8ga2Fma2EgenN0ZCByZWNvcmRzTWOttg==';
const MiB = 1024 * 1024;
const enc = (buffer: Buffer) => ({ buffer });

async function refusal(p: Promise<unknown>): Promise<InvalidInputError> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(InvalidInputError);
  return err as InvalidInputError;
}

describe('bounded Kafka compression codecs', () => {
  const records = Buffer.from(Array.from({ length: 5000 }, (_, i) => `record ${i} ${'x'.repeat(i % 97)}`).join('\n'));

  it.each([
    ['gzip', gzipCodec],
    ['lz4', lz4Codec],
    ['snappy', snappyCodec],
  ] as const)('%s round-trips a record set bigger than one block', async (_name, make) => {
    const codec = make(64 * MiB);
    const compressed = await codec.compress(enc(records));
    expect(compressed.length).toBeLessThan(records.length);
    expect((await codec.decompress(compressed)).equals(records)).toBe(true);
  });

  it.each([
    ['gzip', gzipCodec],
    ['lz4', lz4Codec],
    ['snappy', snappyCodec],
  ] as const)('%s refuses a batch that expands past the cap, naming the setting', async (_name, make) => {
    const bomb = await make(64 * MiB).compress(enc(Buffer.alloc(8 * MiB)));
    expect(bomb.length).toBeLessThan(MiB);
    const err = await refusal(make(MiB).decompress(bomb));
    expect(err.code).toBe('too_large');
    expect(err.message).toContain('MPLP_KAFKA_MAX_DECOMPRESSED_BATCH_BYTES');
  });

  it('reads snappy without the xerial framing too (one raw block)', async () => {
    const raw = require('snappyjs').compress(records) as Buffer;
    expect((await snappyCodec(64 * MiB).decompress(Buffer.from(raw))).equals(records)).toBe(true);
  });

  it('lz4 reads what the lz4 tool writes with independent blocks (as Java clients do)', () => {
    const framed = execFileSync('lz4', ['-c', '-BI', '-B4', '-q'], { input: records });
    return expect(
      lz4Codec(64 * MiB)
        .decompress(framed)
        .then((b) => b.equals(records)),
    ).resolves.toBe(true);
  });

  it('zstd decodes a frame made by the zstd tool', async () => {
    expect((await zstdCodec(64 * MiB).decompress(Buffer.from(ZSTD_HELLO, 'base64'))).toString()).toBe('hello kafka zstd records');
  });

  it('zstd refuses by declared window before decoding, and by counted output when the window is small', async () => {
    const bomb = Buffer.from(ZSTD_8MIB_SMALL_WINDOW, 'base64');
    expect(zstdFrameLimits(bomb).windowSize).toBe(128 * 1024);
    expect((await zstdCodec(64 * MiB).decompress(bomb)).length).toBe(8 * MiB);
    expect((await refusal(zstdCodec(MiB).decompress(bomb))).code).toBe('too_large');
    // A frame declaring an 8 MiB window is refused from its header alone under a 1 MiB cap.
    const header = Buffer.from([0x28, 0xb5, 0x2f, 0xfd, 0x04, 0x68, 0, 0, 0]);
    expect(zstdFrameLimits(header).windowSize).toBe(8 * MiB);
    expect((await refusal(zstdCodec(MiB).decompress(header))).code).toBe('too_large');
  });

  it.each([
    ['gzip', gzipCodec],
    ['lz4', lz4Codec],
    ['snappy', snappyCodec],
    ['zstd', zstdCodec],
  ] as const)('%s turns garbage into a decode error, not a crash', async (name, make) => {
    const garbage = Buffer.concat([
      Buffer.from([0x82, 0x53, 0x4e, 0x41, 0x50, 0x50, 0x59, 0, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 9]),
      zlib.deflateSync(records).subarray(0, 50),
    ]);
    const err = await refusal(
      make(64 * MiB).decompress(name === 'zstd' ? Buffer.concat([Buffer.from(ZSTD_HELLO, 'base64').subarray(0, 6), garbage]) : garbage),
    );
    expect(err.code).toBe('decode');
  });
});

describe('kafkaBatchError', () => {
  it('reads the code and reason a stand-in record carries', () => {
    const e = kafkaBatchError(
      'too_large: a gzip-compressed Kafka record batch expands past MPLP_KAFKA_MAX_DECOMPRESSED_BATCH_BYTES (1048576 bytes)',
    );
    expect(e.code).toBe('too_large');
    expect(e.message).toMatch(/^a gzip-compressed/);
    expect(kafkaBatchError('Something odd: no code').code).toBe('decode');
  });
});

describe('stand-in records of a refused batch, as kafkajs decodes them', () => {
  const decodeBatch = require('kafkajs/src/protocol/recordBatch/v0/decoder') as (d: unknown) => Promise<{ records: KafkaRecord[] }>;
  const Decoder = require('kafkajs/src/protocol/decoder') as new (b: Buffer) => unknown;
  const Batch = require('kafkajs/src/consumer/batch') as new (
    topic: string,
    fetchedOffset: string,
    data: unknown,
  ) => { messages: KafkaRecord[]; rawMessages: KafkaRecord[] };
  type KafkaRecord = { offset: string; value: Buffer | null; headers: Record<string, Buffer> };

  /** A RecordBatch v2 as a broker serves it: gzip (attributes 1), `count` records from baseOffset, records that inflate to 200 KB. */
  function gzipBatch(baseOffset: bigint, count: number): Buffer {
    const payload = zlib.gzipSync(Buffer.alloc(200_000));
    const b = Buffer.alloc(61 + payload.length);
    b.writeBigInt64BE(baseOffset, 0);
    b.writeInt32BE(b.length - 12, 8);
    b.writeInt8(2, 16); // magic
    b.writeInt16BE(1, 21); // gzip
    b.writeInt32BE(count - 1, 23); // lastOffsetDelta
    b.writeInt32BE(count, 57);
    payload.copy(b, 61);
    return b;
  }

  /** The batches of one fetch response, decoded and filtered as kafkajs does for the handler. */
  async function fetched(batches: Array<[baseOffset: bigint, count: number]>, fetchOffset = batches[0][0]) {
    registerKafkaCodecs(65_536, 100);
    const decoder = new Decoder(Buffer.concat(batches.map(([base, count]) => gzipBatch(base, count))));
    const records: KafkaRecord[] = [];
    for (const _ of batches) records.push(...(await decodeBatch(decoder)).records);
    return new Batch('t', fetchOffset.toString(), { partition: 0, highWatermark: '0', messages: records, abortedTransactions: [] });
  }

  afterAll(() => registerKafkaCodecs(64 * MiB));

  it('up to the cap: one stand-in per record, same offsets, null value, the reason in a header', async () => {
    const batch = await fetched([[1000n, 100]]);
    expect(batch.messages.map((m) => m.offset)).toEqual(Array.from({ length: 100 }, (_, i) => String(1000 + i)));
    for (const m of batch.messages) {
      expect(m.value).toBeNull();
      expect(kafkaBatchError(m.headers[HEADER_KAFKA_BATCH_ERROR].toString()).code).toBe('too_large');
      expect(standInDeadLetterHeaders(m.headers)).toBeUndefined();
    }
  });

  it('past the cap: the handler sees one stand-in at the last offset naming the whole batch', async () => {
    const batch = await fetched([[5_000_000_000n, 20_000]]);
    expect(batch.rawMessages).toHaveLength(20_000); // kafkajs decodes as many as the header says
    expect(batch.messages).toHaveLength(1);
    const [m] = batch.messages;
    expect(m.offset).toBe('5000019999');
    expect(m.headers[HEADER_KAFKA_BATCH_ERROR].toString()).toContain('5000000000..5000019999');
    expect(standInDeadLetterHeaders(m.headers)).toEqual({ 'mplp-records': '20000', 'mplp-first-offset': '5000000000' });
  });

  it('a fetch from the middle of the batch still gets the one stand-in', async () => {
    const batch = await fetched([[10n, 1000]], 500n);
    expect(batch.messages.map((m) => m.offset)).toEqual(['1009']);
  });

  it('a batch past the cap after others in the same fetch response: its hidden records stay hidden', async () => {
    const batch = await fetched([
      [0n, 50],
      [50n, 5000],
      [5050n, 3000],
    ]);
    expect(batch.messages.map((m) => m.offset)).toEqual([...Array.from({ length: 50 }, (_, i) => String(i)), '5049', '8049']);
    const high = await fetched([
      [3_000_000_000n, 50],
      [3_000_000_050n, 5000],
    ]);
    expect(high.messages.map((m) => m.offset).slice(-2)).toEqual(['3000000049', '3000005049']);
  });

  it('builds 100k stand-ins in one buffer of a few bytes each', async () => {
    registerKafkaCodecs(65_536, 200_000);
    const codec = (CompressionCodecs as unknown as Record<number, () => { decompress(b: Buffer): Promise<Buffer> }>)[
      CompressionTypes.GZIP
    ]();
    const batch = gzipBatch(0n, 100_000);
    const out = await codec.decompress(batch.subarray(61));
    const perRecord = out.length / 100_000;
    expect(perRecord).toBeGreaterThan(100); // the reason is in each
    expect(perRecord).toBeLessThan(250);
  });
});
