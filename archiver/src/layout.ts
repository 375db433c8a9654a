import { indexDate } from '../../shared/src';

/** DESIGN.md's archive layout: <prefix>/<index>/part-NNNNN.ndjson.lz4 and <prefix>/<index>/manifest.json. */
export const partKey = (prefix: string, index: string, n: number) => `${join(prefix, index)}/part-${String(n).padStart(5, '0')}.ndjson.lz4`;
export const manifestKey = (prefix: string, index: string) => `${join(prefix, index)}/manifest.json`;
export const leaseKey = (prefix: string, index: string) => `${join(prefix, index)}/lease.json`;
const join = (prefix: string, index: string) => (prefix ? `${prefix.replace(/\/+$/, '')}/${index}` : index);

export interface ManifestPart { key: string; docs: number; bytes: number; sha256: string }
export interface Manifest {
  version: 1;
  index: string;
  mappings: unknown;
  settings: { number_of_shards?: string | number };
  docCount: number;
  uncompressedBytes: number;
  parts: ManifestPart[];
  createdAt: string;
}

/** The manifest of DESIGN.md for an exported index: parts in order, their counts summed. */
export function buildManifest(index: string, meta: { mappings?: unknown; settings?: { index?: { number_of_shards?: string | number } } },
  parts: ManifestPart[], uncompressedBytes: number, now = new Date()): Manifest {
  return validateManifest({
    version: 1, index, mappings: meta.mappings ?? {}, settings: { number_of_shards: meta.settings?.index?.number_of_shards },
    docCount: parts.reduce((n, p) => n + p.docs, 0), uncompressedBytes, parts, createdAt: now.toISOString(),
  }, index);
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
export function validateManifest(m: unknown, index: string): Manifest {
  const x = m as Manifest;
  const fail = (why: string) => { throw new Error(`manifest of ${index} is invalid: ${why}`); };
  if (!x || typeof x !== 'object') fail('not an object');
  if (x.version !== 1) fail(`unknown version ${x.version}`);
  if (x.index !== index) fail(`names index ${x.index}`);
  if (!Array.isArray(x.parts)) fail('no parts');
  if (!Number.isInteger(x.docCount) || x.docCount < 0) fail(`bad document count ${x.docCount}`);
  const sum = x.parts.reduce((n, p) => n + p.docs, 0);
  if (sum !== x.docCount) fail(`parts hold ${sum} documents, manifest says ${x.docCount}`);
  x.parts.forEach((p, i) => {
    if (!/^[0-9a-f]{64}$/.test(p.sha256) || !(p.bytes > 0)) fail(`part ${p.key} lacks a checksum or size`);
    if (!(Number.isInteger(p.docs) && p.docs > 0)) fail(`part ${p.key} holds no documents`);
    // Keys are positional (part-00000, part-00001, ...), so a gap or a foreign key is a damaged manifest.
    if (typeof p.key !== 'string' || !p.key.endsWith(`${index}/part-${String(i).padStart(5, '0')}.ndjson.lz4`)) fail(`part ${i} has key ${p.key}`);
  });
  return x;
}
