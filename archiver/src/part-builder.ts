/** One archive part's NDJSON, ready to be lz4-framed and uploaded. */
export interface SealedPart {
  n: number;
  ndjson: Buffer;
  docs: number;
}

/**
 * Splits a stream of NDJSON lines into parts of at most maxBytes (UTF-8 bytes, newlines
 * included), so memory stays one part whatever the index size. A single line larger than
 * maxBytes gets a part of its own rather than being split, since a document cannot be.
 * Parts are numbered from 0 in order: the same index exported twice gives the same keys.
 */
export class PartBuilder {
  private lines: string[] = [];
  private bytes = 0;
  private next = 0;

  constructor(private readonly maxBytes: number) {}

  /** Adds a line; returns the previous part when this line would have pushed it past maxBytes. */
  add(line: string): SealedPart | undefined {
    const size = Buffer.byteLength(line) + 1;
    const sealed = this.lines.length > 0 && this.bytes + size > this.maxBytes ? this.seal() : undefined;
    this.lines.push(line);
    this.bytes += size;
    return sealed;
  }

  /** The last, partly filled part (undefined when nothing is pending). */
  finish(): SealedPart | undefined {
    return this.lines.length ? this.seal() : undefined;
  }

  private seal(): SealedPart {
    const part = { n: this.next++, ndjson: Buffer.from(this.lines.join('\n') + '\n'), docs: this.lines.length };
    this.lines = [];
    this.bytes = 0;
    return part;
  }
}
