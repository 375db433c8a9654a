import { main, searchQuery } from '../src/cli';

describe('mplp-traces CLI arguments', () => {
  it('builds the search query from its options, tags as a JSON object', () => {
    const q = searchQuery([
      '--service',
      'cart',
      '--operation',
      'GET',
      '--tag',
      'http.status_code=500',
      '--tag',
      'region=eu=1',
      '--min-duration',
      '10ms',
      '--limit',
      '5',
    ]);
    expect(Object.fromEntries(q)).toEqual({
      service: 'cart',
      operation: 'GET',
      minDuration: '10ms',
      limit: '5',
      tags: '{"http.status_code":"500","region":"eu=1"}',
    });
  });

  it('refuses a search without --service, unknown flags, stray arguments and malformed tags', () => {
    expect(() => searchQuery([])).toThrow(/search needs --service/);
    expect(() => searchQuery(['--service', 'a', '--limt', '5'])).toThrow(/Unknown option '--limt'/);
    expect(() => searchQuery(['--service', 'a', 'extra'])).toThrow(/no arguments/);
    expect(() => searchQuery(['--service', 'a', '--tag', 'novalue'])).toThrow(/--tag must be key=value/);
  });

  it('refuses unknown commands, wrong argument counts and unknown settings', async () => {
    await expect(main(['frob'], {})).rejects.toThrow(/unknown command "frob"/);
    await expect(main(['trace'], {})).rejects.toThrow(/trace needs exactly one trace id/);
    await expect(main(['services', '--all'], {})).rejects.toThrow(/Unknown option/);
    await expect(main(['services'], { MPLP_INDEXER_QUERY_URLL: 'x' })).rejects.toThrow(/MPLP_INDEXER_QUERY_URLL: unknown setting/);
  });

  it('prints its usage for --help', async () => {
    const log = jest.spyOn(console, 'log').mockImplementation(() => undefined);
    await main(['search', '--help'], {});
    expect(log.mock.calls[0][0]).toMatch(/^usage: .*\n[\s\S]*search --service S/);
    log.mockRestore();
  });
});
