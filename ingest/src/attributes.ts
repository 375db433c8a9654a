import type { Attributes, AttributeValue } from '../../shared/src/threads';
import { InvalidInputError } from '../../shared/src/threads';

/** An OTLP AnyValue as protobufjs decodes it, or as OTLP/JSON spells it. */
export interface AnyValue {
  stringValue?: string | null;
  boolValue?: boolean | null;
  intValue?: unknown;
  doubleValue?: number | string | null;
  arrayValue?: { values?: AnyValue[] | null } | null;
  kvlistValue?: { values?: KeyValue[] | null } | null;
  bytesValue?: Uint8Array | string | null;
}
export interface KeyValue {
  key?: string | null;
  value?: AnyValue | null;
}

export interface AttributeLimits {
  maxAttributes: number;
  maxAttributeValueLength: number;
  /** UTF-8 bytes of a flattened key (the whole dotted path): keeps key + value under Lucene's term limit. */
  maxAttributeKeyBytes: number;
  /** kvlist nesting kept as dotted keys; a deeper value is kept as (truncated) JSON text. */
  maxAttributeDepth: number;
}

/**
 * What flattening dropped (over the cap, empty keys) and truncated (values, keys, values nested too
 * deep), and about how many characters of output it made: the caller's budget against inputs that
 * would multiply (a long key repeated on every leaf of a kvlist).
 */
export interface AttributeCounts {
  dropped: number;
  truncated: number;
  size: number;
}

export function newCounts(): AttributeCounts {
  return { dropped: 0, truncated: 0, size: 0 };
}

const MAX_SAFE = BigInt(Number.MAX_SAFE_INTEGER);
const INTEGER = /^\s*[-+]?\d+\s*$/;

/** 64-bit integers: a number when exact, a decimal string otherwise (DESIGN.md). Not an integer: the span is invalid. */
export function int64Value(v: unknown): number | string {
  let text: string;
  if (typeof v === 'number') return Number.isInteger(v) ? v : Math.trunc(v);
  if (typeof v === 'bigint') text = v.toString();
  else if (typeof v === 'string') text = v;
  else if (v && typeof (v as { toString: () => string }).toString === 'function') text = (v as { toString: () => string }).toString();
  else return 0;
  if (!INTEGER.test(text)) throw new InvalidInputError('decode', `intValue "${text.slice(0, 64)}" is not an integer`);
  const big = BigInt(text.trim());
  return big <= MAX_SAFE && big >= -MAX_SAFE ? Number(big) : big.toString();
}

function has(v: AnyValue, k: keyof AnyValue): boolean {
  const x = v[k];
  return x !== undefined && x !== null;
}

function bytesToBase64(b: Uint8Array | string): string {
  return typeof b === 'string' ? b : Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('base64');
}

/** The longest prefix of s of at most maxBytes UTF-8 bytes that ends on a character boundary. */
export function truncateUtf8(s: string, maxBytes: number): string {
  // A UTF-16 unit is at most 3 UTF-8 bytes: short strings need no encoding to know they fit.
  if (s.length * 3 <= maxBytes) return s;
  const buf = Buffer.from(s, 'utf8');
  if (buf.length <= maxBytes) return s;
  let end = maxBytes;
  while (end > 0 && (buf[end] & 0xc0) === 0x80) end--;
  return buf.toString('utf8', 0, end);
}

interface Frame {
  key: string;
  value: AnyValue | null | undefined;
  depth: number;
  keyCut: boolean;
}

/**
 * Flattens OTLP attributes into a flat key → value object: kvlist values become dotted keys,
 * bytes base64, big integers decimal strings. The object has no prototype, so keys such as
 * `__proto__` or `constructor` are ordinary data. Iterative (an explicit stack), so no input
 * nesting can overflow the call stack: a kvlist deeper than maxAttributeDepth is kept as JSON text.
 * A key longer than maxAttributeKeyBytes is cut there (counted as truncated); a cut key that
 * collides with one already kept is dropped (counted).
 */
export function flattenAttributes(list: KeyValue[] | null | undefined, limits: AttributeLimits, counts: AttributeCounts): Attributes {
  const out: Attributes = Object.create(null);
  let n = 0;
  const put = (f: Frame, value: AttributeValue, valueSize: number) => {
    // Elasticsearch cannot take an empty key, nor an empty path segment at either end (".a", "a.").
    const key = f.key;
    if (key === '' || key.charCodeAt(0) === 0x2e || key.charCodeAt(key.length - 1) === 0x2e) {
      counts.dropped++;
      return;
    }
    if (key in out ? f.keyCut : n >= limits.maxAttributes) {
      counts.dropped++;
      return;
    }
    if (!(key in out)) n++;
    if (f.keyCut) counts.truncated++;
    out[key] = value;
    counts.size += key.length + valueSize + 6;
  };
  const { scalar } = valueReader(limits, counts);
  const sizeOf = (x: string | number | boolean | null) => (typeof x === 'string' ? x.length + 2 : 8);
  const stack: Frame[] = [];
  const pushAll = (kvs: readonly (KeyValue | null | undefined)[], prefix: string, prefixCut: boolean, depth: number) => {
    // Reversed, so entries pop in their order: the first maxAttributes keys are the ones kept.
    for (let i = kvs.length - 1; i >= 0; i--) {
      const kv = kvs[i];
      const name = String(kv?.key ?? '');
      if (depth === 1 && name === '') {
        counts.dropped++;
        continue;
      }
      const full = prefix === '' ? name : `${prefix}.${name}`;
      const key = truncateUtf8(full, limits.maxAttributeKeyBytes);
      stack.push({ key, value: kv?.value, depth, keyCut: prefixCut || key.length !== full.length });
    }
  };
  pushAll(Array.isArray(list) ? list : [], '', false, 1);
  while (stack.length) {
    const f = stack.pop()!;
    const v = f.value;
    if (!v || typeof v !== 'object') {
      put(f, '', 2);
      continue;
    }
    if (has(v, 'kvlistValue')) {
      if (f.depth >= limits.maxAttributeDepth) {
        // Past the depth cap: JSON text, counted once whether or not it was also cut.
        const { text } = anyValueJson(v, limits.maxAttributeValueLength);
        counts.truncated++;
        put(f, text, text.length + 2);
        continue;
      }
      const kvs = v.kvlistValue!.values;
      if (Array.isArray(kvs)) pushAll(kvs, f.key, f.keyCut, f.depth + 1);
      continue;
    }
    if (has(v, 'arrayValue')) {
      const values = v.arrayValue!.values;
      const arr = (Array.isArray(values) ? values : []).map((x) => scalar(x ?? {}));
      let size = 2;
      for (const x of arr) size += sizeOf(x) + 1;
      put(f, arr, size);
      continue;
    }
    const s = scalar(v);
    put(f, s === null ? '' : s, sizeOf(s));
  }
  return out;
}

/** Leaf values as attributes hold them: strings and bytes cut at the length cap, nested values as JSON text; cuts counted. */
function valueReader(limits: AttributeLimits, counts: AttributeCounts) {
  const truncate = (s: string): string => {
    if (s.length <= limits.maxAttributeValueLength) return s;
    counts.truncated++;
    return s.slice(0, limits.maxAttributeValueLength);
  };
  const nestedText = (v: AnyValue): string => {
    const { text, cut } = anyValueJson(v, limits.maxAttributeValueLength);
    if (cut) counts.truncated++;
    return text;
  };
  const scalar = (v: AnyValue): string | number | boolean | null => {
    if (has(v, 'stringValue')) return truncate(String(v.stringValue));
    if (has(v, 'boolValue')) return Boolean(v.boolValue);
    if (has(v, 'intValue')) return int64Value(v.intValue);
    if (has(v, 'doubleValue')) {
      const d = Number(v.doubleValue);
      return Number.isFinite(d) ? d : String(v.doubleValue);
    }
    if (has(v, 'bytesValue')) return truncate(bytesToBase64(v.bytesValue!));
    if (has(v, 'arrayValue') || has(v, 'kvlistValue')) return nestedText(v);
    return null;
  };
  return { scalar, nestedText };
}

/**
 * A nested AnyValue (kvlist or array) as JSON text of at most maxChars characters, written with an
 * explicit stack (no recursion, whatever the depth) and stopped as soon as it is long enough.
 */
export function anyValueJson(root: AnyValue, maxChars: number): { text: string; cut: boolean } {
  let out = '';
  const stack: (AnyValue | string | null | undefined)[] = [root];
  while (stack.length) {
    if (out.length > maxChars) return { text: out.slice(0, maxChars), cut: true };
    const t = stack.pop();
    if (typeof t === 'string') {
      out += t;
      continue;
    }
    if (!t || typeof t !== 'object') {
      out += 'null';
      continue;
    }
    if (has(t, 'kvlistValue')) {
      const kvs = Array.isArray(t.kvlistValue!.values) ? t.kvlistValue!.values : [];
      out += '{';
      stack.push('}');
      for (let i = kvs.length - 1; i >= 0; i--) {
        stack.push(kvs[i]?.value ?? null);
        stack.push(`${i ? ',' : ''}${JSON.stringify(String(kvs[i]?.key ?? ''))}:`);
      }
    } else if (has(t, 'arrayValue')) {
      const values = Array.isArray(t.arrayValue!.values) ? t.arrayValue!.values : [];
      out += '[';
      stack.push(']');
      for (let i = values.length - 1; i >= 0; i--) {
        stack.push(values[i] ?? null);
        if (i) stack.push(',');
      }
    } else {
      out += JSON.stringify(plainScalar(t));
    }
  }
  return out.length > maxChars ? { text: out.slice(0, maxChars), cut: true } : { text: out, cut: false };
}

function plainScalar(v: AnyValue): string | number | boolean | null {
  if (has(v, 'stringValue')) return String(v.stringValue);
  if (has(v, 'boolValue')) return Boolean(v.boolValue);
  if (has(v, 'intValue')) return int64Value(v.intValue);
  if (has(v, 'doubleValue')) {
    const d = Number(v.doubleValue);
    return Number.isFinite(d) ? d : String(v.doubleValue);
  }
  if (has(v, 'bytesValue')) return bytesToBase64(v.bytesValue!);
  return null;
}
