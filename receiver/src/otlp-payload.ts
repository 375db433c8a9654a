import { gunzip } from 'node:zlib';
import { ExportTraceServiceRequestType, InvalidInputError, MplpError } from '../../shared/src';
import { encodeWireGroup, wireSplit } from './otlp-wire-split';
import { partitionOfKey } from './trace-partitioner';

/** How an export's body is encoded: the HTTP content type (gRPC is always protobuf). */
export type PayloadEncoding = 'protobuf' | 'json';

/** The content-type header of the records: ingest decodes by it. */
export const CONTENT_TYPES: Record<PayloadEncoding, string> = { protobuf: 'application/x-protobuf', json: 'application/json' };

/** One Kafka record for `mplp.spans.raw`: the spans of one trace, or of the traces of one partition, keyed by a trace id (hex). */
export interface TraceRecord {
  key: string;
  value: Buffer;
  spans: number;
  contentType: string;
}

/** An export split per trace: what to produce, and what was refused (OTLP partial success). */
export interface SplitExport {
  records: TraceRecord[];
  spans: number;
  rejectedSpans: number;
  rejectReason?: string;
}

/** A body larger than the cap, before or after decompression. */
export class TooLargeError extends MplpError {
  constructor(message: string) {
    super('too_large', message, { disposition: 'permanent' });
  }
}

/**
 * Inflates a gzip body without ever holding more than `maxBytes` of output: zlib stops and
 * fails as soon as the output passes the bound, so a small bomb cannot take the memory.
 */
export function gunzipBounded(body: Buffer, maxBytes: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    gunzip(body, { maxOutputLength: maxBytes }, (err, out) => {
      if (!err) return resolve(out);
      if ((err as NodeJS.ErrnoException).code === 'ERR_BUFFER_TOO_LARGE')
        return reject(new TooLargeError(`gzip body inflates past ${maxBytes} bytes (MPLP_RECEIVER_MAX_REQUEST_BYTES)`));
      reject(new InvalidInputError('bad_gzip', `Content-Encoding gzip but the body does not inflate: ${err.message}`));
    });
  });
}

type Obj = Record<string, unknown>;
const pick = (o: Obj, camel: string, snake: string): unknown => (o[camel] !== undefined ? o[camel] : o[snake]);
const asArray = (v: unknown, what: string): Obj[] => {
  if (v === undefined || v === null) return [];
  if (!Array.isArray(v)) throw new InvalidInputError('decode', `OTLP/JSON: ${what} must be an array`);
  return v as Obj[];
};

const HEX_TRACE_ID = /^[0-9a-fA-F]{32}$/;
const ZERO_TRACE_ID = '0'.repeat(32);

/** The trace id as 32 lower-case hex digits, or undefined when it is missing, malformed or all zero (invalid in OTLP). */
function traceKey(id: unknown): string | undefined {
  let hex: string | undefined;
  if (id instanceof Uint8Array) hex = id.length === 16 ? Buffer.from(id.buffer, id.byteOffset, id.length).toString('hex') : undefined;
  else if (typeof id === 'string' && HEX_TRACE_ID.test(id)) hex = id.toLowerCase();
  return hex === ZERO_TRACE_ID ? undefined : hex;
}

/** Parses the body into an OTLP request object; any decode failure is the client's (400 / INVALID_ARGUMENT). */
export function decodeExport(body: Buffer, encoding: PayloadEncoding): Obj {
  if (encoding === 'protobuf') {
    try {
      return ExportTraceServiceRequestType.decode(body) as Obj;
    } catch (err) {
      throw new InvalidInputError('decode', `not an OTLP/protobuf ExportTraceServiceRequest: ${(err as Error).message}`);
    }
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(body.toString('utf8'));
  } catch (err) {
    throw new InvalidInputError('decode', `not valid OTLP/JSON: ${(err as Error).message}`);
  }
  if (!parsed || typeof parsed !== 'object' || Array.isArray(parsed))
    throw new InvalidInputError('decode', 'OTLP/JSON: the body must be an ExportTraceServiceRequest object');
  return parsed as Obj;
}

/**
 * Splits an export into one record per trace id, each a valid ExportTraceServiceRequest of the
 * same encoding with the resource and scope of its spans, so the partitioner keeps every trace on
 * one partition whatever the client batched together. A request of one trace is forwarded as it
 * came (no re-encoding). Spans without a valid trace id are dropped and counted (partial success).
 */
export function splitByTrace(body: Buffer, encoding: PayloadEncoding): SplitExport {
  return splitExport(decodeExport(body, encoding), body, encoding);
}

/**
 * Splits a decoded export into records, each a valid ExportTraceServiceRequest of the request's
 * encoding with the resource and scope of its spans. Without `partitions`: one record per trace
 * id, keyed by it. With it: one record per partition of a `partitions`-partition topic, holding
 * every trace whose id Kafka's default partitioner sends there, keyed by the first of those ids
 * (which hashes to the same partition): each trace still lands, whole, in the partition it would
 * alone, in far fewer records. A request that makes a single record is forwarded as it came (no
 * re-encoding). Spans without a valid trace id are dropped and counted (partial success).
 */
export function splitExport(request: Obj, body: Buffer, encoding: PayloadEncoding, partitions?: number): SplitExport {
  const wire = encoding === 'protobuf' ? wireSplit(body, partitions) : undefined;
  if (wire) return recordsOf(wire.groups, wire.spans, wire.rejected, body, encoding, encodeWireGroup);
  const groups = new Map<string | number, { key: string; resources: Obj[]; spans: number }>();
  let spans = 0;
  let rejected = 0;
  for (const rs of asArray(pick(request, 'resourceSpans', 'resource_spans'), 'resourceSpans')) {
    for (const ss of asArray(pick(rs, 'scopeSpans', 'scope_spans'), 'scopeSpans')) {
      const byGroup = new Map<string | number, { key: string; spans: Obj[] }>();
      for (const span of asArray(ss.spans, 'spans')) {
        const key = span && typeof span === 'object' ? traceKey(pick(span, 'traceId', 'trace_id')) : undefined;
        if (key === undefined) {
          rejected++;
          continue;
        }
        spans++;
        const id = partitions ? partitionOfKey(key, partitions) : key;
        let part = byGroup.get(id);
        if (!part) byGroup.set(id, (part = { key, spans: [] }));
        part.spans.push(span);
      }
      for (const [id, part] of byGroup) {
        let group = groups.get(id);
        if (!group) groups.set(id, (group = { key: part.key, resources: [], spans: 0 }));
        group.spans += part.spans.length;
        addScope(group.resources, rs, ss, part.spans);
      }
    }
  }
  return recordsOf([...groups.values()], spans, rejected, body, encoding, ({ resources }) => {
    const part = { resourceSpans: resources };
    return encoding === 'json' ? Buffer.from(JSON.stringify(part)) : Buffer.from(ExportTraceServiceRequestType.encode(part).finish());
  });
}

/** The records of a split: a single group is the body as it came (no re-encoding). */
function recordsOf<G extends { key: string; spans: number }>(
  groups: G[],
  spans: number,
  rejected: number,
  body: Buffer,
  encoding: PayloadEncoding,
  encode: (group: G) => Buffer,
): SplitExport {
  const rejectReason = rejected > 0 ? `${rejected} span(s) without a valid trace id (16 bytes, not all zero) were dropped` : undefined;
  const contentType = CONTENT_TYPES[encoding];
  if (groups.length === 1 && rejected === 0)
    return { records: [{ key: groups[0].key, value: body, spans, contentType }], spans, rejectedSpans: 0 };
  const records = groups.map((g) => ({ key: g.key, value: encode(g), contentType, spans: g.spans }));
  return { records, spans, rejectedSpans: rejected, rejectReason };
}

/** Appends the spans of one scope to a trace's resource list, reusing the entry of the same resource. */
function addScope(resources: Obj[], rs: Obj, ss: Obj, spans: Obj[]): void {
  let entry = resources.length > 0 && resources[resources.length - 1].source === rs ? resources[resources.length - 1] : undefined;
  if (!entry) {
    entry = { resource: rs.resource, schemaUrl: pick(rs, 'schemaUrl', 'schema_url'), scopeSpans: [] };
    Object.defineProperty(entry, 'source', { value: rs, enumerable: false });
    resources.push(entry);
  }
  (entry.scopeSpans as Obj[]).push({ scope: ss.scope, schemaUrl: pick(ss, 'schemaUrl', 'schema_url'), spans });
}
