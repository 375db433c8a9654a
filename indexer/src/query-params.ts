import { MplpError, parseDurationNanos } from '../../shared/src';
import type { TraceSearch } from './trace-query';

/** A request the query API refuses with 400 and this message. */
export class BadRequest extends MplpError {
  constructor(message: string) {
    super('bad_request', message);
  }
}

// Ten years: a larger duration is a typo, and its nanoseconds would no longer be exact in a double.
const MAX_DURATION_NANOS = 10 * 365 * 86400e9;
const MAX_KEYWORD = 1024;
const MAX_TAGS = 32;

/** Jaeger durations: "1.5ms", "200us", "2s", "1m"; returns nanoseconds. */
export function parseJaegerDuration(s: string, name = 'duration'): number {
  const nanos = parseDurationNanos(s);
  if (nanos === undefined || nanos > MAX_DURATION_NANOS)
    throw new BadRequest(`${name} must be a duration like 1.5ms, 200us, 2s, 1m (at most 10 years), got "${s}"`);
  return nanos;
}

/** Microseconds since the epoch (Jaeger's start/end) as an ISO timestamp with microseconds. */
function microsParam(name: string, raw: string): { micros: number; iso: string } {
  if (!/^\d{1,16}$/.test(raw)) throw new BadRequest(`${name} must be microseconds since the epoch (a non-negative integer), got "${raw}"`);
  // 16 digits reach the year 2286: always a valid date.
  const micros = Number(raw);
  const date = new Date(Math.floor(micros / 1000));
  return { micros, iso: `${date.toISOString().slice(0, 19)}.${String(micros % 1_000_000).padStart(6, '0')}Z` };
}

function keyword(name: string, raw: string): string {
  if (raw.length === 0 || raw.length > MAX_KEYWORD) throw new BadRequest(`${name} must be 1 to ${MAX_KEYWORD} characters`);
  return raw;
}

function tagEntry(key: string, value: unknown): [string, string] {
  if (!/^[^\s*?"\\]{1,256}$/.test(key))
    throw new BadRequest(`tag key must be 1 to 256 characters without spaces, quotes, backslashes or wildcards, got "${key}"`);
  if (typeof value !== 'string' && typeof value !== 'number' && typeof value !== 'boolean') {
    throw new BadRequest(`tag ${key} must have a string, number or boolean value`);
  }
  const text = String(value);
  if (text.length > 8191) throw new BadRequest(`tag ${key}: value longer than 8191 characters`);
  return [key, text];
}

/** Tags as Jaeger sends them: `tags={"k":"v"}` (JSON object) and/or repeated `tag=k:v`. */
function parseTags(params: URLSearchParams): Record<string, string> | undefined {
  const out: Record<string, string> = {};
  const json = params.get('tags');
  if (json !== null) {
    let parsed: unknown;
    try {
      parsed = JSON.parse(json);
    } catch {
      throw new BadRequest(`tags must be a JSON object like {"http.status_code":"500"}, got ${JSON.stringify(json.slice(0, 100))}`);
    }
    if (!parsed || typeof parsed !== 'object' || Array.isArray(parsed))
      throw new BadRequest('tags must be a JSON object like {"http.status_code":"500"}');
    for (const [k, v] of Object.entries(parsed)) {
      const [key, text] = tagEntry(k, v);
      out[key] = text;
    }
  }
  for (const kv of params.getAll('tag')) {
    const i = kv.indexOf(':');
    if (i <= 0) throw new BadRequest(`tag must be key:value, got "${kv}"`);
    const [key, text] = tagEntry(kv.slice(0, i), kv.slice(i + 1));
    out[key] = text;
  }
  const n = Object.keys(out).length;
  if (n > MAX_TAGS) throw new BadRequest(`at most ${MAX_TAGS} tags, got ${n}`);
  return n ? out : undefined;
}

function parseLimit(raw: string | null, maxTraces: number): number {
  if (raw === null || raw === '') return Math.min(20, maxTraces);
  const n = /^\d{1,9}$/.test(raw) ? Number(raw) : NaN;
  if (!(n >= 1 && n <= maxTraces))
    throw new BadRequest(`limit must be an integer from 1 to ${maxTraces} (MPLP_INDEXER_QUERY_MAX_SEARCH_TRACES), got "${raw}"`);
  return n;
}

/**
 * The parameters of GET /api/traces, every one checked: anything malformed is a BadRequest
 * (400) naming the parameter, so nothing invalid reaches Elasticsearch. Parameters the Jaeger
 * UI sends that do not narrow the search here (lookback, spanKind) are ignored.
 */
export function parseSearchParams(params: URLSearchParams, maxTraces: number): TraceSearch {
  const service = params.get('service');
  if (!service) throw new BadRequest('parameter service is required');
  const operation = params.get('operation') || undefined;
  const minDuration = params.get('minDuration') || undefined;
  const maxDuration = params.get('maxDuration') || undefined;
  const start = params.get('start') || undefined;
  const end = params.get('end') || undefined;
  const q: TraceSearch = {
    service: keyword('service', service),
    operation: operation === undefined ? undefined : keyword('operation', operation),
    tags: parseTags(params),
    minDurationNanos: minDuration === undefined ? undefined : parseJaegerDuration(minDuration, 'minDuration'),
    maxDurationNanos: maxDuration === undefined ? undefined : parseJaegerDuration(maxDuration, 'maxDuration'),
    limit: parseLimit(params.get('limit'), maxTraces),
  };
  if (q.minDurationNanos !== undefined && q.maxDurationNanos !== undefined && q.minDurationNanos > q.maxDurationNanos) {
    throw new BadRequest(`minDuration (${minDuration}) must not exceed maxDuration (${maxDuration})`);
  }
  const from = start === undefined ? undefined : microsParam('start', start);
  const to = end === undefined ? undefined : microsParam('end', end);
  if (from && to && from.micros > to.micros) throw new BadRequest(`start (${start}) must not be after end (${end})`);
  return { ...q, startIso: from?.iso, endIso: to?.iso };
}

/** A trace id in a path: 1 to 32 hex digits, returned as the 32-digit lowercase form the indices store. */
export function parseTraceId(raw: string): string {
  if (!/^[0-9a-fA-F]{1,32}$/.test(raw)) throw new BadRequest(`trace id must be 1 to 32 hex digits, got "${raw.slice(0, 64)}"`);
  return raw.toLowerCase().padStart(32, '0');
}

/** A path segment, percent-decoded; malformed escapes are the client's mistake. */
export function pathSegment(name: string, raw: string): string {
  try {
    return keyword(name, decodeURIComponent(raw));
  } catch (err) {
    if (err instanceof BadRequest) throw err;
    throw new BadRequest(`${name} is not valid percent-encoding: "${raw.slice(0, 64)}"`);
  }
}
