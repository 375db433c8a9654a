import pino, { Logger } from 'pino';

export type { Logger } from 'pino';

/** Paths pino blanks out wherever they appear, so a logged config or error never carries a secret. */
export const REDACT_PATHS = [
  'password', '*.password', 'secret', '*.secret', 'apiKey', '*.apiKey', 'authorization', '*.authorization',
  'headers.authorization', '*.headers.authorization', 'sasl.password', '*.sasl.password',
  'esPassword', 'esApiKey', 'kafkaSaslPassword', 's3SecretAccessKey', 'secretAccessKey', '*.secretAccessKey',
  'credentials', '*.credentials',
];

export function createLogger(opts: { name: string; level?: string; destination?: pino.DestinationStream }): Logger {
  return pino(
    {
      name: opts.name,
      level: opts.level ?? 'info',
      base: { pid: process.pid, service: opts.name },
      redact: { paths: REDACT_PATHS, censor: '[redacted]' },
      serializers: { err: pino.stdSerializers.err },
      timestamp: pino.stdTimeFunctions.isoTime,
    },
    opts.destination,
  );
}
