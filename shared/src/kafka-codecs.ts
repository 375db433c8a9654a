import { promisify } from 'node:util';
import zlib from 'node:zlib';
import { CompressionCodecs, CompressionTypes } from 'kafkajs';
import type { IHeaders } from 'kafkajs';
import snappy from 'snappyjs';
import * as fzstd from 'fzstd';
import { encodeLz4Frame, SpanBatchCodec } from './codec';
import { DLQ_HEADER_FIRST_OFFSET, DLQ_HEADER_RECORDS } from './dead-letter';
import { InvalidInputError } from './errors';

/**
 * Kafka-level compression codecs for kafkajs, every one bounded.
 *
 * kafkajs ships only gzip, and decompresses it without a limit: one small record batch could
 * expand into gigabytes before any of our own caps sees a message. It has no lz4, snappy or zstd
 * at all and fails the whole fetch on such a batch, yet producers use them routinely (the
 * OpenTelemetry Collector's Kafka exporter and librdkafka offer all four), and a topic configured
 * with `compression.type=zstd` makes the broker itself recompress everything to zstd.
 *
 * Every decompress here refuses a record batch whose records would exceed `maxBatchBytes`
 * (MPLP_KAFKA_MAX_DECOMPRESSED_BATCH_BYTES), checked before or while the output is produced,
 * never after allocating it. Compression (only used if someone configures a producer to use
 * it) is provided for gzip, lz4 and snappy; our own producers send uncompressed batches of
 * values that are already lz4 frames.
 */
export const DECOMPRESSED_BATCH_SETTING = 'MPLP_KAFKA_MAX_DECOMPRESSED_BATCH_BYTES';

const tooLarge = (codec: string, max: number) =>
  new InvalidInputError('too_large', `a ${codec}-compressed Kafka record batch expands past ${DECOMPRESSED_BATCH_SETTING} (${max} bytes)`);

/** Header of the stand-in records of a batch that could not be decompressed: the reason. */
export const HEADER_KAFKA_BATCH_ERROR = 'mplp-kafka-batch-error';
/** On the one stand-in of a batch past the stand-in cap: how many records it stands for, and the first of their offsets. */
export const HEADER_KAFKA_BATCH_RECORDS = 'mplp-kafka-batch-records';
export const HEADER_KAFKA_BATCH_FIRST_OFFSET = 'mplp-kafka-batch-first-offset';
export const STAND_IN_SETTING = 'MPLP_KAFKA_MAX_STAND_IN_RECORDS';
export const DEFAULT_MAX_STAND_INS = 10_000;

function varintLength(n: number): number {
  let v = ((n << 1) ^ (n >> 31)) >>> 0;
  let len = 1;
  while (v > 0x7f) {
    v >>>= 7;
    len++;
  }
  return len;
}

function writeVarint(n: number, out: Buffer, pos: number): number {
  let v = ((n << 1) ^ (n >> 31)) >>> 0; // zigzag
  while (v > 0x7f) {
    out[pos++] = (v & 0x7f) | 0x80;
    v >>>= 7;
  }
  out[pos++] = v;
  return pos;
}

/** The bytes of a record after its offset delta: null key, null value, the given headers. */
function recordTail(headers: Array<[string, string]>): Buffer {
  const parts: Buffer[] = [];
  const small = (n: number) => {
    const b = Buffer.allocUnsafe(5);
    return b.subarray(0, writeVarint(n, b, 0));
  };
  parts.push(small(-1), small(-1), small(headers.length));
  for (const [k, v] of headers) {
    const kb = Buffer.from(k);
    const vb = Buffer.from(v);
    parts.push(small(kb.length), kb, small(vb.length), vb);
  }
  return Buffer.concat(parts);
}

/** Writes one record (length, attributes 0, timestamp delta 0, offsetDelta, tail); returns the next position. */
function writeRecord(out: Buffer, pos: number, offsetDelta: number, tail: Buffer): number {
  pos = writeVarint(2 + varintLength(offsetDelta) + tail.length, out, pos);
  out[pos++] = 0; // attributes
  out[pos++] = 0; // timestampDelta 0
  pos = writeVarint(offsetDelta, out, pos);
  return pos + tail.copy(out, pos);
}

/**
 * What a refused batch decodes to instead of failing the fetch. kafkajs fails the whole fetch
 * response when one batch cannot be decompressed, and fails it again on every retry: one bad
 * batch would stop the partition, and every partition fetched with it, for good. So a refused
 * batch becomes records with the same offsets, each with a null value and a header giving the
 * reason: the worker sends them to its dead-letter topic and moves on.
 *
 * Up to maxStandIns records, one stand-in per record, written straight into one buffer (the
 * bytes after the offset are the same for all). Past that, kafkajs must still be given `count`
 * records (it decodes as many as the batch header says), so all but the last are records of a
 * few bytes at a negative offset: before the fetch offset, which kafkajs drops before any handler
 * sees them (as it drops the records of a compressed batch that precede the offset fetched). The last, at the batch's last offset, carries the
 * reason plus HEADER_KAFKA_BATCH_RECORDS and HEADER_KAFKA_BATCH_FIRST_OFFSET: one dead letter
 * for the whole batch, and the consumer's position moves past all of it.
 *
 * kafkajs hands the codec a view of the fetch response that starts at the batch's records; the
 * batch header just before it (RecordBatch v2: baseOffset at -61, magic at -45, attributes at
 * -40, lastOffsetDelta at -38, records count at -4) gives the count and the offsets. It is read
 * only if it checks out (magic 2, this codec's compression bits); otherwise the error is thrown
 * as before.
 */
function standInRecords(buffer: Buffer, codecType: number, reason: string, maxStandIns: number): Buffer | undefined {
  if (buffer.byteOffset < 61) return undefined;
  const header = new DataView(buffer.buffer, buffer.byteOffset - 61, 61);
  if (header.getInt8(16) !== 2 || (header.getInt16(21) & 0x07) !== codecType) return undefined;
  const baseOffset = header.getBigInt64(0);
  const lastOffsetDelta = header.getInt32(23);
  const count = header.getInt32(57);
  if (count <= 0 || count > 10_000_000 || lastOffsetDelta < count - 1) return undefined;
  if (count <= maxStandIns) {
    const tail = recordTail([[HEADER_KAFKA_BATCH_ERROR, reason]]);
    const out = Buffer.allocUnsafe(count * (12 + tail.length));
    let pos = 0;
    // Offsets as in the batch where known: the last record keeps the batch's last offset, so the
    // consumer's position moves past the whole batch even if compaction removed records from it.
    for (let i = 0; i < count; i++) pos = writeRecord(out, pos, i === count - 1 ? lastOffsetDelta : i, tail);
    return out.subarray(0, pos);
  }
  const first = baseOffset.toString();
  const last = (baseOffset + BigInt(lastOffsetDelta)).toString();
  const whole = recordTail([
    [
      HEADER_KAFKA_BATCH_ERROR,
      `${reason} (one dead letter for the whole batch of ${count} records, offsets ${first}..${last}: more than ${STAND_IN_SETTING})`,
    ],
    [HEADER_KAFKA_BATCH_RECORDS, String(count)],
    [HEADER_KAFKA_BATCH_FIRST_OFFSET, first],
  ]);
  const hidden = recordTail([]);
  // Offset -1 (or, past 2^31, 2^31 below the batch: an int32 delta can reach no further), so
  // before the fetch offset also when this batch is not the first of the fetch response.
  const hiddenDelta = baseOffset < 2n ** 31n - 1n ? -Number(baseOffset) - 1 : -(2 ** 31);
  const out = Buffer.allocUnsafe((count - 1) * (8 + hidden.length) + 12 + whole.length);
  let pos = 0;
  for (let i = 0; i < count - 1; i++) pos = writeRecord(out, pos, hiddenDelta, hidden);
  pos = writeRecord(out, pos, lastOffsetDelta, whole);
  return out.subarray(0, pos);
}

/**
 * The DLQ headers a stand-in record adds to its dead letter: for the one stand-in of a whole
 * batch, how many records it stands for and the first offset (DLQ_HEADER_RECORDS,
 * DLQ_HEADER_FIRST_OFFSET); nothing for a per-record stand-in or an ordinary record.
 */
export function standInDeadLetterHeaders(headers: IHeaders | undefined): Record<string, string> | undefined {
  const records = headers?.[HEADER_KAFKA_BATCH_RECORDS];
  if (records === undefined) return undefined;
  return { [DLQ_HEADER_RECORDS]: String(records), [DLQ_HEADER_FIRST_OFFSET]: String(headers![HEADER_KAFKA_BATCH_FIRST_OFFSET] ?? '') };
}

/** The error a stand-in record stands for, from its HEADER_KAFKA_BATCH_ERROR value ("code: reason"). */
export function kafkaBatchError(header: string): InvalidInputError {
  const sep = header.indexOf(': ');
  const code = sep > 0 && /^[a-z_]+$/.test(header.slice(0, sep)) ? header.slice(0, sep) : 'decode';
  return new InvalidInputError(code, sep > 0 ? header.slice(sep + 2) : header);
}

/** Decompresses with `run`; a refused or corrupt batch becomes stand-in records where possible. */
async function orStandIn(codecType: number, buffer: Buffer, maxStandIns: number, run: () => Promise<Buffer> | Buffer): Promise<Buffer> {
  try {
    return await run();
  } catch (err) {
    const reason = err instanceof InvalidInputError ? `${err.code}: ${err.message}` : `decode: ${(err as Error).message}`;
    const stand = standInRecords(buffer, codecType, reason, maxStandIns);
    if (stand) return stand;
    throw err;
  }
}

const gunzip = promisify(zlib.unzip) as (buf: Buffer, opts: zlib.ZlibOptions) => Promise<Buffer>;
const gzip = promisify(zlib.gzip) as (buf: Buffer) => Promise<Buffer>;

/** Encoder is kafkajs' internal buffer builder: compress() gets one and reads its buffer. */
interface KafkajsEncoder {
  buffer: Buffer;
}
export interface KafkaCodec {
  compress(encoder: KafkajsEncoder): Promise<Buffer>;
  decompress(buffer: Buffer): Promise<Buffer>;
}

export function gzipCodec(maxBatchBytes: number): KafkaCodec {
  return {
    compress: (encoder) => gzip(encoder.buffer),
    async decompress(buffer) {
      try {
        return await gunzip(buffer, { maxOutputLength: maxBatchBytes });
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'ERR_BUFFER_TOO_LARGE') throw tooLarge('gzip', maxBatchBytes);
        throw new InvalidInputError('decode', `corrupt gzip Kafka record batch: ${(err as Error).message}`);
      }
    },
  };
}

/** Kafka's lz4 is the standard LZ4 frame format with independent blocks (KafkaLZ4BlockOutputStream). */
export function lz4Codec(maxBatchBytes: number): KafkaCodec {
  return {
    compress: async (encoder) => encodeLz4Frame(encoder.buffer),
    async decompress(buffer) {
      try {
        return SpanBatchCodec.decompress(buffer, maxBatchBytes);
      } catch (err) {
        if (err instanceof InvalidInputError && err.code === 'too_large') throw tooLarge('lz4', maxBatchBytes);
        throw err;
      }
    },
  };
}

/**
 * Snappy as Java clients write it: xerial's stream framing (a 16-byte header, then chunks of
 * int32 length + raw snappy block); a buffer without the header is one raw block (librdkafka can
 * write either). Each block's declared length is checked before it is decompressed.
 */
const XERIAL_MAGIC = Buffer.from([0x82, 0x53, 0x4e, 0x41, 0x50, 0x50, 0x59, 0x00]);
const XERIAL_BLOCK = 32 * 1024;

function snappyLength(block: Buffer): number {
  let result = 0;
  for (let i = 0, shift = 0; i < 5 && i < block.length; i++, shift += 7) {
    const b = block[i];
    result += (b & 0x7f) * 2 ** shift;
    if ((b & 0x80) === 0) return result;
  }
  throw new InvalidInputError('decode', 'corrupt snappy Kafka record batch: bad length prefix');
}

export function snappyCodec(maxBatchBytes: number): KafkaCodec {
  return {
    async compress(encoder) {
      const input = encoder.buffer;
      const parts: Buffer[] = [XERIAL_MAGIC, Buffer.from([0, 0, 0, 1, 0, 0, 0, 1])];
      for (let pos = 0; pos < input.length; pos += XERIAL_BLOCK) {
        const block = snappy.compress(input.subarray(pos, pos + XERIAL_BLOCK));
        const len = Buffer.allocUnsafe(4);
        len.writeUInt32BE(block.length, 0);
        parts.push(len, block);
      }
      return Buffer.concat(parts);
    },
    async decompress(buffer) {
      const blocks: Buffer[] = [];
      if (buffer.length >= 16 && buffer.subarray(0, 8).equals(XERIAL_MAGIC)) {
        for (let pos = 16; pos < buffer.length;) {
          if (pos + 4 > buffer.length) throw new InvalidInputError('decode', 'corrupt snappy Kafka record batch: truncated chunk');
          const len = buffer.readUInt32BE(pos);
          if (pos + 4 + len > buffer.length) throw new InvalidInputError('decode', 'corrupt snappy Kafka record batch: truncated chunk');
          blocks.push(buffer.subarray(pos + 4, pos + 4 + len));
          pos += 4 + len;
        }
      } else {
        blocks.push(buffer);
      }
      const out: Buffer[] = [];
      let total = 0;
      for (const block of blocks) {
        total += snappyLength(block);
        if (total > maxBatchBytes) throw tooLarge('snappy', maxBatchBytes);
        try {
          out.push(Buffer.from(snappy.uncompress(block)));
        } catch (err) {
          throw new InvalidInputError('decode', `corrupt snappy Kafka record batch: ${(err as Error).message}`);
        }
      }
      return out.length === 1 ? out[0] : Buffer.concat(out, total);
    },
  };
}

/**
 * Zstandard, decompressed by fzstd (pure JavaScript) as a stream so output is counted as it is
 * produced; each frame's declared window and content size are checked first, because a decoder
 * allocates its window up front.
 */
export function zstdFrameLimits(buffer: Buffer): { windowSize?: number; contentSize?: number } {
  if (buffer.length < 6 || buffer.readUInt32LE(0) !== 0xfd2fb528) return {};
  const fhd = buffer[4];
  const singleSegment = (fhd & 0x20) !== 0;
  const fcsFlag = fhd >> 6;
  const dictFlag = fhd & 0x03;
  let pos = 5;
  let windowSize: number | undefined;
  if (!singleSegment) {
    const wd = buffer[pos++];
    const exponent = wd >> 3;
    const base = 2 ** (10 + exponent);
    windowSize = base + (base / 8) * (wd & 0x07);
  }
  pos += [0, 1, 2, 4][dictFlag];
  const fcsBytes = fcsFlag === 0 ? (singleSegment ? 1 : 0) : [0, 2, 4, 8][fcsFlag];
  let contentSize: number | undefined;
  if (fcsBytes && pos + fcsBytes <= buffer.length) {
    if (fcsBytes === 1) contentSize = buffer[pos];
    else if (fcsBytes === 2) contentSize = buffer.readUInt16LE(pos) + 256;
    else if (fcsBytes === 4) contentSize = buffer.readUInt32LE(pos);
    else contentSize = Number(buffer.readBigUInt64LE(pos));
  }
  return { windowSize: windowSize ?? contentSize, contentSize };
}

export function zstdCodec(maxBatchBytes: number): KafkaCodec {
  return {
    async compress() {
      throw new InvalidInputError('config', 'producing zstd-compressed Kafka batches is not supported; use lz4, gzip or snappy');
    },
    async decompress(buffer) {
      const { windowSize, contentSize } = zstdFrameLimits(buffer);
      if ((windowSize ?? 0) > maxBatchBytes || (contentSize ?? 0) > maxBatchBytes) throw tooLarge('zstd', maxBatchBytes);
      const out: Buffer[] = [];
      let total = 0;
      const stream = new fzstd.Decompress((chunk) => {
        total += chunk.length;
        if (total > maxBatchBytes) throw tooLarge('zstd', maxBatchBytes);
        out.push(Buffer.from(chunk.buffer, chunk.byteOffset, chunk.length));
      });
      try {
        stream.push(buffer, true);
      } catch (err) {
        if (err instanceof InvalidInputError) throw err;
        throw new InvalidInputError('decode', `corrupt zstd Kafka record batch: ${(err as Error).message}`);
      }
      return out.length === 1 ? out[0] : Buffer.concat(out, total);
    },
  };
}

/**
 * Installs the four codecs into kafkajs' process-wide registry. Called by createKafka, so every
 * consumer of every worker reads compressed batches, each bounded by maxBatchBytes; a batch that
 * is refused or corrupt arrives as stand-in records (see standInRecords).
 */
export function registerKafkaCodecs(maxBatchBytes: number, maxStandIns = DEFAULT_MAX_STAND_INS): void {
  const registry = CompressionCodecs as unknown as Record<number, () => KafkaCodec>;
  const codecs: [number, KafkaCodec][] = [
    [CompressionTypes.GZIP, gzipCodec(maxBatchBytes)],
    [CompressionTypes.Snappy, snappyCodec(maxBatchBytes)],
    [CompressionTypes.LZ4, lz4Codec(maxBatchBytes)],
    [CompressionTypes.ZSTD, zstdCodec(maxBatchBytes)],
  ];
  for (const [type, codec] of codecs) {
    const bounded: KafkaCodec = {
      compress: codec.compress,
      decompress: (buffer) => orStandIn(type, buffer, maxStandIns, () => codec.decompress(buffer)),
    };
    registry[type] = () => bounded;
  }
}
