import type { Attributes, AttributeValue } from '../../shared/src';

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
export interface KeyValue { key?: string | null; value?: AnyValue | null }

export interface AttributeLimits { maxAttributes: number; maxAttributeValueLength: number }

export interface AttributeCounts { dropped: number; truncated: number }

const MAX_SAFE = BigInt(Number.MAX_SAFE_INTEGER);

/** 64-bit integers: a number when exact, a decimal string otherwise (DESIGN.md). */
export function int64Value(v: unknown): number | string {
  let big: bigint;
  if (typeof v === 'number') return Number.isInteger(v) ? v : Math.trunc(v);
  if (typeof v === 'string') big = BigInt(v);
  else if (typeof v === 'bigint') big = v;
  else if (v && typeof (v as { toString: () => string }).toString === 'function') big = BigInt((v as { toString: () => string }).toString());
  else return 0;
  return big <= MAX_SAFE && big >= -MAX_SAFE ? Number(big) : big.toString();
}

function has(v: AnyValue, k: keyof AnyValue): boolean {
  const x = v[k];
  return x !== undefined && x !== null;
}

function bytesToBase64(b: Uint8Array | string): string {
  return typeof b === 'string' ? b : Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('base64');
}

/**
 * Flattens OTLP attributes into a flat key → value object: kvlist values become dotted keys,
 * bytes base64, big integers decimal strings. The object has no prototype, so keys such as
 * `__proto__` or `constructor` are ordinary data. Counts what it drops (over the cap, empty keys)
 * and truncates (values over the length cap).
 */
export function flattenAttributes(list: KeyValue[] | null | undefined, limits: AttributeLimits, counts: AttributeCounts): Attributes {
  const out: Attributes = Object.create(null);
  let n = 0;
  const put = (key: string, value: AttributeValue) => {
    // Elasticsearch cannot take an empty key, nor an empty path segment at either end (".a", "a.").
    if (key === '' || key.charCodeAt(0) === 0x2e || key.charCodeAt(key.length - 1) === 0x2e) { counts.dropped++; return; }
    if (n >= limits.maxAttributes && !(key in out)) { counts.dropped++; return; }
    if (!(key in out)) n++;
    out[key] = value;
  };
  const truncate = (s: string): string => {
    if (s.length <= limits.maxAttributeValueLength) return s;
    counts.truncated++;
    return s.slice(0, limits.maxAttributeValueLength);
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
    if (has(v, 'arrayValue') || has(v, 'kvlistValue')) return truncate(JSON.stringify(plain(v)));
    return null;
  };
  const visit = (prefix: string, v: AnyValue | null | undefined) => {
    if (!v) { put(prefix, ''); return; }
    if (has(v, 'kvlistValue')) {
      const kvs = v.kvlistValue!.values ?? [];
      if (kvs.length === 0) return;
      for (const kv of kvs) visit(prefix === '' ? String(kv.key ?? '') : `${prefix}.${kv.key ?? ''}`, kv.value);
      return;
    }
    if (has(v, 'arrayValue')) {
      put(prefix, (v.arrayValue!.values ?? []).map((x) => scalar(x ?? {})));
      return;
    }
    const s = scalar(v);
    put(prefix, s === null ? '' : s);
  };
  for (const kv of list ?? []) {
    const key = String(kv.key ?? '');
    if (key === '') { counts.dropped++; continue; }
    visit(key, kv.value);
  }
  return out;
}

/** A plain JS value for nested structures kept as JSON strings inside arrays. */
function plain(v: AnyValue): unknown {
  if (has(v, 'kvlistValue')) return Object.fromEntries((v.kvlistValue!.values ?? []).map((kv) => [kv.key ?? '', kv.value ? plain(kv.value) : null]));
  if (has(v, 'arrayValue')) return (v.arrayValue!.values ?? []).map((x) => plain(x));
  if (has(v, 'stringValue')) return v.stringValue;
  if (has(v, 'boolValue')) return v.boolValue;
  if (has(v, 'intValue')) return int64Value(v.intValue);
  if (has(v, 'doubleValue')) return Number(v.doubleValue);
  if (has(v, 'bytesValue')) return bytesToBase64(v.bytesValue!);
  return null;
}
