import { createHash } from 'node:crypto';
import { sha256 } from '../src/archive-store';
import { agedIndices, buildManifest, leaseKey, manifestGeneration, manifestKey, partKey, validateManifest } from '../src/layout';

describe('archive layout', () => {
  it('selects our daily indices older than the retention, oldest first', () => {
    const now = Date.UTC(2024, 4, 10, 15);
    const names = [
      'mplp-traces-2024.05.09',
      'mplp-traces-2024.05.02',
      'mplp-metrics-2024.05.03',
      'mplp-traces-2024.05.03',
      'other-traces-2024.01.01',
      'mplp-traces-garbage',
      'mplp-alerts-2024.05.04',
    ];
    // An index holds its whole day: on 05-10 with 7 days kept, 05-03 still has documents younger than 7 days.
    expect(agedIndices(names, 'mplp', 7, now)).toEqual(['mplp-traces-2024.05.02']);
    expect(agedIndices(names, 'mplp', 6, now)).toEqual(['mplp-traces-2024.05.02', 'mplp-metrics-2024.05.03', 'mplp-traces-2024.05.03']);
    expect(agedIndices(names, 'mplp', 0, now)).toContain('mplp-traces-2024.05.09');
  });

  it('names parts and the manifest as DESIGN.md says', () => {
    expect(partKey('archive', 'mplp-traces-2024.05.02', 7)).toBe('archive/mplp-traces-2024.05.02/part-00007.ndjson.lz4');
    expect(manifestKey('archive', 'mplp-traces-2024.05.02')).toBe('archive/mplp-traces-2024.05.02/manifest.json');
    expect(leaseKey('archive/', 'mplp-traces-2024.05.02')).toBe('archive/mplp-traces-2024.05.02/lease.json');
    // An empty prefix puts the index at the top of the bucket, never under a leading slash.
    expect(partKey('', 'mplp-alerts-2024.05.02', 12345)).toBe('mplp-alerts-2024.05.02/part-12345.ndjson.lz4');
  });

  it('puts later generations in their own directory under the index, and finds every manifest', () => {
    const i = 'mplp-traces-2024.05.02';
    expect(partKey('archive', i, 3, 0)).toBe(partKey('archive', i, 3));
    expect(partKey('archive', i, 3, 2)).toBe('archive/mplp-traces-2024.05.02/gen-00002/part-00003.ndjson.lz4');
    expect(manifestKey('archive', i, 12)).toBe('archive/mplp-traces-2024.05.02/gen-00012/manifest.json');
    expect(manifestGeneration('archive', i, manifestKey('archive', i))).toBe(0);
    expect(manifestGeneration('archive', i, manifestKey('archive', i, 7))).toBe(7);
    for (const other of [
      partKey('archive', i, 0, 1),
      leaseKey('archive', i),
      manifestKey('archive', 'mplp-traces-2024.05.03'),
      'archive/mplp-traces-2024.05.02/gen-1/manifest.json',
    ]) {
      expect(manifestGeneration('archive', i, other)).toBeUndefined();
    }
  });

  it("refuses a manifest found as another generation or listing another generation's parts", () => {
    const p = (n: number, g: number) => ({ key: partKey('archive', 'i', n, g), docs: 1, bytes: 10, sha256: 'c'.repeat(64) });
    const m = {
      version: 1,
      index: 'i',
      generation: 1,
      mappings: {},
      settings: {},
      docCount: 1,
      uncompressedBytes: 1,
      parts: [p(0, 1)],
      createdAt: '',
    };
    expect(validateManifest(m, 'i', 1).generation).toBe(1);
    expect(() => validateManifest(m, 'i', 0)).toThrow(/names generation 1, found as generation 0/);
    expect(() => validateManifest({ ...m, parts: [p(0, 0)] }, 'i', 1)).toThrow(/part 0 has key/);
    // Manifests written before generations existed have no field: generation 0.
    const { generation: _g, ...old } = { ...m, parts: [p(0, 0)] };
    expect(validateManifest(old, 'i').parts).toHaveLength(1);
  });

  it('leaves the restore mark of the exported index out of the archived mappings', () => {
    const mappings = { _meta: { owner: 'x', mplp_restored: { at: 'a', until: 'b', generations: [0] } }, properties: {} };
    const m = buildManifest('i', { mappings }, [], 0, new Date(), 1, { uuid: 'u', maxSeqNos: [4] });
    expect(m.mappings).toEqual({ _meta: { owner: 'x' }, properties: {} });
    expect(m).toMatchObject({ generation: 1, source: { uuid: 'u', maxSeqNos: [4] } });
  });

  it('refuses a manifest whose parts do not add up', () => {
    const part = { key: 'archive/i/part-00000.ndjson.lz4', docs: 2, bytes: 10, sha256: 'a'.repeat(64) };
    const m = { version: 1, index: 'i', mappings: {}, settings: {}, docCount: 3, uncompressedBytes: 1, parts: [part], createdAt: '' };
    expect(() => validateManifest(m, 'i')).toThrow(/parts hold 2 documents, manifest says 3/);
    expect(validateManifest({ ...m, docCount: 2 }, 'i').docCount).toBe(2);
    expect(() => validateManifest({ ...m, docCount: 2 }, 'j')).toThrow(/names index i/);
  });

  it('refuses a manifest with a missing, reordered or foreign part key', () => {
    const p = (n: number, docs = 1) => ({ key: partKey('archive', 'i', n), docs, bytes: 10, sha256: 'b'.repeat(64) });
    const m = { version: 1, index: 'i', mappings: {}, settings: {}, docCount: 2, uncompressedBytes: 1, parts: [p(0), p(1)], createdAt: '' };
    expect(validateManifest(m, 'i').parts).toHaveLength(2);
    expect(() => validateManifest({ ...m, parts: [p(0), p(2)] }, 'i')).toThrow(/part 1 has key/);
    expect(() => validateManifest({ ...m, parts: [p(1), p(0)] }, 'i')).toThrow(/part 0 has key/);
    expect(() => validateManifest({ ...m, docCount: 1, parts: [p(0, 1), p(1, 0)] }, 'i')).toThrow(/holds no documents/);
    expect(() => validateManifest({ ...m, parts: [p(0), { ...p(1), sha256: 'nope' }] }, 'i')).toThrow(/checksum/);
  });

  it('builds a manifest whose count is the sum of its parts and which survives a JSON round trip', () => {
    const parts = [0, 1, 2].map((n) => ({
      key: partKey('a', 'mplp-traces-2024.05.02', n),
      docs: 10 + n,
      bytes: 100,
      sha256: sha256(Buffer.from(`part ${n}`)),
    }));
    const mappings = { dynamic: false, properties: { traceId: { type: 'keyword' } } };
    const m = buildManifest(
      'mplp-traces-2024.05.02',
      { mappings, settings: { index: { number_of_shards: '1' } } },
      parts,
      4321,
      new Date(Date.UTC(2024, 4, 10)),
    );
    expect(m).toMatchObject({
      version: 1,
      index: 'mplp-traces-2024.05.02',
      docCount: 33,
      uncompressedBytes: 4321,
      mappings,
      settings: { number_of_shards: '1' },
      createdAt: '2024-05-10T00:00:00.000Z',
    });
    expect(validateManifest(JSON.parse(JSON.stringify(m)), 'mplp-traces-2024.05.02')).toEqual(m);
    expect(buildManifest('mplp-traces-2024.05.02', {}, [], 0).docCount).toBe(0);
  });

  it('sha256 is the standard hex digest', () => {
    expect(sha256(Buffer.from('abc'))).toBe('ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad');
    const b = Buffer.from('x'.repeat(100_000));
    expect(sha256(b)).toBe(createHash('sha256').update(b).digest('hex'));
  });
});
