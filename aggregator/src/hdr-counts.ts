import { deflateSync, inflateSync } from 'node:zlib';

/**
 * HdrCounts: an HDR histogram reduced to what the aggregator does with one (record, merge,
 * percentiles, and the standard V2 compressed base64 encoding of DESIGN.md), on one reusable
 * counts array.
 *
 * Why not hdr-histogram-js' objects for this: measured (`npm run bench:aggregator` runs both;
 * aggregator/README.md), decoding an encoded piece costs it 50-100 µs whatever the
 * piece holds (a new 17k-slot histogram per decode, LEB128 and base64 in JS), so a window of 7
 * pieces cost ~700-800 µs per series, ~30 ms of one thread per close for 40 series. Here a piece
 * is decoded straight into the accumulator: native inflate and base64, then one pass over its
 * encoded bytes, so a small piece costs a few µs. The layout (lowest discernible value 1,
 * `digits` significant digits) and the encoding are hdr-histogram-js' own (byte for byte at
 * zlib's default level; what is written uses level 1, see `encode`); the unit tests check both
 * against the library. A histogram of another precision (the digits setting changed while
 * partials were in flight) is re-recorded bucket by bucket, within the coarser precision.
 *
 * Two more measured economies (a 400-series profile had `encode` and zlib as the pool's top
 * entries): while few slots are used, their indices are tracked, so encoding and resetting
 * touch those slots instead of scanning the ~17k-slot array; and `encodePiece` leaves small
 * payloads uncompressed (the V2 uncompressed form, cookie 0x1c849313) for the internal partials
 * topic: deflate costs ~15 µs of set-up per call, more than the bytes it saves there.
 */
const V2_ENCODING_COOKIE = 0x1c849303 | 0x10;
const V2_COMPRESSED_COOKIE = 0x1c849304 | 0x10;
const COOKIE_BASE_MASK = ~0xf0;
const HEADER_BYTES = 40;
/** Slots tracked individually before a histogram counts as dense (sorting them stays cheap). */
const SPARSE_SLOTS = 256;
/** encodePiece leaves payloads up to this many bytes uncompressed. */
const PIECE_RAW_BYTES = 1024;
/** The range a fresh histogram covers (60 s in µs); larger values grow it, as autoResize does. */
export const DEFAULT_HIGHEST_TRACKABLE = 60_000_000;
const TWO_POW_32 = 2 ** 32;

export class HdrCounts {
  readonly digits: number;
  private readonly halfMag: number;
  private readonly halfCount: number;
  private readonly subBucketCount: number;
  private readonly defaultLength: number;
  /** Slots needed to cover every safe integer: an index past it is a corrupt encoding. */
  private readonly maxLength: number;
  private counts: Float64Array;
  /** Highest index holding a count, -1 when empty. */
  private maxIndex = -1;
  /** The slots holding a count, while there are at most SPARSE_SLOTS of them (else `dense`). */
  private touched: number[] = [];
  private dense = false;
  total = 0;
  private scratch = Buffer.allocUnsafe(64 * 1024);

  constructor(digits: number) {
    this.digits = digits;
    this.halfMag = halfMagnitude(digits);
    this.subBucketCount = 2 ** (this.halfMag + 1);
    this.halfCount = this.subBucketCount / 2;
    this.defaultLength = this.lengthToCover(DEFAULT_HIGHEST_TRACKABLE);
    this.maxLength = this.lengthToCover(Number.MAX_SAFE_INTEGER);
    this.counts = new Float64Array(this.defaultLength);
  }

  /** Empties the histogram, keeping its array. */
  reset(): this {
    if (this.dense) this.counts.fill(0, 0, this.maxIndex + 1);
    else for (const i of this.touched) this.counts[i] = 0;
    this.touched.length = 0;
    this.dense = false;
    this.maxIndex = -1;
    this.total = 0;
    return this;
  }

  /** Records a non-negative integer value (µs in the aggregator) `count` times. */
  record(value: number, count = 1): void {
    this.addAt(this.indexOf(value), count);
  }

  /** The count recorded in the bucket holding `value`. */
  countAt(value: number): number {
    const i = this.indexOf(value);
    return i < this.counts.length ? this.counts[i] : 0;
  }

  /**
   * Adds an encoded histogram: V2 compressed base64 (as `encode` and hdr-histogram-js write it),
   * or V2 uncompressed base64 (as `encodePiece` writes small ones). Throws on anything else.
   */
  addEncoded(b64: string): void {
    const outer = Buffer.from(b64, 'base64');
    let raw: Buffer;
    const cookie = outer.length >= 8 ? outer.readInt32BE(0) : 0;
    if (cookie === V2_ENCODING_COOKIE) {
      raw = outer;
    } else if ((cookie & COOKIE_BASE_MASK) === (V2_COMPRESSED_COOKIE & COOKIE_BASE_MASK)) {
      const len = outer.readInt32BE(4);
      if (len < 0 || 8 + len > outer.length) throw new Error('truncated HDR histogram');
      raw = inflateSync(outer.subarray(8, 8 + len));
    } else {
      throw new Error('not a V2 HDR histogram');
    }
    if (raw.length < HEADER_BYTES || raw.readInt32BE(0) !== V2_ENCODING_COOKIE) throw new Error('not a V2 HDR histogram payload');
    const payload = raw.readInt32BE(4);
    const digits = raw.readInt32BE(12);
    const lowest = raw.readInt32BE(16) * TWO_POW_32 + raw.readUInt32BE(20);
    if (payload < 0 || HEADER_BYTES + payload > raw.length) throw new Error('truncated HDR histogram payload');
    if (lowest !== 1) throw new Error(`HDR histogram with lowest discernible value ${lowest} (only 1 is read)`);
    // Another precision: its slots map to values through its own layout.
    const foreignHalfMag = digits === this.digits ? -1 : halfMagnitude(digits);
    const end = HEADER_BYTES + payload;
    let pos = HEADER_BYTES;
    let index = 0;
    while (pos < end) {
      // ZigZag LEB128-64b9B: up to 9 bytes, the 9th carrying 8 bits. Counts and zero runs
      // almost always fit 4 bytes: that path stays in integer arithmetic.
      let b = raw[pos++];
      let v = b & 0x7f;
      if (b & 0x80) {
        b = raw[pos++];
        v |= (b & 0x7f) << 7;
        if (b & 0x80) {
          b = raw[pos++];
          v |= (b & 0x7f) << 14;
          if (b & 0x80) {
            b = raw[pos++];
            v = (v | ((b & 0x7f) << 21)) >>> 0;
            let scale = 2 ** 28;
            for (let n = 5; b & 0x80 && n <= 9; n++) {
              b = raw[pos++];
              v += (n === 9 ? b : b & 0x7f) * scale;
              scale *= 128;
            }
          }
        }
      }
      if (pos > end) throw new Error('truncated HDR histogram counts');
      if (v % 2 === 1) {
        index += (v + 1) / 2;
        continue;
      } // a run of zeros
      if (v > 0) {
        if (foreignHalfMag < 0) this.addAt(index, v / 2);
        else this.record(valueAtIndex(index, foreignHalfMag), v / 2);
      }
      index++;
    }
  }

  /**
   * The V2 compressed base64 encoding, the record's `histogram.data`. With `compressionLevel` -1
   * (zlib's default, as hdr-histogram-js uses) the bytes are the library's; the default, 1, is
   * what is written: measured 3-8× faster deflate on these payloads for ~2 % more bytes, and any
   * V2 decoder reads it.
   */
  encode(compressionLevel = 1): string {
    return compress(this.payload(), compressionLevel).toString('base64');
  }

  /**
   * An encoding for the internal partials topic, which only `addEncoded` reads: uncompressed V2
   * when the payload is small (a piece of one fetch usually is), else as `encode`.
   */
  encodePiece(): string {
    const raw = this.payload();
    return (raw.length <= PIECE_RAW_BYTES ? raw : compress(raw, 1)).toString('base64');
  }

  /** The V2 uncompressed encoding (header and counts), in the scratch buffer. */
  private payload(): Buffer {
    const limit = Math.max(this.maxIndex + 1, 1);
    const slots = this.dense ? limit : this.touched.length * 2 + 1;
    // Worst case 9 bytes per slot written; the usual histogram needs a few KB.
    const need = HEADER_BYTES + 9 * slots;
    if (this.scratch.length < need) this.scratch = Buffer.allocUnsafe(need);
    const buf = this.scratch;
    let pos = HEADER_BYTES;
    const counts = this.counts;
    if (!this.dense) {
      // The same words the dense scan below writes: each count, and before it its zero run
      // (-n, or a single 0 for a run of one).
      const idx = this.touched.sort((a, b) => a - b);
      let next = 0;
      for (const i of idx) {
        const zeros = i - next;
        if (zeros > 0) pos = putWord(buf, pos, zeros > 1 ? zeros * 2 - 1 : 0);
        pos = putWord(buf, pos, counts[i] * 2);
        next = i + 1;
      }
      if (idx.length === 0) pos = putWord(buf, pos, 0); // empty: one zero, as the library writes
    } else {
      let i = 0;
      while (i < limit) {
        const c = counts[i++];
        if (c === 0) {
          let zeros = 1;
          while (i < limit && counts[i] === 0) {
            zeros++;
            i++;
          }
          pos = putWord(buf, pos, zeros > 1 ? zeros * 2 - 1 : 0); // zigzag(-zeros), or a single 0
        } else {
          pos = putWord(buf, pos, c * 2);
        }
      }
    }
    buf.writeInt32BE(V2_ENCODING_COOKIE, 0);
    buf.writeInt32BE(pos - HEADER_BYTES, 4);
    buf.writeInt32BE(1, 8); // normalizingIndexOffset, written as hdr-histogram-js writes it
    buf.writeInt32BE(this.digits, 12);
    writeInt64(buf, 16, 1);
    writeInt64(buf, 24, this.highestTrackable());
    writeInt64(buf, 32, 1); // integerToDoubleValueConversionRatio, as hdr-histogram-js writes it
    return buf.subarray(0, pos);
  }

  /** hdr-histogram-js' getValueAtPercentile for each of `percentiles` (each > 0), in one pass. */
  valuesAtPercentiles(percentiles: readonly number[]): number[] {
    const order = percentiles.map((_p, k) => k).sort((a, b) => percentiles[a] - percentiles[b]);
    const out: number[] = percentiles.map(() => 0);
    const counts = this.counts;
    const last = this.maxIndex;
    let cum = 0;
    let i = 0;
    for (const k of order) {
      const fp = (Math.min(percentiles[k], 100) / 100) * this.total;
      const wanted = Math.max(Math.ceil(fp - ulp(fp)), 1);
      while (i <= last && cum + counts[i] < wanted) cum += counts[i++];
      if (i > last) break; // fewer values than wanted (empty): 0, as the library returns
      out[k] = this.highestEquivalentAt(i);
    }
    return out;
  }

  private addAt(index: number, count: number): void {
    if (count <= 0) return;
    if (index >= this.counts.length) {
      if (index >= this.maxLength) throw new RangeError(`HDR histogram slot ${index} is past any value (corrupt encoding?)`);
      this.grow(index + 1);
    }
    if (!this.dense && this.counts[index] === 0) {
      if (this.touched.length < SPARSE_SLOTS) this.touched.push(index);
      else this.dense = true;
    }
    this.counts[index] += count;
    this.total += count;
    if (index > this.maxIndex) this.maxIndex = index;
  }

  private grow(length: number): void {
    const next = new Float64Array(Math.max(length, this.counts.length * 2));
    next.set(this.counts.subarray(0, this.maxIndex + 1));
    this.counts = next;
  }

  /** HDR counts index of a value (hdr-histogram-js' countsArrayIndex, unit magnitude 0). */
  indexOf(value: number): number {
    if (!(value >= 0)) throw new RangeError(`HDR histogram values must be >= 0, got ${value}`);
    if (value < this.subBucketCount) return Math.floor(value);
    const log2 = value < TWO_POW_32 ? 31 - Math.clz32(value) : Math.floor(Math.log2(value));
    const bucket = log2 - this.halfMag;
    const sub = Math.floor(value / 2 ** bucket);
    return ((bucket + 1) << this.halfMag) + sub - this.halfCount;
  }

  private highestEquivalentAt(index: number): number {
    const bucket = Math.max((index >> this.halfMag) - 1, 0);
    return valueAtIndex(index, this.halfMag) + 2 ** bucket - 1;
  }

  private lengthToCover(value: number): number {
    let smallestUntrackable = this.subBucketCount;
    let buckets = 1;
    while (smallestUntrackable <= value) {
      if (smallestUntrackable > Number.MAX_SAFE_INTEGER / 2) {
        buckets++;
        break;
      }
      smallestUntrackable *= 2;
      buckets++;
    }
    return (buckets + 1) * this.halfCount;
  }

  /** The header's highest trackable value: the default range, or what autoResize grows to. */
  private highestTrackable(): number {
    if (this.maxIndex < this.defaultLength) return DEFAULT_HIGHEST_TRACKABLE;
    return this.highestEquivalentAt(this.lengthToCover(valueAtIndex(this.maxIndex, this.halfMag)) - 1);
  }
}

/** log2 of half the sub-buckets per bucket for `digits` significant digits (hdr-histogram-js' init). */
function halfMagnitude(digits: number): number {
  if (!Number.isInteger(digits) || digits < 1 || digits > 5) throw new RangeError(`HDR significant digits must be 1..5, got ${digits}`);
  return Math.max(Math.ceil(Math.log2(2 * 10 ** digits)), 1) - 1;
}

/** The lowest value of the bucket at `index` (hdr-histogram-js' valueFromIndex, unit magnitude 0). */
function valueAtIndex(index: number, halfMag: number): number {
  const halfCount = 2 ** halfMag;
  let bucket = Math.floor(index / halfCount) - 1;
  let sub = (index % halfCount) + halfCount;
  if (bucket < 0) {
    sub -= halfCount;
    bucket = 0;
  }
  return sub * 2 ** bucket;
}

/** Writes one ZigZag-encoded word (already doubled / negated) as LEB128-64b9B. */
function putWord(buf: Buffer, pos: number, v: number): number {
  if (v < 0x80000000) {
    while (v >= 128) {
      buf[pos++] = (v & 0x7f) | 0x80;
      v >>>= 7;
    }
  } else {
    for (let n = 1; v >= 128 && n < 9; n++) {
      buf[pos++] = (v % 128) | 0x80;
      v = Math.floor(v / 128);
    }
  }
  buf[pos++] = v;
  return pos;
}

function compress(raw: Buffer, level: number): Buffer {
  const deflated = deflateSync(raw, { level });
  const out = Buffer.allocUnsafe(8 + deflated.length);
  out.writeInt32BE(V2_COMPRESSED_COOKIE, 0);
  out.writeInt32BE(deflated.length, 4);
  deflated.copy(out, 8);
  return out;
}

/** True when `b64` is the V2 compressed form (what `encode` writes), not `encodePiece`'s raw one. */
export function isCompressedEncoding(b64: string): boolean {
  const head = Buffer.from(b64.slice(0, 8), 'base64');
  return head.length >= 4 && head.readInt32BE(0) === V2_COMPRESSED_COOKIE;
}

function ulp(x: number): number {
  return 2 ** (Math.floor(Math.log2(x)) - 52);
}

function writeInt64(buf: Buffer, at: number, v: number): void {
  buf.writeInt32BE(Math.floor(v / TWO_POW_32) | 0, at);
  buf.writeUInt32BE(v >>> 0, at + 4);
}
