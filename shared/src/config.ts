import { isIP } from 'node:net';
import { DURATION_EXAMPLES, parseDurationMs } from './duration';
import { ConfigError } from './errors';

/**
 * Configuration schema. Every setting is an MPLP_* environment variable with a default that
 * works against the local cluster. A schema is a plain object of Setting descriptors; loading
 * validates every value and stops at the first bad one with a ConfigError naming the variable.
 * A variable that is set, even to the empty string, is parsed: empty means empty (no S3
 * endpoint, no access key), never "the default"; a setting that cannot be empty (a number, a
 * list) rejects it with a message that says to unset it instead.
 */
export type Env = Readonly<Record<string, string | undefined>>;

export interface Setting<T> {
  readonly env: string;
  readonly default: T;
  readonly doc: string;
  readonly secret?: boolean;
  parse(raw: string): T;
}

type Bound = { min?: number; max?: number };

function rejectEmpty(name: string, raw: string, def: unknown): void {
  if (raw.trim() === '') throw new ConfigError(name, `is set but empty; unset it to use the default (${JSON.stringify(def)})`);
}

function boundCheck(name: string, n: number, b: Bound): number {
  if (b.min !== undefined && n < b.min) throw new ConfigError(name, `must be >= ${b.min}, got ${n}`);
  if (b.max !== undefined && n > b.max) throw new ConfigError(name, `must be <= ${b.max}, got ${n}`);
  return n;
}

/** A setting whose value may not be empty: parse sees the raw value only once it is known not to be. */
function nonEmpty<T>(env: string, def: T, doc: string, parse: (raw: string) => T): Setting<T> {
  return {
    env,
    default: def,
    doc,
    parse: (raw) => {
      rejectEmpty(env, raw, def);
      return parse(raw);
    },
  };
}

export const setting = {
  string(env: string, def: string, doc: string, opts: { secret?: boolean; nonEmpty?: boolean } = {}): Setting<string> {
    return {
      env,
      default: def,
      doc,
      secret: opts.secret,
      parse: (raw) => {
        if (opts.nonEmpty && raw.trim() === '') throw new ConfigError(env, 'must not be empty');
        return raw;
      },
    };
  },
  int(env: string, def: number, doc: string, b: Bound = {}): Setting<number> {
    return nonEmpty(env, def, doc, (raw) => {
      if (!/^-?\d+$/.test(raw.trim())) throw new ConfigError(env, `must be an integer, got "${raw}"`);
      return boundCheck(env, Number(raw.trim()), b);
    });
  },
  number(env: string, def: number, doc: string, b: Bound = {}): Setting<number> {
    return nonEmpty(env, def, doc, (raw) => {
      const n = Number(raw.trim());
      if (!Number.isFinite(n)) throw new ConfigError(env, `must be a number, got "${raw}"`);
      return boundCheck(env, n, b);
    });
  },
  bool(env: string, def: boolean, doc: string): Setting<boolean> {
    return nonEmpty(env, def, doc, (raw) => {
      const v = raw.trim().toLowerCase();
      if (['1', 'true', 'yes', 'on'].includes(v)) return true;
      if (['0', 'false', 'no', 'off'].includes(v)) return false;
      throw new ConfigError(env, `must be true or false, got "${raw}"`);
    });
  },
  oneOf<const T extends string>(env: string, def: T, values: readonly T[], doc: string): Setting<T> {
    return nonEmpty(env, def, doc, (raw) => {
      if (!(values as readonly string[]).includes(raw)) throw new ConfigError(env, `must be one of ${values.join(', ')}, got "${raw}"`);
      return raw as T;
    });
  },
  list(env: string, def: string[], doc: string): Setting<string[]> {
    return nonEmpty(env, def, doc, (raw) => {
      const items = raw
        .split(',')
        .map((s) => s.trim())
        .filter(Boolean);
      if (items.length === 0) throw new ConfigError(env, 'must list at least one value');
      return items;
    });
  },
  /** An http(s) URL; with allowEmpty, the empty string is a value of its own (e.g. "no custom endpoint"). */
  url(env: string, def: string, doc: string, opts: { allowEmpty?: boolean } = {}): Setting<string> {
    const checked = nonEmpty(env, def, doc, (raw) => {
      try {
        const u = new URL(raw);
        if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new Error('protocol');
      } catch {
        throw new ConfigError(env, `must be an http(s) URL, got "${raw}"`);
      }
      return raw.replace(/\/+$/, '');
    });
    return { ...checked, parse: (raw) => (opts.allowEmpty && raw.trim() === '' ? '' : checked.parse(raw)) };
  },
  /** A listen address: an IPv4 or IPv6 address or a host name (127.0.0.1 = this machine only, 0.0.0.0 = every interface). */
  host(env: string, def: string, doc: string): Setting<string> {
    return nonEmpty(env, def, doc, (raw) => {
      const v = raw.trim();
      if (isIP(v) === 0 && !/^(?=.{1,253}$)[a-zA-Z0-9]([a-zA-Z0-9-]{0,62})(\.[a-zA-Z0-9]([a-zA-Z0-9-]{0,62}))*$/.test(v)) {
        throw new ConfigError(env, `must be an IP address or host name, got "${raw}"`);
      }
      return v;
    });
  },
  /** Durations (shared/src/duration.ts: 500ms, 5s, 2m, 1h, 7d, or a bare number of milliseconds). Parsed to milliseconds. */
  duration(env: string, defMs: number, doc: string, b: Bound = {}): Setting<number> {
    return nonEmpty(env, defMs, doc, (raw) => {
      const ms = parseDurationMs(raw);
      if (ms === undefined) throw new ConfigError(env, `must be a duration like ${DURATION_EXAMPLES}, got "${raw}"`);
      return boundCheck(env, ms, b);
    });
  },
};

export type Schema = Record<string, Setting<unknown>>;
export type ConfigOf<S extends Schema> = { readonly [K in keyof S]: S[K] extends Setting<infer T> ? T : never };

/** Loads one schema from env. Unknown keys are checked separately (checkUnknownSettings). */
export function loadConfig<S extends Schema>(schema: S, env: Env): ConfigOf<S> {
  const out: Record<string, unknown> = {};
  for (const [key, s] of Object.entries(schema)) {
    const raw = env[s.env];
    out[key] = raw === undefined ? s.default : s.parse(raw);
  }
  return Object.freeze(out) as ConfigOf<S>;
}

/** Every MPLP_* variable that is set must be one that some schema (or the cluster scripts) knows: catches typos. */
export function checkUnknownSettings(env: Env, known: Iterable<string>): void {
  const knownSet = new Set(known);
  for (const name of Object.keys(env).sort()) {
    if (name.startsWith('MPLP_') && !knownSet.has(name)) {
      throw new ConfigError(name, 'unknown setting (see the README for the list of MPLP_* settings)');
    }
  }
}

/** Names of the secret settings in a schema, so logs can redact them. */
export function settingNames(schema: Schema): string[] {
  return Object.values(schema).map((s) => s.env);
}

/** A copy of the config safe to log: secret values replaced. */
export function redactConfig<S extends Schema>(schema: S, cfg: ConfigOf<S>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, s] of Object.entries(schema)) {
    const v = (cfg as Record<string, unknown>)[k];
    out[k] = s.secret && v ? '[redacted]' : v;
  }
  return out;
}

/** Markdown table rows for the README's settings reference. */
export function settingsTable(schema: Schema): string {
  return Object.values(schema)
    .map(
      (s) =>
        `| \`${s.env}\` | \`${s.secret ? (s.default ? '(local-only, not shown)' : '(empty)') : JSON.stringify(s.default)}\` | ${s.doc} |`,
    )
    .join('\n');
}
