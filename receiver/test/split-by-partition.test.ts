import { randomBytes } from 'node:crypto';
import { Partitioners } from 'kafkajs';
import type { PartitionMetadata } from 'kafkajs';
import { ExportTraceServiceRequestType } from '../../shared/src';
import { encodeTraces, TraceGenerator } from '../../ingest/src/loadgen/trace-generator';
import { decodeExport, splitExport } from '../src/otlp-payload';
import { partitionOfKey } from '../src/trace-partitioner';

type Span = { traceId: string; spanId: string };
type Req = { resourceSpans?: { resource?: unknown; scopeSpans?: { scope?: unknown; spans?: Span[] }[] }[] };

/** Every span of a request with its resource and scope, as comparable strings. */
function flatten(body: Buffer): string[] {
  const req = ExportTraceServiceRequestType.toObject(ExportTraceServiceRequestType.decode(body), { bytes: String, longs: String }) as Req;
  return (req.resourceSpans ?? []).flatMap((rs) =>
    (rs.scopeSpans ?? []).flatMap((ss) => (ss.spans ?? []).map((s) => JSON.stringify([rs.resource, ss.scope, s]))),
  );
}
const traceOf = (flat: string) => Buffer.from((JSON.parse(flat) as [unknown, unknown, Span])[2].traceId, 'base64').toString('hex');

function exportOf(spans: number, encoding: 'protobuf' | 'json' = 'protobuf'): Buffer {
  const gen = new TraceGenerator({ errorRate: 0.02 });
  const traces = [];
  for (let n = 0; n < spans;) {
    const t = gen.trace(Date.now()).slice(0, spans - n);
    traces.push(t);
    n += t.length;
  }
  return encodeTraces(traces, encoding);
}

describe('Kafka default partitioner (murmur2) for trace ids', () => {
  it('picks the partition kafkajs DefaultPartitioner picks, for any key and partition count', () => {
    const partitioner = Partitioners.DefaultPartitioner();
    for (const n of [1, 3, 6, 7, 64]) {
      const partitionMetadata = Array.from({ length: n }, (_, i) => ({ partitionId: i, leader: 0 }) as PartitionMetadata);
      for (let i = 0; i < 300; i++) {
        const key = randomBytes(16)
          .toString('hex')
          .slice(0, 1 + (i % 32));
        expect(partitionOfKey(key, n)).toBe(partitioner({ topic: 't', partitionMetadata, message: { key, value: null } }));
      }
    }
  });
});

describe('splitExport per destination partition', () => {
  it.each([undefined, 1, 6])(
    'partitions %s: every span kept once with its resource and scope, each trace whole in one record of its partition, keyed by one of its ids',
    (partitions) => {
      const body = exportOf(1000);
      const out = splitExport(decodeExport(body, 'protobuf'), body, 'protobuf', partitions);
      expect(out.spans).toBe(1000);
      const all = flatten(body);
      const got = out.records.flatMap((r) => flatten(r.value));
      expect([...got].sort()).toEqual([...all].sort());
      const recordOfTrace = new Map<string, string>();
      for (const r of out.records) {
        const spans = flatten(r.value);
        expect(r.spans).toBe(spans.length);
        for (const s of spans) {
          const t = traceOf(s);
          expect(recordOfTrace.get(t) ?? r.key).toBe(r.key);
          recordOfTrace.set(t, r.key);
          if (partitions) expect(partitionOfKey(t, partitions)).toBe(partitionOfKey(r.key, partitions));
          else expect(t).toBe(r.key);
        }
      }
      const traces = new Set(all.map(traceOf)).size;
      expect(out.records.length).toBe(partitions === undefined ? traces : Math.min(partitions, traces));
    },
  );

  it('OTLP/JSON is grouped the same way, and a request that makes one record is forwarded byte for byte', () => {
    const body = exportOf(200, 'json');
    const out = splitExport(decodeExport(body, 'json'), body, 'json', 6);
    expect(out.spans).toBe(200);
    const keys = out.records.map((r) => partitionOfKey(r.key, 6));
    expect(new Set(keys).size).toBe(out.records.length);
    for (const r of out.records) {
      for (const rs of JSON.parse(r.value.toString()).resourceSpans)
        for (const ss of rs.scopeSpans)
          for (const s of ss.spans) expect(partitionOfKey(s.traceId.toLowerCase(), 6)).toBe(partitionOfKey(r.key, 6));
    }
    const one = exportOf(300);
    const single = splitExport(decodeExport(one, 'protobuf'), one, 'protobuf', 1);
    expect(single.records).toHaveLength(1);
    expect(single.records[0].value).toBe(one);
  });
});
