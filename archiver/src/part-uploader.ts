import { SpanBatchCodec } from '../../shared/src';
import { ArchiveStore, sha256 } from './archive-store';
import { ManifestPart, partKey } from './layout';
import type { SealedPart } from './part-builder';

/**
 * Uploads an export's sealed parts one behind the other: one part uploads while the next is read
 * from Elasticsearch, so memory stays a few parts and the export runs at the speed of the slower
 * side instead of the sum of both.
 */
export class PartUploader {
  readonly parts: ManifestPart[] = [];
  uncompressedBytes = 0;
  private inFlight: Promise<void> = Promise.resolve();

  constructor(
    private readonly store: ArchiveStore,
    private readonly index: string,
    private readonly generation: number,
    private readonly beforeUpload: () => Promise<void>,
  ) {}

  /** lz4-frames a sealed part and starts its upload once the previous one is done. */
  async add(p: SealedPart | undefined): Promise<void> {
    if (!p) return;
    const body = SpanBatchCodec.encodeLines(p.ndjson);
    const key = partKey(this.store.prefix, this.index, p.n, this.generation);
    const part = { key, docs: p.docs, bytes: body.length, sha256: sha256(body) };
    this.uncompressedBytes += p.ndjson.length;
    await this.inFlight;
    await this.beforeUpload();
    this.inFlight = this.store.putPart(key, body).then(() => {
      this.parts.push(part);
    });
    // Surfaces an upload failure at the next await of inFlight, never as an unhandled rejection.
    this.inFlight.catch(() => undefined);
  }

  /** Waits for the last upload; rejects with its failure. */
  drain(): Promise<void> {
    return this.inFlight;
  }

  /** Waits for the last upload, ignoring its failure (cleanup after an error). */
  async settle(): Promise<void> {
    await this.inFlight.catch(() => undefined);
  }
}
