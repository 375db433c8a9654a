import { partitionOfKey } from './trace-partitioner';

/**
 * The per-trace (or per-partition) split of an OTLP/protobuf export, done on the wire bytes:
 * every span is copied verbatim into its record and only the resource and scope envelopes are
 * written anew. Re-encoding the decoded objects cost about as much CPU as decoding them, for
 * bytes that do not change. The body has already been decoded whole by protobufjs (that is the
 * 400 check), so a structure this walker does not expect (a group wire type, a truncated field)
 * returns undefined and the caller splits the decoded objects instead.
 */

/** Fields of one record of the split: the spans of one group, by resource and scope, as wire bytes. */
interface WireScope {
  header: Buffer[];
  spans: Buffer[];
}
interface WireResource {
  header: Buffer[];
  scopes: WireScope[];
}
export interface WireGroup {
  key: string;
  spans: number;
  resources: WireResource[];
}
export interface WireSplit {
  groups: WireGroup[];
  spans: number;
  rejected: number;
}

class Malformed extends Error {}

/**
 * Walks the fields of the message b[start, end) without allocating: after next() returns true,
 * number, start/end (the whole field: tag, length, value) and valueStart (of a length-delimited
 * value) describe the current one. Groups (wire types 3, 4) and overruns are refused.
 */
class FieldReader {
  number = 0;
  wire = 0;
  start = 0;
  end = 0;
  valueStart = 0;
  private at: number;

  constructor(
    private readonly b: Buffer,
    start: number,
    private readonly limit: number,
  ) {
    this.at = start;
  }

  /** A varint of at most 35 bits (tags and lengths); longer is malformed. */
  private varint(): number {
    const b = this.b;
    let result = 0;
    for (let shift = 0; shift < 35; shift += 7) {
      if (this.at >= this.limit) throw new Malformed();
      const byte = b[this.at++];
      result += (byte & 0x7f) * 2 ** shift;
      if (byte < 0x80) return result;
    }
    throw new Malformed();
  }

  next(): boolean {
    if (this.at >= this.limit) return false;
    this.start = this.at;
    const tag = this.varint();
    this.number = tag >>> 3;
    this.wire = tag & 7;
    this.valueStart = this.at;
    if (this.wire === 0) {
      while (this.at < this.limit && this.b[this.at] >= 0x80) this.at++;
      this.at++;
    } else if (this.wire === 1) this.at += 8;
    else if (this.wire === 5) this.at += 4;
    else if (this.wire === 2) {
      const len = this.varint();
      this.valueStart = this.at;
      this.at += len;
    } else throw new Malformed();
    if (this.at > this.limit) throw new Malformed();
    this.end = this.at;
    return true;
  }
}

/** The span's trace id as hex, or undefined when missing, not 16 bytes or all zero (the last occurrence wins, as in protobufjs). */
function spanTraceKey(b: Buffer, start: number, end: number): string | undefined {
  let from = -1;
  const r = new FieldReader(b, start, end);
  while (r.next()) {
    if (r.number === 1) from = r.wire === 2 && r.end - r.valueStart === 16 ? r.valueStart : -1;
  }
  if (from < 0) return undefined;
  let zero = true;
  for (let i = from; i < from + 16 && zero; i++) zero = b[i] === 0;
  return zero ? undefined : b.toString('hex', from, from + 16);
}

/** Groups the spans of an ExportTraceServiceRequest by trace id, or by the partition it hashes to; undefined: let protobufjs do it. */
export function wireSplit(b: Buffer, partitions?: number): WireSplit | undefined {
  try {
    return walk(b, partitions);
  } catch (err) {
    if (err instanceof Malformed) return undefined;
    throw err;
  }
}

function walk(b: Buffer, partitions?: number): WireSplit {
  const groups = new Map<string | number, WireGroup>();
  let spans = 0;
  let rejected = 0;
  const request = new FieldReader(b, 0, b.length);
  while (request.next()) {
    if (request.number !== 1) continue;
    const resHeader: Buffer[] = [];
    const byGroup = new Map<string | number, WireResource>();
    const resource = new FieldReader(b, request.valueStart, request.end);
    while (resource.next()) {
      if (resource.number !== 2) {
        resHeader.push(b.subarray(resource.start, resource.end));
        continue;
      }
      const scopeHeader: Buffer[] = [];
      const scopeOf = new Map<string | number, WireScope>();
      const scope = new FieldReader(b, resource.valueStart, resource.end);
      while (scope.next()) {
        if (scope.number !== 2) {
          scopeHeader.push(b.subarray(scope.start, scope.end));
          continue;
        }
        const key = spanTraceKey(b, scope.valueStart, scope.end);
        if (key === undefined) {
          rejected++;
          continue;
        }
        spans++;
        const id = partitions ? partitionOfKey(key, partitions) : key;
        let group = groups.get(id);
        if (!group) groups.set(id, (group = { key, spans: 0, resources: [] }));
        group.spans++;
        let res = byGroup.get(id);
        if (!res) {
          byGroup.set(id, (res = { header: resHeader, scopes: [] }));
          group.resources.push(res);
        }
        let sc = scopeOf.get(id);
        if (!sc) {
          scopeOf.set(id, (sc = { header: scopeHeader, spans: [] }));
          res.scopes.push(sc);
        }
        sc.spans.push(b.subarray(scope.start, scope.end));
      }
    }
  }
  return { groups: [...groups.values()], spans, rejected };
}

const varintLength = (n: number) => (n < 0x80 ? 1 : n < 0x4000 ? 2 : n < 0x200000 ? 3 : n < 0x10000000 ? 4 : 5);
const sum = (parts: Buffer[]) => parts.reduce((n, p) => n + p.length, 0);

function writeVarint(out: Buffer, at: number, n: number): number {
  while (n >= 0x80) {
    out[at++] = (n & 0x7f) | 0x80;
    n = Math.floor(n / 128);
  }
  out[at++] = n;
  return at;
}

/** One group as an ExportTraceServiceRequest: field 1 ResourceSpans { header fields, field 2 ScopeSpans { header fields, field 2 spans } }. */
export function encodeWireGroup(group: WireGroup): Buffer {
  const scopeLen = (s: WireScope) => sum(s.header) + sum(s.spans);
  const resourceLen = (r: WireResource) => sum(r.header) + r.scopes.reduce((n, s) => n + 1 + varintLength(scopeLen(s)) + scopeLen(s), 0);
  const total = group.resources.reduce((n, r) => n + 1 + varintLength(resourceLen(r)) + resourceLen(r), 0);
  const out = Buffer.allocUnsafe(total);
  let at = 0;
  const copy = (parts: Buffer[]) => {
    for (const p of parts) at += p.copy(out, at);
  };
  for (const r of group.resources) {
    out[at++] = 0x0a; // field 1, length-delimited
    at = writeVarint(out, at, resourceLen(r));
    copy(r.header);
    for (const s of r.scopes) {
      out[at++] = 0x12; // field 2, length-delimited
      at = writeVarint(out, at, scopeLen(s));
      copy(s.header);
      copy(s.spans);
    }
  }
  return out;
}
