import lz4 from 'lz4';
import { InvalidInputError } from './errors';
import type { NormalizedSpan } from './span';

/** Kafka headers of a validated batch (DESIGN.md). */
export const HEADER_FORMAT = 'mplp-format';
export const HEADER_SPANS = 'mplp-spans';
export const FORMAT_NDJSON_V1 = 'ndjson/1';

const LZ4_MAGIC = 0x184d2204;
const BLOCK_MAX: Record<number, number> = { 4: 64 * 1024, 5: 256 * 1024, 6: 1024 * 1024, 7: 4 * 1024 * 1024 };
const scratchBySize = new Map<number, Buffer>();

/** Which lz4 implementation is loaded: the native addon, or the package's pure-JS fallback. */
export function lz4Implementation(): 'native' | 'javascript' {
  try {
    require('lz4/build/Release/lz4.node');
    return 'native';
  } catch {
    return 'javascript';
  }
}

/**
 * SpanBatchCodec: a batch of normalized spans as one standard LZ4 frame of NDJSON (one span per
 * line), readable by any lz4 tool: `kcat ... | lz4 -d`.
 */
export const SpanBatchCodec = {
  encodeLines(ndjson: Buffer): Buffer {
    return lz4.encode(ndjson);
  },

  encode(spans: readonly NormalizedSpan[]): Buffer {
    return lz4.encode(Buffer.from(spans.map((s) => JSON.stringify(s)).join('\n') + '\n'));
  },

  /**
   * Decompresses a standard LZ4 frame, refusing one that would expand past maxBytes (a
   * decompression bomb) before allocating it. The frame is walked here and each block handed to
   * the native block decoder: the lz4 package's own frame decoder builds a stream per call and
   * costs ~0.6 ms for a 700-byte frame, which dominated the indexer's CPU.
   */
  decompress(frame: Buffer, maxBytes = 64 * 1024 * 1024): Buffer {
    const bad = (why: string) => new InvalidInputError('decode', `not a valid LZ4 frame: ${why}`);
    if (frame.length < 7 || frame.readUInt32LE(0) !== LZ4_MAGIC) throw bad('bad magic number');
    const flg = frame[4];
    const bd = frame[5];
    if ((flg >> 6) !== 1) throw bad(`unsupported version ${flg >> 6}`);
    const blockChecksum = (flg & 0x10) !== 0;
    const contentSize = (flg & 0x08) !== 0;
    const contentChecksum = (flg & 0x04) !== 0;
    const dictId = (flg & 0x01) !== 0;
    const blockMax = BLOCK_MAX[(bd >> 4) & 0x07];
    if (!blockMax) throw bad(`bad block size code ${(bd >> 4) & 0x07}`);
    // Linked blocks (lz4 -BD) need the previous block as a dictionary, which the native binding
    // cannot take; every producer of this pipeline writes independent blocks.
    if ((flg & 0x20) === 0) throw bad('linked blocks (lz4 -BD) are not supported; write independent blocks');
    let pos = 6 + (contentSize ? 8 : 0) + (dictId ? 4 : 0) + 1; // + header checksum byte
    const parts: Buffer[] = [];
    let total = 0;
    // One scratch buffer per block size for the whole process (decompress is synchronous, and
    // each block is copied out): allocating a fresh 4 MiB buffer per frame cost the indexer more
    // CPU and GC than everything else it does per record.
    let scratch = scratchBySize.get(blockMax);
    for (;;) {
      if (pos + 4 > frame.length) throw bad('truncated (no end mark)');
      const word = frame.readUInt32LE(pos);
      pos += 4;
      if (word === 0) break;
      const size = word & 0x7fffffff;
      if (pos + size > frame.length) throw bad('truncated block');
      const data = frame.subarray(pos, pos + size);
      pos += size + (blockChecksum ? 4 : 0);
      let block: Buffer;
      if (word & 0x80000000) {
        block = data;
      } else {
        if (!scratch) { scratch = Buffer.allocUnsafe(blockMax); scratchBySize.set(blockMax, scratch); }
        const n = lz4.decodeBlock(data, scratch);
        if (n < 0) throw bad(`corrupt block at byte ${pos - size}`);
        block = Buffer.from(scratch.subarray(0, n));
      }
      total += block.length;
      if (total > maxBytes) throw new InvalidInputError('too_large', `LZ4 frame expands over the ${maxBytes} cap`);
      parts.push(block);
    }
    if (contentChecksum && pos + 4 > frame.length) throw bad('truncated content checksum');
    return parts.length === 1 ? parts[0] : Buffer.concat(parts, total);
  },

  /** Splits decompressed NDJSON into lines without parsing (cheap, for routing). */
  lines(ndjson: Buffer): string[] {
    const text = ndjson.toString('utf8');
    return text.split('\n').filter((l) => l.length > 0);
  },

  decode(frame: Buffer, format = FORMAT_NDJSON_V1, maxBytes?: number): NormalizedSpan[] {
    if (format !== FORMAT_NDJSON_V1) throw new InvalidInputError('format', `unsupported ${HEADER_FORMAT} "${format}"`);
    return SpanBatchCodec.lines(SpanBatchCodec.decompress(frame, maxBytes)).map((line, i) => {
      try {
        return JSON.parse(line) as NormalizedSpan;
      } catch (err) {
        throw new InvalidInputError('decode', `line ${i + 1} of the batch is not JSON: ${(err as Error).message}`);
      }
    });
  },
};
