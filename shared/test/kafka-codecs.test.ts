import { execFileSync } from 'node:child_process';
import zlib from 'node:zlib';
import { gzipCodec, kafkaBatchError, lz4Codec, snappyCodec, zstdCodec, zstdFrameLimits, InvalidInputError } from '../src';

// Made with: head -c 8388608 /dev/zero | zstd -19 -q -c --zstd=wlog=17 | base64 -w0
// A 436-byte frame with a 128 KiB window that expands to 8 MiB: only counting the output catches it.
const ZSTD_8MIB_SMALL_WINDOW = 'KLUv/QQ4TAAACAABAPz/ORACAgAQAAIAEAACABAAAgAQAAIAEAACABAAAgAQAEQAAAABAP3/zAsQAgAQAAIAEAACABAAAgAQAAIAEAACABAAAgAQAEQAAAABAP3/zAsQAgAQAAIAEAACABAAAgAQAAIAEAACABAAAgAQAEQAAAABAP3/zAsQAgAQAAIAEAACABAAAgAQAAIAEAACABAAAgAQAEQAAAABAP3/zAsQAgAQAAIAEAACABAAAgAQAAIAEAACABAAAgAQAEQAAAABAP3/zAsQAgAQAAIAEAACABAAAgAQAAIAEAACABAAAgAQAEQAAAABAP3/zAsQAgAQAAIAEAACABAAAgAQAAIAEAACABAAAgAQAEQAAAABAP3/zAsQAgAQAAIAEAACABAAAgAQAAIAEAACABAAAgAQAAEAAA/f9mE=';
// echo -n 'hello kafka zstd records' | zstd -q -c | base64 -w0
const ZSTD_HELLO = 'KLUv/QRYwQAAaGVsbG8ga2Fma2EgenN0ZCByZWNvcmRzTWOttg==';
const MiB = 1024 * 1024;
const enc = (buffer: Buffer) => ({ buffer });

async function refusal(p: Promise<unknown>): Promise<InvalidInputError> {
  const err = await p.then(() => undefined, (e: unknown) => e);
  expect(err).toBeInstanceOf(InvalidInputError);
  return err as InvalidInputError;
}

describe('bounded Kafka compression codecs', () => {
  const records = Buffer.from(Array.from({ length: 5000 }, (_, i) => `record ${i} ${'x'.repeat(i % 97)}`).join('\n'));

  it.each([['gzip', gzipCodec], ['lz4', lz4Codec], ['snappy', snappyCodec]] as const)('%s round-trips a record set bigger than one block', async (_name, make) => {
    const codec = make(64 * MiB);
    const compressed = await codec.compress(enc(records));
    expect(compressed.length).toBeLessThan(records.length);
    expect((await codec.decompress(compressed)).equals(records)).toBe(true);
  });

  it.each([['gzip', gzipCodec], ['lz4', lz4Codec], ['snappy', snappyCodec]] as const)('%s refuses a batch that expands past the cap, naming the setting', async (_name, make) => {
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
    return expect(lz4Codec(64 * MiB).decompress(framed).then((b) => b.equals(records))).resolves.toBe(true);
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

  it.each([['gzip', gzipCodec], ['lz4', lz4Codec], ['snappy', snappyCodec], ['zstd', zstdCodec]] as const)('%s turns garbage into a decode error, not a crash', async (name, make) => {
    const garbage = Buffer.concat([Buffer.from([0x82, 0x53, 0x4e, 0x41, 0x50, 0x50, 0x59, 0, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 9]), zlib.deflateSync(records).subarray(0, 50)]);
    const err = await refusal(make(64 * MiB).decompress(name === 'zstd' ? Buffer.concat([Buffer.from(ZSTD_HELLO, 'base64').subarray(0, 6), garbage]) : garbage));
    expect(err.code).toBe('decode');
  });
});

describe('kafkaBatchError', () => {
  it('reads the code and reason a stand-in record carries', () => {
    const e = kafkaBatchError('too_large: a gzip-compressed Kafka record batch expands past MPLP_KAFKA_MAX_DECOMPRESSED_BATCH_BYTES (1048576 bytes)');
    expect(e.code).toBe('too_large');
    expect(e.message).toMatch(/^a gzip-compressed/);
    expect(kafkaBatchError('Something odd: no code').code).toBe('decode');
  });
});
