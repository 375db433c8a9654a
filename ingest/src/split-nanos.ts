/**
 * Nanosecond timestamps as (whole seconds, nanoseconds past them): exact to the nanosecond with
 * plain doubles. OTLP times are uint64 nanoseconds (~1.8e18, past 2^53); going through BigInt
 * for each of them (build, divide, format) was a tenth of ingest's CPU per span.
 */
export interface SplitNanos {
  sec: number;
  nano: number;
}

/** OTLP times are uint64: 2^64 − 1 ns is 2554-07-21T23:34:33.709551615Z. */
const UINT64_MAX_DECIMAL = '18446744073709551615';
const UINT64_MAX_SEC = 18446744073;
// 2^32 = 4·10^9 + 294967296, and 2^16 · 294967296 = 19330·10^9 + 976710656.
const TWO32_REM = 294967296;
const TWO48_REM_Q = 19330;
const TWO48_REM_R = 976710656;

/** uint64 given as its 32-bit halves (a protobufjs Long of a fixed64), or undefined when zero. */
export function fromHalves(high: number, low: number): SplitNanos | undefined {
  const h = high >>> 0;
  const l = low >>> 0;
  const hh = h >>> 16;
  const hl = h & 0xffff;
  // v = h·2^32 + l = 10^9·(4h + 19330·hh) + r, with r < 8.5e13 (exact in a double).
  const r = hh * TWO48_REM_R + hl * TWO32_REM + l;
  const q = Math.floor(r / 1e9);
  const sec = 4 * h + TWO48_REM_Q * hh + q;
  const nano = r - q * 1e9;
  if (sec === 0 && nano === 0) return undefined;
  return { sec, nano };
}

const DIGITS = /^[0-9]{1,20}$/;

/** A decimal string of nanoseconds (OTLP/JSON), or undefined when not a positive uint64. */
export function fromDecimal(s: string): SplitNanos | undefined {
  if (!DIGITS.test(s) || (s.length === 20 && s > UINT64_MAX_DECIMAL)) return undefined;
  const cut = s.length - 9;
  const sec = cut > 0 ? Number(s.slice(0, cut)) : 0;
  const nano = Number(cut > 0 ? s.slice(cut) : s);
  if (sec === 0 && nano === 0) return undefined;
  return { sec, nano };
}

/** Any representation a decoder hands over: Long, decimal string, number, bigint. */
export function toSplitNanos(v: unknown): SplitNanos | undefined {
  if (v === null || v === undefined) return undefined;
  switch (typeof v) {
    case 'object': {
      const o = v as { low?: unknown; high?: unknown };
      if (typeof o.low === 'number' && typeof o.high === 'number') return fromHalves(o.high, o.low);
      return fromDecimal(String(v));
    }
    case 'string':
      return fromDecimal(v);
    case 'number': {
      if (!Number.isFinite(v) || v <= 0) return undefined;
      const t = Math.trunc(v);
      const sec = Math.floor(t / 1e9);
      return sec > UINT64_MAX_SEC ? undefined : { sec, nano: Math.max(0, t - sec * 1e9) };
    }
    case 'bigint':
      return v > 0n ? fromDecimal(v.toString()) : undefined;
    default:
      return undefined;
  }
}

export function compareNanos(a: SplitNanos, b: SplitNanos): number {
  return a.sec !== b.sec ? a.sec - b.sec : a.nano - b.nano;
}

/** b − a in nanoseconds (exact up to 2^53 ns, about 104 days). */
export function diffNanos(a: SplitNanos, b: SplitNanos): number {
  return (b.sec - a.sec) * 1e9 + (b.nano - a.nano);
}

export function fromEpochMs(ms: number): SplitNanos {
  const sec = Math.floor(ms / 1000);
  return { sec, nano: Math.round((ms - sec * 1000) * 1e6) };
}

// Spans of one batch mostly share their second: its ISO prefix is formatted once.
let cachedSec = -1;
let cachedPrefix = '';

/** ISO-8601 UTC with 9 fraction digits, the same text as shared nanosToIso. */
export function splitNanosToIso(t: SplitNanos): string {
  if (t.sec !== cachedSec) {
    cachedPrefix = new Date(t.sec * 1000).toISOString().slice(0, 20);
    cachedSec = t.sec;
  }
  const frac = String(t.nano);
  return cachedPrefix + '000000000'.slice(frac.length) + frac + 'Z';
}

/** The same instant as a decimal string of nanoseconds, for error messages. */
export function splitNanosToDecimal(t: SplitNanos): string {
  const frac = String(t.nano);
  return t.sec === 0 ? frac : String(t.sec) + '000000000'.slice(frac.length) + frac;
}
