import { execFileSync } from 'node:child_process';
import lz4 from 'lz4';
import { SpanBatchCodec, SpanSummaryReader, SummaryFields } from '../../shared/src';
import { encodeBatch, RECORD_OVERHEAD_BYTES, spanLine } from '../src/batch-encoder';
import decode, { packBuffers } from '../src/decode-worker';
import { MessageProcessor } from '../src/message-processor';
import { encodeTraces, TraceGenerator } from '../src/loadgen/trace-generator';

const limits = {
  maxAttributes: 128,
  maxAttributeValueLength: 8192,
  maxEvents: 128,
  maxLinks: 128,
  maxPastMs: 86400e3,
  maxFutureMs: 3600e3,
  maxMessageBytes: 1 << 20,
  maxDlqValueBytes: 1024,
  maxAttributeKeyBytes: 1024,
  maxAttributeDepth: 16,
  maxDurationMs: 86400e3,
  maxRecordBytes: 8 << 20,
  maxOutputBytesPerMessage: 32 << 20,
};

const encodeLimits = { maxBatchBytes: 1 << 20, maxRecordBytes: 8 << 20, maxOutputBytesPerMessage: 32 << 20 };

function sample(n = 5) {
  const gen = new TraceGenerator({ errorRate: 0.3 });
  const traces = Array.from({ length: n }, () => gen.trace(Date.now()));
  return { traces, value: encodeTraces(traces, 'protobuf') };
}

describe('lz4 frames', () => {
  it.each([0, 10, 100_000, 5 * 1024 * 1024])(
    'a frame of %d bytes is read back by SpanBatchCodec, the lz4 package and the lz4 CLI',
    (size) => {
      const input = Buffer.alloc(size);
      for (let i = 0; i < size; i++) input[i] = (i * 7919) % 251 < 120 ? 97 : (i * 31) & 0xff;
      const frame = SpanBatchCodec.encodeLines(input);
      expect(SpanBatchCodec.decompress(frame).equals(input)).toBe(true);
      expect(lz4.decode(frame).equals(input)).toBe(true);
      if (size <= 100_000) expect(execFileSync('lz4', ['-d', '-c'], { input: frame }).equals(input)).toBe(true);
    },
  );
});

describe('batch encoding', () => {
  it('writes each span as the same JSON as JSON.stringify of the normalized span', () => {
    const r = new MessageProcessor(limits).process(sample().value, undefined, 't/0/0');
    expect(r.spans.length).toBeGreaterThan(5);
    for (const s of r.spans) expect(JSON.parse(spanLine(s))).toEqual(JSON.parse(JSON.stringify(s)));
  });

  it('groups spans into one record per trace, keyed by trace id, and the pool task gives the same output', () => {
    const { traces, value } = sample(8);
    const inputs = [
      { value, source: 't/0/1' },
      { value: Buffer.from('{bad'), source: 't/0/2' },
      { value: null, source: 't/0/3' },
    ];
    const local = encodeBatch(new MessageProcessor(limits), inputs, encodeLimits);
    expect(local.records.map((r) => r.key).sort()).toEqual(traces.map((t) => t[0].traceId.toString('hex')).sort());
    for (const r of local.records) {
      const spans = SpanBatchCodec.decode(r.value);
      expect(spans.length).toBe(r.spans);
      expect(new Set(spans.map((s) => s.traceId))).toEqual(new Set([r.key]));
    }
    expect(local.dlq.map((d) => [d.code, d.source])).toEqual([
      ['decode', 't/0/2'],
      ['empty', 't/0/3'],
    ]);
    expect(local.stats).toMatchObject({
      spansIn: traces.flat().length,
      spansValid: traces.flat().length,
      rejectedByCode: { decode: 1, empty: 1 },
    });

    const { buf, bounds } = packBuffers(inputs.map((m) => m.value));
    const res = decode({
      buf,
      bounds,
      contentTypes: inputs.map(() => undefined),
      sources: inputs.map((m) => m.source),
      limits,
      encode: encodeLimits,
    });
    const whole = Buffer.from(res.buf);
    expect(res.records.map((r) => [r.key, SpanBatchCodec.decode(whole.subarray(r.start, r.end))])).toEqual(
      local.records.map((r) => [r.key, SpanBatchCodec.decode(r.value)]),
    );
    expect(res.dlq.map((d) => whole.subarray(d.start, d.end).toString())).toEqual(local.dlq.map((d) => d.value.toString()));
    expect(res.records.map((r) => r.summary && whole.subarray(r.summary[0], r.summary[1]))).toEqual(local.records.map((r) => r.summary));
  });

  it("gives each record a span summary of exactly its spans' window fields, left out when the record would pass the size limit", () => {
    const { value } = sample(8);
    const local = encodeBatch(new MessageProcessor(limits), [{ value, source: 't/0/1' }], encodeLimits);
    // Traces cut into several records (small maxBatchBytes): each record's summary has its own spans.
    const cut = encodeBatch(new MessageProcessor(limits), [{ value, source: 't/0/1' }], { ...encodeLimits, maxBatchBytes: 1024 });
    expect(new Set(cut.records.map((r) => r.key)).size).toBeLessThan(cut.records.length);
    const reader = new SpanSummaryReader();
    for (const r of [...local.records, ...cut.records]) {
      const slots: SummaryFields[] = [];
      const n = reader.read(r.summary!, slots);
      const fromSummary = slots
        .slice(0, n)
        .map((f) => [f.service, f.name, f.kind, f.startMs, f.durationNanos, f.statusCode, reader.traceId(f)]);
      const fromValue = SpanBatchCodec.decode(r.value).map((s) => [
        s.service,
        s.name,
        s.kind,
        Date.parse(`${s.startTime.slice(0, 23)}Z`),
        Number(s.durationNanos),
        s.status?.code === 'UNSET' ? undefined : s.status?.code,
        s.traceId,
      ]);
      expect(fromSummary).toEqual(fromValue);
    }
    // A record limit the values fit in but value + summary do not: records go without the summary.
    const biggest = Math.max(...local.records.map((r) => r.value.length));
    const tight = encodeBatch(new MessageProcessor(limits), [{ value, source: 't/0/1' }], {
      ...encodeLimits,
      maxRecordBytes: biggest + RECORD_OVERHEAD_BYTES,
    });
    expect(tight.stats.spansValid).toBe(local.stats.spansValid);
    const largest = tight.records.find((r) => r.value.length === biggest)!;
    expect(largest.summary).toBeUndefined();
    // MPLP_INGEST_SPAN_SUMMARY=false: no record has one, the values are the same.
    const off = encodeBatch(new MessageProcessor(limits), [{ value, source: 't/0/1' }], { ...encodeLimits, spanSummary: false });
    expect(off.records.every((r) => r.summary === undefined)).toBe(true);
    expect(off.records.map((r) => SpanBatchCodec.decode(r.value))).toEqual(local.records.map((r) => SpanBatchCodec.decode(r.value)));
  });
});
