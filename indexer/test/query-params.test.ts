import { ConfigError, loadProcessConfig } from '../../shared/src';
import { indexerSchema } from '../src/config';
import { queryApiOptions, queryApiWarnings, shareSpans } from '../src/query-api';
import { BadRequest, parseSearchParams, parseTraceId } from '../src/query-params';

const search = (qs: string) => parseSearchParams(new URLSearchParams(qs), 100);

describe('query parameters', () => {
  it('parses a Jaeger UI search: durations to ns, start/end µs to ISO, tags from JSON and tag=k:v, default limit 20', () => {
    const q = search(
      'service=cart&operation=GET&minDuration=1.5ms&maxDuration=2s&start=1700000000123456&end=1700000001000000&lookback=1h&tags={"http.status_code":500,"ok":true}&tag=region:eu-1',
    );
    expect(q).toEqual({
      service: 'cart',
      operation: 'GET',
      minDurationNanos: 1_500_000,
      maxDurationNanos: 2e9,
      limit: 20,
      tags: { 'http.status_code': '500', ok: 'true', region: 'eu-1' },
      startIso: '2023-11-14T22:13:20.123456Z',
      endIso: '2023-11-14T22:13:21.000000Z',
    });
    expect(search('service=cart&limit=100').limit).toBe(100);
  });

  it.each([
    ['', /service is required/],
    ['service=a&limit=abc', /limit must be an integer from 1 to 100/],
    ['service=a&limit=0', /limit must be an integer from 1 to 100/],
    ['service=a&limit=-5', /limit must be an integer/],
    ['service=a&limit=1.5', /limit must be an integer/],
    ['service=a&limit=101', /limit must be an integer from 1 to 100 \(MPLP_INDEXER_QUERY_MAX_SEARCH_TRACES\)/],
    ['service=a&minDuration=fast', /minDuration must be a duration/],
    ['service=a&maxDuration=10', /maxDuration must be a duration/],
    ['service=a&maxDuration=99999999999h', /maxDuration must be a duration/],
    ['service=a&minDuration=2s&maxDuration=1s', /minDuration \(2s\) must not exceed maxDuration \(1s\)/],
    ['service=a&start=yesterday', /start must be microseconds since the epoch/],
    ['service=a&end=-1', /end must be microseconds/],
    ['service=a&start=1e15', /start must be microseconds/],
    ['service=a&start=99999999999999999', /start must be microseconds/],
    ['service=a&start=2000000&end=1000000', /start \(2000000\) must not be after end \(1000000\)/],
    ['service=a&tags=notjson', /tags must be a JSON object/],
    ['service=a&tags=[1,2]', /tags must be a JSON object/],
    ['service=a&tags={"a":{"b":1}}', /tag a must have a string, number or boolean value/],
    ['service=a&tags={"a b":"x"}', /tag key must be/],
    ['service=a&tags={"a*":"x"}', /tag key must be/],
    ['service=a&tag=novalue', /tag must be key:value/],
    [`service=${'x'.repeat(1025)}`, /service must be 1 to 1024 characters/],
  ])('refuses %s with a message', (qs, msg) => {
    expect(() => search(qs)).toThrow(BadRequest);
    expect(() => search(qs)).toThrow(msg);
  });

  it('takes trace ids of 1 to 32 hex digits, padded to 32, and refuses others', () => {
    expect(parseTraceId('ABC')).toBe('abc'.padStart(32, '0'));
    expect(() => parseTraceId('xyz')).toThrow(/trace id must be 1 to 32 hex digits/);
    expect(() => parseTraceId('a'.repeat(33))).toThrow(BadRequest);
  });
});

describe('search span budget', () => {
  it('gives small traces all their spans and cuts only the large ones, within the budget', () => {
    expect(shareSpans([10, 20, 50_000], 20_000)).toEqual([10, 20, 19_970]);
    expect(shareSpans([30_000, 30_000], 20_000)).toEqual([10_000, 10_000]);
    expect(shareSpans([5, 5], 20_000)).toEqual([5, 5]);
    const shares = shareSpans([100, 7_000, 9_000, 12_000], 20_000);
    expect(shares.reduce((a, b) => a + b, 0)).toBeLessThanOrEqual(20_000);
    expect(shares[0]).toBe(100);
  });

  it('keeps at least one span of every trace even past the budget', () => {
    expect(shareSpans([3, 3, 3], 2)).toEqual([1, 1, 1]);
  });
});

describe('query API settings', () => {
  const settings = (env: Record<string, string> = {}) => loadProcessConfig(env, 'MPLP_INDEXER_', indexerSchema).own;

  it('binds loopback by default, without token or TLS', () => {
    const o = queryApiOptions(settings());
    expect(o).toMatchObject({ host: '127.0.0.1', port: 16686, token: '', tls: undefined });
    expect(queryApiWarnings(o)).toEqual([]);
  });

  it('warns when exposed without a token, or with a token over plain HTTP', () => {
    expect(queryApiWarnings({ host: '0.0.0.0', token: '' })[0]).toMatch(/without MPLP_INDEXER_QUERY_TOKEN/);
    expect(queryApiWarnings({ host: '0.0.0.0', token: 't' })[0]).toMatch(/plain HTTP/);
    expect(queryApiWarnings({ host: '0.0.0.0', token: 't', tls: { cert: Buffer.alloc(1), key: Buffer.alloc(1) } })).toEqual([]);
  });

  it('refuses half a TLS setup or an unreadable file, naming the setting', () => {
    expect(() => queryApiOptions(settings({ MPLP_INDEXER_QUERY_TLS_CERT_FILE: '/etc/hostname' }))).toThrow(
      /MPLP_INDEXER_QUERY_TLS_KEY_FILE: set both/,
    );
    expect(() =>
      queryApiOptions(
        settings({ MPLP_INDEXER_QUERY_TLS_CERT_FILE: '/nonexistent.pem', MPLP_INDEXER_QUERY_TLS_KEY_FILE: '/nonexistent.key' }),
      ),
    ).toThrow(ConfigError);
    expect(() => settings({ MPLP_INDEXER_QUERY_HOST: 'not a host' })).toThrow(
      /MPLP_INDEXER_QUERY_HOST: must be an IP address or host name/,
    );
  });
});
