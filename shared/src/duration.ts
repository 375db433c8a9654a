/**
 * The one duration syntax of the project: settings, the alert rules file and the query API all
 * read durations with it. A decimal number and a unit, e.g. 500ms, 1.5s, 2m, 7d, 200us.
 */
export type DurationUnit = 'ns' | 'us' | 'µs' | 'ms' | 's' | 'm' | 'h' | 'd';

const UNIT_NANOS: Record<DurationUnit, number> = { ns: 1, us: 1e3, µs: 1e3, ms: 1e6, s: 1e9, m: 60e9, h: 3600e9, d: 86400e9 };
const DURATION = /^(\d{1,15}(?:\.\d{1,9})?)(ns|us|µs|ms|s|m|h|d)?$/;

export const DURATION_EXAMPLES = '500ms, 1.5s, 2m, 1h, 7d';

/**
 * Nanoseconds of a duration, or undefined when the text is not one. `bareUnit` is the unit of a
 * number written without one (settings and rules take milliseconds; the query API, like Jaeger,
 * wants a unit).
 */
export function parseDurationNanos(text: string, bareUnit?: DurationUnit): number | undefined {
  const m = DURATION.exec(text.trim());
  if (!m) return undefined;
  const unit = (m[2] ?? bareUnit) as DurationUnit | undefined;
  return unit === undefined ? undefined : Math.round(Number(m[1]) * UNIT_NANOS[unit]);
}

/** Milliseconds of a duration (a bare number is milliseconds), or undefined when the text is not one. */
export function parseDurationMs(text: string): number | undefined {
  const nanos = parseDurationNanos(text, 'ms');
  return nanos === undefined ? undefined : Math.round(nanos / 1e6);
}
