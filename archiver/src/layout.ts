import { indexDate } from '../../shared/src';

/**
 * DESIGN.md's archive layout, with generations. Generation 0 is the first archive of an index:
 * <prefix>/<index>/part-NNNNN.ndjson.lz4 and <prefix>/<index>/manifest.json. Documents written
 * to the index after it was archived (a late write recreated it) go to generation g >= 1 under
 * <prefix>/<index>/gen-GGGGG/, with its own parts and manifest. A generation with a manifest is
 * never rewritten.
 */
export const generationDir = (prefix: string, index: string, generation = 0) =>
  `${join(prefix, index)}/${generation > 0 ? `gen-${pad5(generation)}/` : ''}`;
export const partKey = (prefix: string, index: string, n: number, generation = 0) =>
  `${generationDir(prefix, index, generation)}part-${pad5(n)}.ndjson.lz4`;
export const manifestKey = (prefix: string, index: string, generation = 0) => `${generationDir(prefix, index, generation)}manifest.json`;
export const leaseKey = (prefix: string, index: string) => `${join(prefix, index)}/lease.json`;
/** Where every object of an index's archive lives, all generations. */
export const indexDir = (prefix: string, index: string) => `${join(prefix, index)}/`;
const join = (prefix: string, index: string) => (prefix ? `${prefix.replace(/\/+$/, '')}/${index}` : index);
const pad5 = (n: number) => String(n).padStart(5, '0');

/** The generation whose manifest a key is, or undefined for any other key of the index. */
export function manifestGeneration(prefix: string, index: string, key: string): number | undefined {
  const dir = indexDir(prefix, index);
  if (!key.startsWith(dir)) return undefined;
  const m = /^(?:gen-(\d{5})\/)?manifest\.json$/.exec(key.slice(dir.length));
  if (!m) return undefined;
  return m[1] ? Number(m[1]) : 0;
}

export interface ManifestPart {
  key: string;
  docs: number;
  bytes: number;
  sha256: string;
}
/**
 * Which index instance a generation was exported from: its uuid (a recreated index has a new
 * one) and the highest sequence number of each shard (any write since moves one).
 */
export interface IndexFingerprint {
  uuid: string;
  maxSeqNos: number[];
}
export interface Manifest {
  version: 1;
  index: string;
  /** Absent in manifests written before generations existed: 0. */
  generation?: number;
  mappings: unknown;
  settings: { number_of_shards?: string | number };
  docCount: number;
  uncompressedBytes: number;
  parts: ManifestPart[];
  createdAt: string;
  source?: IndexFingerprint;
}

/** The manifest of DESIGN.md for an exported index: parts in order, their counts summed. */
export function buildManifest(
  index: string,
  meta: { mappings?: unknown; settings?: { index?: { number_of_shards?: string | number } } },
  parts: ManifestPart[],
  uncompressedBytes: number,
  now = new Date(),
  generation = 0,
  source?: IndexFingerprint,
): Manifest {
  return validateManifest(
    {
      version: 1,
      index,
      generation,
      mappings: withoutRestoredMark(meta.mappings ?? {}),
      settings: { number_of_shards: meta.settings?.index?.number_of_shards },
      docCount: parts.reduce((n, p) => n + p.docs, 0),
      uncompressedBytes,
      parts,
      createdAt: now.toISOString(),
      ...(source ? { source } : {}),
    },
    index,
    generation,
  );
}

/** The mark a restore puts in the index's mapping `_meta`; see index-restorer.ts. */
export const RESTORED_MARK = 'mplp_restored';
export interface RestoredMark {
  at: string;
  until: string;
  generations: number[];
  maxSeqNos?: number[];
}

/** An archive must not carry the restore mark of the index it was taken from into the next restore. */
function withoutRestoredMark(mappings: unknown): unknown {
  const m = mappings as { _meta?: Record<string, unknown> };
  if (!m || typeof m !== 'object' || !m._meta || !(RESTORED_MARK in m._meta)) return mappings;
  const { [RESTORED_MARK]: _dropped, ...meta } = m._meta;
  return { ...m, _meta: meta };
}

/** Our daily indices older than the retention, oldest first. */
export function agedIndices(names: string[], prefix: string, retentionDays: number, nowMs: number): string[] {
  const today = Date.UTC(new Date(nowMs).getUTCFullYear(), new Date(nowMs).getUTCMonth(), new Date(nowMs).getUTCDate());
  const cutoff = today - retentionDays * 86400e3;
  return names
    .map((n) => ({ n, d: indexDate(prefix, n) }))
    .filter((x) => x.d && x.d.date.getTime() < cutoff)
    .sort((a, b) => a.d!.date.getTime() - b.d!.date.getTime() || a.n.localeCompare(b.n))
    .map((x) => x.n);
}

/** A manifest read back from S3 must be whole and self-consistent before anyone trusts it. */
export function validateManifest(m: unknown, index: string, generation = 0): Manifest {
  const x = m as Manifest;
  const fail = (why: string) => {
    throw new Error(`manifest of ${index} is invalid: ${why}`);
  };
  if (!x || typeof x !== 'object') fail('not an object');
  if (x.version !== 1) fail(`unknown version ${x.version}`);
  if (x.index !== index) fail(`names index ${x.index}`);
  if ((x.generation ?? 0) !== generation) fail(`names generation ${x.generation}, found as generation ${generation}`);
  if (!Array.isArray(x.parts)) fail('no parts');
  if (!Number.isInteger(x.docCount) || x.docCount < 0) fail(`bad document count ${x.docCount}`);
  const sum = x.parts.reduce((n, p) => n + p.docs, 0);
  if (sum !== x.docCount) fail(`parts hold ${sum} documents, manifest says ${x.docCount}`);
  x.parts.forEach((p, i) => {
    if (!/^[0-9a-f]{64}$/.test(p.sha256) || !(p.bytes > 0)) fail(`part ${p.key} lacks a checksum or size`);
    if (!(Number.isInteger(p.docs) && p.docs > 0)) fail(`part ${p.key} holds no documents`);
    // Keys are positional (part-00000, part-00001, ...) inside the generation's directory, so a
    // gap, a foreign key or another generation's part is a damaged manifest.
    if (typeof p.key !== 'string' || !p.key.endsWith(partKey('', index, i, generation))) fail(`part ${i} has key ${p.key}`);
  });
  return x;
}
