import { randomBytes } from 'node:crypto';
import { encodeRequestProtobuf } from '../otlp-decoder';

/**
 * Synthetic but realistic traces: a frontend calls services that call each other and a
 * database, with per-operation latency distributions (log-normal, some with long tails),
 * configurable errors, all span kinds, events and links.
 */
interface Op {
  service: string;
  name: string;
  kind: number;
  medianMs: number;
  sigma: number;
  calls: string[];
}

const OPS: Record<string, Op> = {
  'frontend GET /': {
    service: 'frontend',
    name: 'GET /',
    kind: 2,
    medianMs: 40,
    sigma: 0.5,
    calls: ['cart GetCart', 'catalog ListProducts'],
  },
  'frontend POST /checkout': {
    service: 'frontend',
    name: 'POST /checkout',
    kind: 2,
    medianMs: 120,
    sigma: 0.7,
    calls: ['checkout PlaceOrder'],
  },
  'cart GetCart': { service: 'cart', name: 'GetCart', kind: 2, medianMs: 5, sigma: 0.4, calls: ['redis GET'] },
  'catalog ListProducts': { service: 'catalog', name: 'ListProducts', kind: 2, medianMs: 15, sigma: 1.1, calls: ['postgres SELECT'] },
  'checkout PlaceOrder': {
    service: 'checkout',
    name: 'PlaceOrder',
    kind: 2,
    medianMs: 60,
    sigma: 0.6,
    calls: ['payment Charge', 'checkout publish order', 'postgres INSERT'],
  },
  'payment Charge': { service: 'payment', name: 'Charge', kind: 2, medianMs: 80, sigma: 1.3, calls: [] },
  'checkout publish order': {
    service: 'checkout',
    name: 'orders publish',
    kind: 4,
    medianMs: 2,
    sigma: 0.3,
    calls: ['shipping orders process'],
  },
  'shipping orders process': { service: 'shipping', name: 'orders process', kind: 5, medianMs: 25, sigma: 0.5, calls: [] },
  'redis GET': { service: 'cart', name: 'redis GET', kind: 3, medianMs: 0.6, sigma: 0.3, calls: [] },
  'postgres SELECT': { service: 'catalog', name: 'postgres SELECT', kind: 3, medianMs: 4, sigma: 0.9, calls: [] },
  'postgres INSERT': { service: 'checkout', name: 'postgres INSERT', kind: 3, medianMs: 6, sigma: 0.5, calls: [] },
};
const ROOTS = ['frontend GET /', 'frontend GET /', 'frontend GET /', 'frontend POST /checkout'];

export interface GeneratorOptions {
  errorRate: number;
  random?: () => number;
}

type Kv = { key: string; value: Record<string, unknown> };
export interface GenSpan {
  service: string;
  traceId: Buffer;
  spanId: Buffer;
  parentSpanId?: Buffer;
  name: string;
  kind: number;
  startNs: bigint;
  endNs: bigint;
  error: boolean;
  attributes: Kv[];
  events: { timeNs: bigint; name: string; attributes: Kv[] }[];
}

function gaussian(rnd: () => number): number {
  const u = Math.max(rnd(), 1e-12),
    v = rnd();
  return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
}

export class TraceGenerator {
  private readonly rnd: () => number;
  constructor(private readonly opts: GeneratorOptions) {
    this.rnd = opts.random ?? Math.random;
  }

  /** One trace ending around `nowMs`. */
  trace(nowMs: number): GenSpan[] {
    const traceId = randomBytes(16);
    const spans: GenSpan[] = [];
    const root = OPS[ROOTS[Math.floor(this.rnd() * ROOTS.length)]];
    const startNs = BigInt(Math.floor(nowMs * 1e3)) * 1000n - 2_000_000_000n;
    this.span(root, traceId, undefined, startNs, spans);
    return spans;
  }

  private span(op: Op, traceId: Buffer, parent: Buffer | undefined, startNs: bigint, out: GenSpan[]): bigint {
    const spanId = randomBytes(8);
    // 1 % of calls land in a long tail 5-20x the median.
    const tail = this.rnd() < 0.01 ? 5 + this.rnd() * 15 : 1;
    let durMs = op.medianMs * Math.exp(op.sigma * gaussian(this.rnd)) * tail;
    let childStart = startNs + BigInt(Math.floor(durMs * 0.05 * 1e6));
    let error = this.rnd() < this.opts.errorRate;
    const s: GenSpan = {
      service: op.service,
      traceId,
      spanId,
      parentSpanId: parent,
      name: op.name,
      kind: op.kind,
      startNs,
      endNs: 0n,
      error,
      attributes: [
        { key: 'http.method', value: { stringValue: op.name.split(' ')[0] } },
        { key: 'net.peer.port', value: { intValue: 443 + Math.floor(this.rnd() * 10) } },
        { key: 'sampled', value: { boolValue: true } },
        { key: 'load', value: { doubleValue: Math.round(this.rnd() * 1000) / 1000 } },
      ],
      events: [],
    };
    out.push(s);
    for (const c of op.calls) {
      const childEnd = this.span(OPS[c], traceId, spanId, childStart, out);
      childStart = childEnd + 100_000n;
      if (out.some((x) => x.parentSpanId === spanId && x.error)) error = error || this.rnd() < 0.5;
    }
    const minEnd = childStart;
    const endNs = startNs + BigInt(Math.floor(durMs * 1e6));
    s.endNs = endNs > minEnd ? endNs : minEnd;
    s.error = error;
    if (error)
      s.events.push({
        timeNs: s.endNs - 1000n,
        name: 'exception',
        attributes: [{ key: 'exception.type', value: { stringValue: 'TimeoutError' } }],
      });
    durMs = 0;
    return s.endNs;
  }
}

function toOtlp(spans: GenSpan[], idsAs: 'bytes' | 'hex', timesAs: 'string' | 'long') {
  const byService = new Map<string, GenSpan[]>();
  for (const s of spans) byService.set(s.service, [...(byService.get(s.service) ?? []), s]);
  const id = (b: Buffer) => (idsAs === 'hex' ? b.toString('hex') : b);
  const t = (n: bigint) => (timesAs === 'string' ? n.toString() : n.toString());
  return {
    resourceSpans: [...byService].map(([service, list]) => ({
      resource: {
        attributes: [
          { key: 'service.name', value: { stringValue: service } },
          { key: 'deployment.environment', value: { stringValue: 'demo' } },
        ],
      },
      scopeSpans: [
        {
          scope: { name: 'mplp-loadgen', version: '1.0.0' },
          spans: list.map((s) => ({
            traceId: id(s.traceId),
            spanId: id(s.spanId),
            ...(s.parentSpanId ? { parentSpanId: id(s.parentSpanId) } : {}),
            name: s.name,
            kind: s.kind,
            startTimeUnixNano: t(s.startNs),
            endTimeUnixNano: t(s.endNs),
            attributes: s.attributes,
            events: s.events.map((e) => ({ timeUnixNano: t(e.timeNs), name: e.name, attributes: e.attributes })),
            status: s.error ? { code: 2, message: 'request failed' } : { code: 0 },
          })),
        },
      ],
    })),
  };
}

export function encodeTraces(traces: GenSpan[][], encoding: 'protobuf' | 'json'): Buffer {
  const spans = traces.flat();
  if (encoding === 'json') return Buffer.from(JSON.stringify(toOtlp(spans, 'hex', 'string')));
  return encodeRequestProtobuf(toOtlp(spans, 'bytes', 'long'));
}

/** Invalid input of several kinds, for the demo's and tests' bad-input share. */
export function badMessage(rnd: () => number): { value: Buffer; contentType?: string } {
  const kinds = [
    () => ({ value: Buffer.from('{"resourceSpans": [ {"scopeSpans": '), contentType: 'application/json' }),
    () => ({ value: Buffer.from([0x0a, 0xff, 0xff, 0xff, 0x0f, 0x01]) }),
    () => ({ value: Buffer.alloc(0) }),
    () => {
      const now = BigInt(Date.now()) * 1_000_000n;
      return {
        value: Buffer.from(
          JSON.stringify({
            resourceSpans: [
              {
                scopeSpans: [
                  {
                    spans: [
                      {
                        traceId: '00000000000000000000000000000000',
                        spanId: 'abcdef0123456789',
                        name: 'bad',
                        startTimeUnixNano: String(now),
                        endTimeUnixNano: String(now),
                      },
                    ],
                  },
                ],
              },
            ],
          }),
        ),
      };
    },
  ];
  return kinds[Math.floor(rnd() * kinds.length)]();
}
