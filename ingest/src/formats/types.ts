import { InvalidInputError } from '../../../shared/src/threads';
import type { OtlpRequest, OtlpSpan, UndecodablePart } from '../otlp-decoder';

/** The values of MPLP_INGEST_ENCODING other than `auto`: one per input format. */
export const FORMAT_NAMES = ['otlp_proto', 'otlp_json', 'jaeger_proto', 'jaeger_json', 'zipkin_json'] as const;
export type FormatName = (typeof FORMAT_NAMES)[number];
export type EncodingSetting = 'auto' | FormatName;

/**
 * One message decoded into the OTLP request shape the normalizer takes. A format that is not
 * OTLP keeps, for each span it made, that span's own message in its own encoding (`originals`),
 * so a span the normalizer rejects is dead-lettered as it came in, with `originalContentType`.
 */
export interface DecodedMessage {
  req: OtlpRequest;
  /** Parts of a protobuf request that did not decode on their own (OTLP protobuf only). */
  undecodable: UndecodablePart[];
  originals?: Map<OtlpSpan, Buffer>;
  originalContentType?: string;
}

/** The input message, with its JSON parsed at most once however many formats look at it. */
export class MessageView {
  private parsed?: { value?: unknown; error?: Error };
  constructor(readonly value: Buffer) {}

  /** First byte that is not JSON whitespace (0 for an empty or blank message). */
  firstByte(): number {
    const v = this.value;
    for (let i = 0; i < v.length; i++) {
      const c = v[i];
      if (c !== 0x20 && c !== 0x09 && c !== 0x0a && c !== 0x0d) return c;
    }
    return 0;
  }

  /** The message as JSON; throws `decode` (with `what` in the reason) when it is not JSON. */
  json(what: string): unknown {
    if (!this.parsed) {
      try {
        this.parsed = { value: JSON.parse(this.value.toString('utf8')) };
      } catch (err) {
        this.parsed = { error: err as Error };
      }
    }
    if (this.parsed.error) throw new InvalidInputError('decode', `not valid ${what}: ${this.parsed.error.message}`);
    return this.parsed.value;
  }
}

/**
 * An input encoding, as the OpenTelemetry Collector's kafka receiver maps an `encoding` to an
 * unmarshaler: `matches` says whether a message (by its content-type header, else its content) is
 * in this encoding when MPLP_INGEST_ENCODING is `auto`; `decode` turns it into an OTLP request.
 */
export interface InputFormat {
  readonly name: FormatName;
  /** Label of `mplp_ingest_messages_total{encoding}` (`protobuf` / `json` for OTLP, as before). */
  readonly metricLabel: string;
  matches(value: Buffer, contentType: string | undefined, view: MessageView): boolean;
  decode(value: Buffer, view: MessageView): DecodedMessage;
}

export function assertNotEmpty(value: Buffer, what: string): void {
  if (value.length === 0) throw new InvalidInputError('empty', `empty message: no ${what}`);
}

/** What the content says a JSON message is: a Zipkin v2 list, a Jaeger span, or OTLP. */
export function jsonKind(view: MessageView): 'zipkin' | 'jaeger' | 'otlp' | undefined {
  const c = view.firstByte();
  if (c === 0x5b) return 'zipkin';
  if (c !== 0x7b) return undefined;
  let o: unknown;
  try {
    o = view.json('JSON');
  } catch {
    return 'otlp';
  }
  if (!o || typeof o !== 'object' || Array.isArray(o)) return 'otlp';
  const keys = o as Record<string, unknown>;
  if (keys.resourceSpans !== undefined) return 'otlp';
  return keys.traceID !== undefined ||
    keys.spanID !== undefined ||
    keys.traceId !== undefined ||
    keys.spanId !== undefined ||
    keys.operationName !== undefined
    ? 'jaeger'
    : 'otlp';
}

/** The content-type header, lowercased, split into what it names. */
export function contentTypeOf(
  contentType: string | undefined,
): { json: boolean; proto: boolean; jaeger: boolean; zipkin: boolean } | undefined {
  if (!contentType) return undefined;
  const ct = contentType.toLowerCase();
  const c = { json: ct.includes('json'), proto: ct.includes('proto'), jaeger: ct.includes('jaeger'), zipkin: ct.includes('zipkin') };
  return c.json || c.proto || c.jaeger || c.zipkin ? c : undefined;
}
