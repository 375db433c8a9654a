import { decodeProtobufBySpan, decodeRequest } from '../otlp-decoder';
import { assertNotEmpty, contentTypeOf, DecodedMessage, InputFormat } from './types';

/**
 * OTLP/protobuf ExportTraceServiceRequest: the default for anything not recognized as another
 * format. A request that fails to decode as a whole is decoded span by span, so one undecodable
 * span costs that span alone.
 */
export const otlpProto: InputFormat = {
  name: 'otlp_proto',
  metricLabel: 'protobuf',
  matches(_value, contentType, view) {
    const ct = contentTypeOf(contentType);
    if (ct) return ct.proto && !ct.json && !ct.jaeger && !ct.zipkin;
    const c = view.firstByte();
    return c !== 0x7b && c !== 0x5b;
  },
  decode(value): DecodedMessage {
    assertNotEmpty(value, 'OTLP request');
    try {
      return { req: decodeRequest(value), undecodable: [] };
    } catch (err) {
      try {
        return decodeProtobufBySpan(value);
      } catch {
        throw err;
      }
    }
  },
};
