import { corsHeaders } from '../src/cors';
import { parseSpmParams, quantileOf } from '../src/jaeger-metrics';
import { BadRequest } from '../src/query-params';

const spm = (qs: string, metric: 'latencies' | 'calls' = 'calls') => parseSpmParams(metric, new URLSearchParams(qs), 1_700_000_000_000);

describe('Jaeger SPM parameters', () => {
  it("takes Jaeger's defaults: now, 1 h lookback, server spans, per service; the step never below the 5 s emit period", () => {
    expect(spm('service=a&service=b')).toEqual({
      services: ['a', 'b'],
      spanKinds: ['SERVER'],
      groupByOperation: false,
      endMs: 1_700_000_000_000,
      lookbackMs: 3_600_000,
      stepMs: 5_000,
      ratePerMs: 600_000,
    });
    expect(
      spm('service=a&step=60&spanKind=SPAN_KIND_CLIENT&spanKind=consumer&groupByOperation=true&endTs=5000&lookback=1000'),
    ).toMatchObject({
      spanKinds: ['CLIENT', 'CONSUMER'],
      groupByOperation: true,
      stepMs: 5_000,
      endMs: 5_000,
      lookbackMs: 1_000,
    });
    expect(spm('service=a&quantile=0.75', 'latencies').quantile).toBe(0.75);
  });

  it('refuses malformed parameters with a BadRequest naming them', () => {
    for (const [qs, name] of [
      ['', 'service'],
      ['service=a&spanKind=sever', 'span kind'],
      ['service=a&endTs=1.5', 'endTs'],
      ['service=a&groupByOperation=maybe', 'groupByOperation'],
      ['service=a&quantile=', 'quantile'],
      ['service=a&quantile=-0.1', 'quantile'],
      ['service=a&quantile=1.01', 'quantile'],
    ]) {
      expect(() => spm(qs, 'latencies')).toThrow(BadRequest);
      expect(() => spm(qs, 'latencies')).toThrow(name);
    }
  });

  it('reads stored percentiles exactly and interpolates between them', () => {
    const l = { min: 1, p50: 10, p90: 50, p95: 60, p99: 100, p999: 200, max: 300 };
    expect([0, 0.5, 0.9, 0.95, 0.99, 0.999, 1].map((q) => quantileOf(l, q))).toEqual([1, 10, 50, 60, 100, 200, 300]);
    expect(quantileOf(l, 0.75)).toBeCloseTo(35, 9);
    expect(quantileOf(l, 0.25)).toBeCloseTo(5.5, 9);
    expect(quantileOf({ p50: 10 }, 0.75)).toBe(10);
  });
});

describe('CORS', () => {
  it('echoes a listed origin (or any with *), and nothing when off, unlisted or without Origin', () => {
    expect(corsHeaders(['https://a.example'], 'https://a.example')).toEqual({
      'access-control-allow-origin': 'https://a.example',
      'access-control-allow-credentials': 'true',
      vary: 'Origin',
    });
    expect(corsHeaders(['*'], 'https://b.example')?.['access-control-allow-origin']).toBe('https://b.example');
    expect(corsHeaders([], 'https://a.example')).toBeUndefined();
    expect(corsHeaders(['https://a.example'], 'https://b.example')).toBeUndefined();
    expect(corsHeaders(['https://a.example'], undefined)).toBeUndefined();
  });
});
