import { agedIndices, manifestKey, partKey, validateManifest } from '../src/layout';

describe('archive layout', () => {
  it('selects our daily indices older than the retention, oldest first', () => {
    const now = Date.UTC(2024, 4, 10, 15);
    const names = ['mplp-traces-2024.05.09', 'mplp-traces-2024.05.02', 'mplp-metrics-2024.05.03', 'mplp-traces-2024.05.03', 'other-traces-2024.01.01', 'mplp-traces-garbage', 'mplp-alerts-2024.05.04'];
    // An index holds its whole day: on 05-10 with 7 days kept, 05-03 still has documents younger than 7 days.
    expect(agedIndices(names, 'mplp', 7, now)).toEqual(['mplp-traces-2024.05.02']);
    expect(agedIndices(names, 'mplp', 6, now)).toEqual(['mplp-traces-2024.05.02', 'mplp-metrics-2024.05.03', 'mplp-traces-2024.05.03']);
    expect(agedIndices(names, 'mplp', 0, now)).toContain('mplp-traces-2024.05.09');
  });

  it('names parts and the manifest as DESIGN.md says', () => {
    expect(partKey('archive', 'mplp-traces-2024.05.02', 7)).toBe('archive/mplp-traces-2024.05.02/part-00007.ndjson.lz4');
    expect(manifestKey('archive', 'mplp-traces-2024.05.02')).toBe('archive/mplp-traces-2024.05.02/manifest.json');
  });

  it('refuses a manifest whose parts do not add up', () => {
    const part = { key: 'k', docs: 2, bytes: 10, sha256: 'a'.repeat(64) };
    const m = { version: 1, index: 'i', mappings: {}, settings: {}, docCount: 3, uncompressedBytes: 1, parts: [part], createdAt: '' };
    expect(() => validateManifest(m, 'i')).toThrow(/parts hold 2 documents, manifest says 3/);
    expect(validateManifest({ ...m, docCount: 2 }, 'i').docCount).toBe(2);
    expect(() => validateManifest({ ...m, docCount: 2 }, 'j')).toThrow(/names index i/);
  });
});
