/**
 * Inputs a hostile or broken producer can send, as issue #12 reproduced them: each is a valid
 * Kafka record of modest size whose output, once normalized, used to multiply or stall ingest.
 * Shared by the unit tests, the integration tests and the before/after measurements.
 */
import { randomBytes } from 'node:crypto';
import { encodeRequestProtobuf } from '../src/otlp-decoder';

const nowNs = () => BigInt(Date.now()) * 1_000_000n;

/** Incompressible text of n characters (lz4 cannot shrink it, as a real hostile key would not be). */
export function noise(n: number): string {
  return randomBytes(Math.ceil((n * 3) / 4) + 3)
    .toString('base64')
    .slice(0, n);
}

export type Kv = { key: string; value: Record<string, unknown> };

/** A span object for OTLP/JSON (ids hex, times decimal strings); `over` replaces fields. */
export function jsonSpan(over: Record<string, unknown> = {}): Record<string, unknown> {
  const start = nowNs() - 1_000_000n;
  return {
    traceId: randomBytes(16).toString('hex'),
    spanId: randomBytes(8).toString('hex'),
    name: 'op',
    kind: 2,
    startTimeUnixNano: String(start),
    endTimeUnixNano: String(start + 500_000n),
    ...over,
  };
}

/** An OTLP/JSON request of one resource and one scope. */
export function jsonRequest(
  spans: Record<string, unknown>[],
  resourceAttributes: Kv[] = [{ key: 'service.name', value: { stringValue: 'hostile' } }],
): Buffer {
  return Buffer.from(
    JSON.stringify({ resourceSpans: [{ resource: { attributes: resourceAttributes }, scopeSpans: [{ scope: { name: 'lib' }, spans }] }] }),
  );
}

/** The same as OTLP/protobuf (ids as bytes). */
export function protobufRequest(
  spans: Record<string, unknown>[],
  resourceAttributes: Kv[] = [{ key: 'service.name', value: { stringValue: 'hostile' } }],
): Buffer {
  const pb = spans.map((s) => ({ ...s, traceId: Buffer.from(s.traceId as string, 'hex'), spanId: Buffer.from(s.spanId as string, 'hex') }));
  return encodeRequestProtobuf({
    resourceSpans: [{ resource: { attributes: resourceAttributes }, scopeSpans: [{ scope: { name: 'lib' }, spans: pb }] }],
  });
}

/** Issue #12 item 1: one ~108 KB span whose 100 KB attribute key sits over a kvlist of 128 leaves (the key was repeated on every leaf). */
export function longKeyOverKvlist(keyChars = 100_000, leaves = 128): { span: Record<string, unknown>; value: Buffer } {
  const kvlist = { kvlistValue: { values: Array.from({ length: leaves }, (_, i) => ({ key: `leaf${i}`, value: { intValue: i } })) } };
  const span = jsonSpan({ attributes: [{ key: noise(keyChars), value: kvlist }] });
  return { span, value: protobufRequest([span]) };
}

/** Issue #12 item 1 (DLQ side): `bad` spans with an invalid trace id under one resource of about resourceBytes (repeated on each dead letter). */
export function badSpansSharingAResource(bad = 50, resourceBytes = 527_000): { spans: Record<string, unknown>[]; value: Buffer } {
  const attrs: Kv[] = [{ key: 'service.name', value: { stringValue: 'big-resource' } }];
  for (let i = 0; attrs.length * 8000 < resourceBytes; i++) attrs.push({ key: `r${i}`, value: { stringValue: noise(8000) } });
  const spans = Array.from({ length: bad }, () => jsonSpan({ traceId: 'abcd' }));
  return { spans, value: protobufRequest(spans, attrs) };
}

/**
 * Issue #12 item 5: a ~426 KB request that multiplies: a ~100 KB resource repeated on each of its
 * ~1,500 small spans' lines (hundreds of MB of NDJSON before any cap).
 */
export function amplifyingRequest(spans = 1500, resourceBytes = 100_000): { value: Buffer; spans: number } {
  const attrs: Kv[] = [{ key: 'service.name', value: { stringValue: 'amplifier' } }];
  for (let i = 0; attrs.length * 1000 < resourceBytes; i++) attrs.push({ key: `r${i}`, value: { stringValue: noise(1000) } });
  const traceId = randomBytes(16).toString('hex');
  const list = Array.from({ length: spans }, () => jsonSpan({ traceId, attributes: [{ key: 'k', value: { stringValue: noise(100) } }] }));
  return { value: protobufRequest(list, attrs), spans };
}

/** A kvlist nested `depth` levels as OTLP/JSON text (JSON.stringify itself cannot write one this deep). */
export function deepKvlistJson(depth: number): string {
  return '{"kvlistValue":{"values":[{"key":"k","value":'.repeat(depth) + '{"stringValue":"leaf"}' + '}]}}'.repeat(depth);
}

/** An OTLP/JSON request whose first span carries an attribute nested `depth` levels, then the given spans. */
export function jsonRequestWithDeepSpan(depth: number, deep: Record<string, unknown>, others: Record<string, unknown>[]): Buffer {
  const deepText = JSON.stringify(deep).replace(/}$/, `,"attributes":[{"key":"deep","value":${deepKvlistJson(depth)}}]}`);
  const rest = others.map((s) => JSON.stringify(s)).join(',');
  return Buffer.from(
    `{"resourceSpans":[{"resource":{"attributes":[{"key":"service.name","value":{"stringValue":"deep"}}]},"scopeSpans":[{"scope":{"name":"lib"},"spans":[${deepText}${rest ? ',' + rest : ''}]}]}]}`,
  );
}

/** A length-delimited protobuf field: tag byte, varint length, body. */
function ld(tag: number, b: Buffer): Buffer {
  const len: number[] = [];
  let n = b.length;
  while (n > 127) {
    len.push((n & 127) | 128);
    n >>>= 7;
  }
  len.push(n);
  return Buffer.concat([Buffer.from([tag, ...len]), b]);
}

/** A protobuf request whose first span carries an attribute nested `depth` levels (past protobufjs' call stack at a few thousand), then the given spans. */
export function protobufRequestWithDeepSpan(depth: number, deep: Record<string, unknown>, others: Record<string, unknown>[]): Buffer {
  const v = nestedKvlistProtobuf(depth);
  const attribute = ld(0x4a, Buffer.concat([ld(0x0a, Buffer.from('deep')), ld(0x12, v)])); // Span.attributes (field 9)
  const spans = spanFields(protobufRequest([deep, ...others]));
  const first = ld(0x12, Buffer.concat([bodyOf(spans[0]), attribute]));
  const scopeSpans = ld(0x12, Buffer.concat([first, ...spans.slice(1)]));
  const resource = ld(0x0a, ld(0x0a, Buffer.concat([ld(0x0a, Buffer.from('service.name')), ld(0x12, ld(0x0a, Buffer.from('deep')))])));
  return ld(0x0a, Buffer.concat([resource, scopeSpans]));
}

function varint(n: number): number[] {
  const out: number[] = [];
  while (n > 127) {
    out.push((n & 127) | 128);
    n >>>= 7;
  }
  out.push(n);
  return out;
}

/**
 * AnyValue{kvlist_value{values{key "k", value: ...}}} nested `depth` times around "leaf", written
 * in one pass: each level is a prefix whose lengths follow from the size of what it wraps.
 */
function nestedKvlistProtobuf(depth: number): Buffer {
  const leaf = ld(0x0a, Buffer.from('leaf'));
  const prefixes: number[][] = [];
  let size = leaf.length;
  for (let i = 0; i < depth; i++) {
    const kv = 3 + 1 + varint(size).length + size; // key "k", then the value field
    const list = 1 + varint(kv).length + kv; // KeyValueList.values
    prefixes.push([0x32, ...varint(list), 0x0a, ...varint(kv), 0x0a, 0x01, 0x6b, 0x12, ...varint(size)]);
    size = 1 + varint(list).length + list;
  }
  return Buffer.concat([Buffer.from(prefixes.reverse().flat()), leaf]);
}

/** The fields (tag, length, body) of a protobuf message. */
function fieldsOf(b: Buffer): { tag: number; whole: Buffer }[] {
  const out: { tag: number; whole: Buffer }[] = [];
  let pos = 0;
  while (pos < b.length) {
    const tag = b[pos];
    let len = 0;
    let shift = 0;
    let i = pos + 1;
    for (;;) {
      const x = b[i++];
      len += (x & 0x7f) * 2 ** shift;
      shift += 7;
      if (!(x & 0x80)) break;
    }
    out.push({ tag, whole: b.subarray(pos, i + len) });
    pos = i + len;
  }
  return out;
}

function bodyOf(field: Buffer): Buffer {
  let i = 1;
  while (field[i] & 0x80) i++;
  return field.subarray(i + 1);
}

/** The `spans` fields of the one ScopeSpans of a request made by protobufRequest. */
function spanFields(req: Buffer): Buffer[] {
  const rs = bodyOf(fieldsOf(req)[0].whole);
  const ss = bodyOf(fieldsOf(rs).find((f) => f.tag === 0x12)!.whole);
  return fieldsOf(ss)
    .filter((f) => f.tag === 0x12)
    .map((f) => f.whole);
}
