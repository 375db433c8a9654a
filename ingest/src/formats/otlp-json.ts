import { InvalidInputError } from '../../../shared/src/threads';
import type { OtlpRequest } from '../otlp-decoder';
import { assertNotEmpty, contentTypeOf, DecodedMessage, InputFormat, jsonKind } from './types';

/** OTLP/JSON ExportTraceServiceRequest: an object with `resourceSpans` (ids hex, 64-bit integers as strings). */
export const otlpJson: InputFormat = {
  name: 'otlp_json',
  metricLabel: 'json',
  matches(_value, contentType, view) {
    const ct = contentTypeOf(contentType);
    if (ct && (ct.jaeger || ct.zipkin || !ct.json)) return false;
    const kind = jsonKind(view);
    return ct ? kind !== 'zipkin' && kind !== 'jaeger' : kind === 'otlp';
  },
  decode(value, view): DecodedMessage {
    assertNotEmpty(value, 'OTLP request');
    const parsed = view.json('OTLP/JSON');
    if (!parsed || typeof parsed !== 'object' || Array.isArray(parsed)) {
      throw new InvalidInputError('decode', 'OTLP/JSON must be an ExportTraceServiceRequest object');
    }
    const rs = (parsed as OtlpRequest).resourceSpans;
    if (rs !== undefined && rs !== null && !Array.isArray(rs))
      throw new InvalidInputError('decode', 'OTLP/JSON resourceSpans must be an array');
    return { req: parsed as OtlpRequest, undecodable: [] };
  },
};
