import pino, { Logger } from 'pino';

export type { Logger } from 'pino';

/** Paths pino blanks out wherever they appear, so a logged config or error never carries a secret. */
export const REDACT_PATHS = [
  'password',
  '*.password',
  'secret',
  '*.secret',
  'apiKey',
  '*.apiKey',
  'authorization',
  '*.authorization',
  'headers.authorization',
  '*.headers.authorization',
  'sasl.password',
  '*.sasl.password',
  'esPassword',
  'esApiKey',
  'kafkaSaslPassword',
  's3SecretAccessKey',
  'secretAccessKey',
  '*.secretAccessKey',
  'credentials',
  '*.credentials',
];

// The userinfo of a URL (`scheme://user:password@`) inside a JSON string: everything between
// `://` and the last `@` before the host ends (`/ ? #`, whitespace or the string's closing quote),
// JSON escapes included. Matched on the finished line, so it holds at any depth of the logged
// object, in the message, in child bindings, in error messages and stacks, and in URL objects
// (which serialize to their href).
const URL_USERINFO = /(\b[a-zA-Z][a-zA-Z0-9+.-]*:\/\/)(?:[^\s/?#"\\]|\\.)*@/g;
// A string value under a key that names a secret, at any depth (REDACT_PATHS covers fixed paths only).
const SECRET_KEY_VALUE = /("[^"\\]*(?:password|passwd|secret|api_?key|authorization|token)[^"\\]*"\s*:\s*)"(?:[^"\\]|\\.)*"/gi;

/** Redacts URL userinfo and secret-named string values in one serialized log line. */
export function redactLogLine(line: string): string {
  let out = line;
  if (out.includes('://')) out = out.replace(URL_USERINFO, '$1[redacted]@');
  return out.replace(SECRET_KEY_VALUE, '$1"[redacted]"');
}

/** Redacts the userinfo of every URL in a string (for text that is not a log line: errors shown to users). */
export function redactUrls(text: string): string {
  return text.includes('://') ? text.replace(URL_USERINFO, '$1[redacted]@') : text;
}

export function createLogger(opts: { name: string; level?: string; destination?: pino.DestinationStream }): Logger {
  return pino(
    {
      name: opts.name,
      level: opts.level ?? 'info',
      base: { pid: process.pid, service: opts.name },
      redact: { paths: REDACT_PATHS, censor: '[redacted]' },
      serializers: { err: pino.stdSerializers.err },
      timestamp: pino.stdTimeFunctions.isoTime,
      hooks: { streamWrite: redactLogLine },
    },
    opts.destination,
  );
}
