import lz4 from 'lz4';
import { InvalidInputError } from './errors';
import type { NormalizedSpan } from './span';

/** Kafka headers of a validated batch (DESIGN.md). */
export const HEADER_FORMAT = 'mplp-format';
export const HEADER_SPANS = 'mplp-spans';
export const FORMAT_NDJSON_V1 = 'ndjson/1';

const LZ4_MAGIC = 0x184d2204;
const BLOCK_MAX: Record<number, number> = { 4: 64 * 1024, 5: 256 * 1024, 6: 1024 * 1024, 7: 4 * 1024 * 1024 };

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
 * Standard LZ4 frames (independent blocks, no checksums) built around the native block
 * compressor. The lz4 package's own `encode` runs its frame writer and xxHash content checksum in
 * JavaScript, which cost more than the compression itself at one frame per trace; this writes the
 * same format (`lz4 -d` and `decompress` below read it) several times faster. The declared block
 * size is the smallest that holds the input, so a reader's block buffer stays small for the many
 * small frames of the validated topic.
 */
const FLG = (1 << 6) | (1 << 5); // version 01, blocks independent, no checksums, no content size
const FRAME_HEADERS = new Map<number, Buffer>();
for (const code of [4, 5, 6, 7]) {
  const header = Buffer.from([0x04, 0x22, 0x4d, 0x18, FLG, code << 4, 0]);
  header[6] = (lz4 as unknown as { utils: { descriptorChecksum(b: Buffer): number } }).utils.descriptorChecksum(header.subarray(4, 6));
  FRAME_HEADERS.set(code, header);
}
const END_MARK = Buffer.alloc(4);
let encodeScratch = Buffer.allocUnsafe(lz4.encodeBound(64 * 1024));

export function encodeLz4Frame(input: Buffer): Buffer {
  const code = input.length <= BLOCK_MAX[4] ? 4 : input.length <= BLOCK_MAX[5] ? 5 : input.length <= BLOCK_MAX[6] ? 6 : 7;
  const blockMax = BLOCK_MAX[code];
  const header = FRAME_HEADERS.get(code)!;
  const blocks = Math.ceil(input.length / blockMax);
  const bound = lz4.encodeBound(Math.min(input.length, blockMax));
  if (encodeScratch.length < bound) encodeScratch = Buffer.allocUnsafe(bound);
  const parts: Buffer[] = [header];
  let total = header.length;
  for (let b = 0; b < blocks; b++) {
    const block = input.subarray(b * blockMax, Math.min(input.length, (b + 1) * blockMax));
    const n = lz4.encodeBlock(block, encodeScratch);
    const size = Buffer.allocUnsafe(4);
    // 0 means incompressible: the block is stored raw, flagged by the high bit of its size.
    if (n > 0 && n < block.length) {
      size.writeUInt32LE(n, 0);
      parts.push(size, Buffer.from(encodeScratch.subarray(0, n)));
      total += 4 + n;
    } else {
      size.writeUInt32LE((block.length | 0x80000000) >>> 0, 0);
      parts.push(size, block);
      total += 4 + block.length;
    }
  }
  parts.push(END_MARK);
  total += 4;
  return Buffer.concat(parts, total);
}

/**
 * SpanBatchCodec: a batch of normalized spans as one standard LZ4 frame of NDJSON (one span per
 * line), readable by any lz4 tool: `kcat ... | lz4 -d`.
 */
// One block buffer per block size, reused by every decompress call (the block is copied out).
const decodeScratches = new Map<number, Buffer>();
function decodeScratch(blockMax: number): Buffer {
  let b = decodeScratches.get(blockMax);
  if (!b) decodeScratches.set(blockMax, (b = Buffer.allocUnsafe(blockMax)));
  return b;
}

export const SpanBatchCodec = {
  encodeLines(ndjson: Buffer): Buffer {
    return encodeLz4Frame(ndjson);
  },

  encode(spans: readonly NormalizedSpan[]): Buffer {
    return encodeLz4Frame(Buffer.from(spans.map((s) => JSON.stringify(s)).join('\n') + '\n'));
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
    if (flg >> 6 !== 1) throw bad(`unsupported version ${flg >> 6}`);
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
        const scratch = decodeScratch(blockMax);
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
