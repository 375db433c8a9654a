import lz4 from 'lz4';
import { InvalidInputError } from './errors';
import type { NormalizedSpan } from './span';

/** Kafka headers of a validated batch (DESIGN.md). */
export const HEADER_FORMAT = 'mplp-format';
export const HEADER_SPANS = 'mplp-spans';
export const FORMAT_NDJSON_V1 = 'ndjson/1';

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

  /** Decompresses a frame, refusing one that would expand past maxBytes (a decompression bomb). */
  decompress(frame: Buffer, maxBytes = 64 * 1024 * 1024): Buffer {
    let out: Buffer;
    try {
      out = lz4.decode(frame);
    } catch (err) {
      throw new InvalidInputError('decode', `not a valid LZ4 frame: ${(err as Error).message}`);
    }
    if (out.length > maxBytes) throw new InvalidInputError('too_large', `LZ4 frame expands to ${out.length} bytes, over the ${maxBytes} cap`);
    return out;
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
