import { jaegerJson } from './jaeger-json';
import { jaegerProto } from './jaeger-proto';
import { otlpJson } from './otlp-json';
import { otlpProto } from './otlp-proto';
import { EncodingSetting, FormatName, InputFormat, MessageView } from './types';
import { zipkinJson } from './zipkin-json';

export { FORMAT_NAMES, MessageView } from './types';
export type { DecodedMessage, EncodingSetting, FormatName, InputFormat } from './types';

/** Every input format by its MPLP_INGEST_ENCODING name. */
export const FORMATS: Record<FormatName, InputFormat> = {
  otlp_proto: otlpProto,
  otlp_json: otlpJson,
  jaeger_proto: jaegerProto,
  jaeger_json: jaegerJson,
  zipkin_json: zipkinJson,
};

/** Order of `auto` detection: the content-type names Jaeger or Zipkin, else JSON by its shape, else OTLP protobuf. */
const DETECTION_ORDER: InputFormat[] = [jaegerProto, zipkinJson, jaegerJson, otlpJson, otlpProto];

/** The format of one message: forced by the setting, else the first that matches (OTLP protobuf when none does). */
export function formatOf(value: Buffer, contentType: string | undefined, setting: EncodingSetting, view: MessageView): InputFormat {
  if (setting !== 'auto') return FORMATS[setting];
  for (const f of DETECTION_ORDER) if (f.matches(value, contentType, view)) return f;
  return otlpProto;
}
