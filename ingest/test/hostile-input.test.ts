import { MplpError, SpanBatchCodec } from '../../shared/src';
import { anyValueJson, flattenAttributes, newCounts, truncateUtf8 } from '../src/attributes';
import { encodeBatch, EncodeLimits, RECORD_OVERHEAD_BYTES } from '../src/batch-encoder';
import { checkIngestSettings, ingestSchema, IngestSettings } from '../src/config';
import { MessageProcessor, ProcessorLimits } from '../src/message-processor';
import { splitByBytes } from '../../shared/src/output-producer';
import { deadLetterReference, outputRecordReference } from '../src/refused-output';
import { ES_INTEGER_MAX } from '../src/span-normalizer';
import { loadConfig } from '../../shared/src';
import {
  amplifyingRequest,
  badSpansSharingAResource,
  deepKvlistJson,
  jsonRequest,
  jsonRequestWithDeepSpan,
  jsonSpan,
  longKeyOverKvlist,
  noise,
  protobufRequest,
  protobufRequestWithDeepSpan,
} from './hostile-inputs';

const settings = loadConfig(ingestSchema, {}) as IngestSettings;
const limits: ProcessorLimits = settings;
const encodeLimits: EncodeLimits = {
  maxBatchBytes: settings.maxBatchBytes,
  maxRecordBytes: settings.maxRecordBytes,
  maxOutputBytesPerMessage: settings.maxOutputBytesPerMessage,
};
const proc = new MessageProcessor(limits);
const attrLimits = { maxAttributes: 128, maxAttributeValueLength: 100, maxAttributeKeyBytes: 32, maxAttributeDepth: 3 };

describe('attribute flattening bounds (issue #12 items 1, 7, 9)', () => {
  it('cuts keys at maxAttributeKeyBytes on a UTF-8 character boundary and counts it; a cut key colliding with a kept one is dropped and counted', () => {
    const counts = newCounts();
    const key = 'é'.repeat(40); // 80 bytes
    const out = flattenAttributes(
      [
        { key, value: { stringValue: 'a' } },
        { key: `${key}x`, value: { stringValue: 'b' } },
      ],
      attrLimits,
      counts,
    );
    expect(Object.keys(out)).toEqual(['é'.repeat(16)]);
    expect(Buffer.byteLength(Object.keys(out)[0])).toBe(32);
    expect(out['é'.repeat(16)]).toBe('a');
    expect(counts).toMatchObject({ truncated: 1, dropped: 1 });
    expect(truncateUtf8('ab€', 4)).toBe('ab'); // € is 3 bytes: never half a character
    expect(truncateUtf8('abc', 3)).toBe('abc');
  });

  it('flattens kvlists to the depth cap and keeps anything deeper as truncated JSON text, counted', () => {
    const counts = newCounts();
    const nested = JSON.parse(deepKvlistJson(5));
    const out = flattenAttributes(
      [
        { key: 'a', value: nested },
        { key: 'b', value: { kvlistValue: { values: [{ key: 'c', value: { intValue: '7' } }] } } },
      ],
      attrLimits,
      counts,
    );
    expect(out['b.c']).toBe(7);
    // depth 1 'a', 2 'a.k', 3 'a.k.k' is a kvlist at the cap: its value as JSON text
    expect(out['a.k.k']).toBe('{"k":{"k":{"k":"leaf"}}}');
    expect(counts.truncated).toBe(1);
  });

  it('survives a kvlist nested 100,000 levels deep (no recursion), the JSON text cut at the value length cap', () => {
    const counts = newCounts();
    const out = flattenAttributes([{ key: 'a', value: JSON.parse(deepKvlistJson(100_000)) }], attrLimits, counts);
    expect((out['a.k.k'] as string).length).toBe(100);
    expect(counts.truncated).toBe(1);
    expect(anyValueJson(JSON.parse(deepKvlistJson(100_000)), 50).cut).toBe(true);
    expect(
      anyValueJson(
        { arrayValue: { values: [{ intValue: 1 }, { kvlistValue: { values: [{ key: 'x', value: { boolValue: true } }] } }, {}] } },
        100,
      ),
    ).toEqual({ text: '[1,{"x":true},null]', cut: false });
  });
});

describe('one bad span, not the whole message (issue #12 item 10)', () => {
  it.each([
    ['an intValue that is not an integer', { attributes: [{ key: 'n', value: { intValue: 'abc' } }] }, /intValue "abc" is not an integer/],
    ['attributes that are not a list', { attributes: 'nope', events: [{ timeUnixNano: {} }] }, /events.timeUnixNano/],
    ['a span that is not an object', null, /not an object/],
  ])('%s: that span alone goes to the DLQ, the good one goes on', (_what, bad, reason) => {
    const good = jsonSpan();
    const badSpan = bad === null ? null : jsonSpan(bad as Record<string, unknown>);
    const r = proc.process(jsonRequest([badSpan as Record<string, unknown>, good]), undefined, 'raw/0/1');
    expect(r.spans.map((s) => s.spanId)).toEqual([good.spanId]);
    expect(r.dlq).toHaveLength(1);
    expect(r.dlq[0].reason).toMatch(reason);
    expect(r.dlq[0].spans).toBe(1);
  });

  it('a JSON span with an attribute nested 100,000 deep is kept (deep part as text) next to the good span', () => {
    const deep = jsonSpan();
    const good = jsonSpan();
    const r = proc.process(jsonRequestWithDeepSpan(100_000, deep, [good]), undefined, 'raw/0/2');
    expect(r.dlq).toEqual([]);
    expect(r.spans.map((s) => s.spanId)).toEqual([deep.spanId, good.spanId]);
    expect(r.spans[0].dropped?.truncatedValues).toBe(1);
  });

  it("a protobuf span nested past the decoder's stack goes alone to the DLQ as a one-span protobuf request; the good span goes on", () => {
    const deep = jsonSpan();
    const good = jsonSpan();
    const r = proc.process(protobufRequestWithDeepSpan(20_000, deep, [good]), 'application/x-protobuf', 'raw/0/3');
    expect(r.spans.map((s) => s.spanId)).toEqual([good.spanId]);
    expect(r.dlq).toHaveLength(1);
    expect(r.dlq[0]).toMatchObject({ code: 'decode', spans: 1, contentType: 'application/x-protobuf', source: 'raw/0/3' });
    expect(r.dlq[0].reason).toMatch(/^span: /);
    expect(r.dlq[0].value.length).toBeGreaterThan(20_000 * 6);
  });
});

describe('times and counters Elasticsearch can take (issue #12 item 9)', () => {
  it.each([
    ['an end in 2554', { endTimeUnixNano: '18446744073709551615' }],
    [
      'an end 25 h after the start',
      (() => {
        const s = BigInt(Date.now()) * 1_000_000n;
        return { startTimeUnixNano: String(s), endTimeUnixNano: String(s + 25n * 3600n * 10n ** 9n) };
      })(),
    ],
    ['an event in 2554', { events: [{ timeUnixNano: '18446744073709551615', name: 'e' }] }],
  ])('rejects a span with %s (timestamps)', (_what, over) => {
    const r = proc.process(jsonRequest([jsonSpan(over)]), undefined, 'raw/0/4');
    expect(r.spans).toEqual([]);
    expect(r.dlq.map((d) => d.code)).toEqual(['timestamps']);
  });

  it('clamps dropped counters to the ES integer range and keeps durationNanos an exact long', () => {
    const s = BigInt(Date.now()) * 1_000_000n;
    const r = proc.process(
      jsonRequest([
        jsonSpan({
          startTimeUnixNano: String(s),
          endTimeUnixNano: String(s + 23n * 3600n * 10n ** 9n + 7n),
          droppedAttributesCount: 4294967295,
          droppedEventsCount: -5,
          droppedLinksCount: 'x',
        }),
      ]),
      undefined,
      'raw/0/5',
    );
    expect(r.spans[0].dropped).toEqual({ attributes: ES_INTEGER_MAX, events: 0, links: 0, truncatedValues: 0 });
    expect(r.spans[0].durationNanos).toBe(23 * 3600e9 + 7);
  });
});

describe('what one message can become (issue #12 items 1 and 5)', () => {
  it('a 100 KB key over a 128-leaf kvlist becomes keys of at most MPLP_INGEST_MAX_ATTRIBUTE_KEY_BYTES, not a 13 MB record', () => {
    const { value } = longKeyOverKvlist();
    const r = encodeBatch(proc, [{ value, source: 'raw/0/6' }], encodeLimits);
    expect(r.records).toHaveLength(1);
    expect(r.records[0].value.length).toBeLessThan(4096);
    const [span] = SpanBatchCodec.decode(r.records[0].value);
    for (const k of Object.keys(span.attributes)) expect(Buffer.byteLength(k)).toBeLessThanOrEqual(settings.maxAttributeKeyBytes);
    expect(span.dropped).toMatchObject({ attributes: 127, truncatedValues: 1 });
  });

  it('50 rejected spans sharing a 527 KB resource make one dead letter with the resource once, not 26 MB', () => {
    const { spans, value } = badSpansSharingAResource();
    const r = encodeBatch(proc, [{ value, source: 'raw/0/7' }], encodeLimits);
    expect(r.dlq).toHaveLength(1);
    expect(r.dlq[0]).toMatchObject({ code: 'trace_id', spans: 50, truncated: false });
    expect(r.dlq[0].value.length).toBeLessThan(value.length * 1.1);
    const dead = JSON.parse(r.dlq[0].value.toString());
    expect(dead.resourceSpans).toHaveLength(1);
    expect(dead.resourceSpans[0].scopeSpans[0].spans.map((s: { spanId: string }) => s.spanId)).toEqual(spans.map((s) => s.spanId));
    expect(r.stats).toMatchObject({ spansIn: 50, rejectedByCode: { trace_id: 50 } });
  });

  it('splits rejected spans over records of at most MPLP_INGEST_MAX_DLQ_VALUE_BYTES; one that cannot fit alone becomes a reference', () => {
    const small = new MessageProcessor({ ...limits, maxDlqValueBytes: 4096 });
    const bad = Array.from({ length: 6 }, (_, i) => jsonSpan({ traceId: 'abcd', name: i === 5 ? noise(10_000) : noise(1000) }));
    const r = small.process(jsonRequest(bad), undefined, 'raw/0/8');
    expect(r.dlq.reduce((n, d) => n + d.spans, 0)).toBe(6);
    for (const d of r.dlq) expect(d.value.length).toBeLessThanOrEqual(4096);
    const ref = r.dlq.find((d) => d.truncated)!;
    expect(JSON.parse(ref.value.toString()).mplpReference).toMatchObject({
      source: 'raw/0/8',
      traceId: 'abcd',
      spanId: bad[5].spanId,
      limitBytes: 4096,
    });
    expect(ref.code).toBe('trace_id');
  });

  it('a span whose line cannot fit in a record goes to the DLQ as a too_large reference (source, ids, sizes)', () => {
    const big = jsonSpan({ attributes: Array.from({ length: 100 }, (_, i) => ({ key: `a${i}`, value: { stringValue: noise(8000) } })) });
    const good = jsonSpan();
    const r = encodeBatch(proc, [{ value: jsonRequest([big, good]), source: 'raw/0/9' }], { ...encodeLimits, maxRecordBytes: 256 * 1024 });
    expect(r.records.map((x) => x.key)).toEqual([good.traceId]);
    expect(r.dlq).toHaveLength(1);
    expect(r.dlq[0]).toMatchObject({ code: 'too_large', source: 'raw/0/9', truncated: true, spans: 1 });
    const ref = JSON.parse(r.dlq[0].value.toString()).mplpReference;
    expect(ref).toMatchObject({ source: 'raw/0/9', traceId: big.traceId, spanId: big.spanId, limitBytes: 256 * 1024 });
    expect(ref.ndjsonBytes).toBeGreaterThan(256 * 1024 - RECORD_OVERHEAD_BYTES);
  });

  it('a message that would multiply past MPLP_INGEST_MAX_OUTPUT_BYTES_PER_MESSAGE goes whole to the DLQ as too_large, and nothing of it is output', () => {
    const { value } = amplifyingRequest();
    const r = encodeBatch(proc, [{ value, source: 'raw/0/10' }], encodeLimits);
    expect(r.records).toEqual([]);
    expect(r.dlq).toHaveLength(1);
    expect(r.dlq[0]).toMatchObject({ code: 'too_large', spans: 0, source: 'raw/0/10' });
    expect(r.dlq[0].reason).toMatch(/MPLP_INGEST_MAX_OUTPUT_BYTES_PER_MESSAGE/);
    expect(r.stats.bytesOut + r.stats.dlqBytesOut).toBeLessThanOrEqual(value.length);
  });

  it('the exact NDJSON count also applies: lines over the cap send the message whole to the DLQ', () => {
    const spans = Array.from({ length: 40 }, () => jsonSpan({ attributes: [{ key: 'v', value: { stringValue: noise(4000) } }] }));
    const r = encodeBatch(proc, [{ value: protobufRequest(spans), source: 'raw/0/11' }], {
      ...encodeLimits,
      maxOutputBytesPerMessage: 100_000,
    });
    expect(r.records).toEqual([]);
    expect(r.dlq.map((d) => d.code)).toEqual(['too_large']);
  });

  it('stops at the output budget and leaves the rest of the inputs for the next call, with the same result', () => {
    const inputs = Array.from({ length: 6 }, (_, i) => ({
      value: protobufRequest(Array.from({ length: 20 }, () => jsonSpan())),
      source: `raw/0/${i}`,
    }));
    const whole = encodeBatch(proc, inputs, encodeLimits);
    expect(whole.consumed).toBe(6);
    const first = encodeBatch(proc, inputs, { ...encodeLimits, outputBudget: 1 });
    expect(first.consumed).toBe(1);
    const rest = encodeBatch(proc, inputs.slice(1), encodeLimits);
    expect(first.stats.spansValid + rest.stats.spansValid).toBe(whole.stats.spansValid);
  });
});

describe('produce: splitting and references for refused records', () => {
  it('splits a send into groups of at most maxBytes (a larger message alone)', () => {
    const m = (n: number) => ({ value: Buffer.alloc(n) });
    const groups = splitByBytes(
      [
        { topic: 'a', messages: [m(400), m(400), m(2000)] },
        { topic: 'b', messages: [m(100)] },
      ],
      1000,
    );
    expect(groups.map((g) => g.map((t) => [t.topic, t.messages.length]))).toEqual([[['a', 2]], [['a', 1]], [['b', 1]]]);
    expect(
      splitByBytes(
        [
          { topic: 'a', messages: [m(10), m(10)] },
          { topic: 'b', messages: [m(10)] },
        ],
        1000,
      ),
    ).toHaveLength(1);
  });

  it('a refused validated record or dead letter becomes a reference with its code, sources and sizes', () => {
    const err = new MplpError('kafka_record_rejected', 'produce failed: Broker: Message size too large', { disposition: 'permanent' });
    const ref = outputRecordReference({ key: 'ab'.repeat(16), value: Buffer.alloc(5000), spans: 3, sources: ['raw/1/5', 'raw/1/6'] }, err);
    expect(ref).toMatchObject({ code: 'too_large', source: 'raw/1/5', spans: 3, truncated: true });
    expect(JSON.parse(ref.value.toString()).mplpReference).toMatchObject({
      sources: ['raw/1/5', 'raw/1/6'],
      traceId: 'ab'.repeat(16),
      bytes: 5000,
    });
    const other = new MplpError('kafka_error', 'produce failed: invalid record', { disposition: 'permanent' });
    const dead = deadLetterReference(
      { value: Buffer.alloc(900), code: 'decode', reason: 'bad', source: 'raw/0/1', truncated: false, spans: 0 },
      other,
    );
    expect(dead).toMatchObject({ code: 'decode', source: 'raw/0/1', truncated: true });
    expect(outputRecordReference({ key: 'k', value: Buffer.alloc(1), spans: 1, sources: [] }, other).code).toBe('produce_rejected');
  });

  it('refuses settings that would make records over MPLP_INGEST_MAX_RECORD_BYTES, naming the setting', () => {
    expect(() => checkIngestSettings({ ...settings, maxRecordBytes: 1 << 20, maxBatchBytes: 1 << 20 })).toThrow(
      /MPLP_INGEST_MAX_BATCH_BYTES/,
    );
    expect(() => checkIngestSettings({ ...settings, maxRecordBytes: 1 << 20, maxBatchBytes: 4096, maxDlqValueBytes: 1 << 20 })).toThrow(
      /MPLP_INGEST_MAX_DLQ_VALUE_BYTES/,
    );
    expect(() => checkIngestSettings(settings)).not.toThrow();
  });
});
