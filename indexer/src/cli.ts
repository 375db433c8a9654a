/**
 * mplp-traces: a command line over the indexer's query API. The API's address and token are
 * the indexer's own settings (MPLP_INDEXER_QUERY_URL, MPLP_INDEXER_QUERY_TOKEN), read and
 * checked like every other setting.
 */
import { parseArgs } from 'node:util';
import { ConfigError, loadProcessConfig, redactUrls } from '../../shared/src';
import { indexerSchema } from './config';

const USAGE = `usage: node dist/indexer/src/cli.js <command> [options]

commands:
  services                           list the services
  operations <service>               list a service's operations
  trace <traceId>                    print a trace as a tree, gaps marked
  search --service S [options]       find traces, newest first
      --operation O                  only traces with this operation
      --tag key=value                attribute filter (repeatable)
      --min-duration D               e.g. 10ms, 1.5s
      --max-duration D
      --limit N                      most traces (default 20)

options:
  -h, --help                         show this help

settings: MPLP_INDEXER_QUERY_URL (default http://127.0.0.1:16686), MPLP_INDEXER_QUERY_TOKEN
(sent as a bearer token when set). For an HTTPS API with a private CA, set NODE_EXTRA_CA_CERTS.`;

/** A mistake in the command line: printed with the usage, exit code 2. */
class UsageError extends Error {}

interface JSpan {
  spanID: string;
  operationName: string;
  references: { refType: string; spanID: string }[];
  startTime: number;
  duration: number;
  processID: string;
  tags: { key: string; value: unknown }[];
  warnings: string[] | null;
}
interface JTrace {
  traceID: string;
  spans: JSpan[];
  processes: Record<string, { serviceName: string }>;
  warnings?: string[] | null;
}

type Api = <T>(path: string) => Promise<T>;

function api(base: string, token: string): Api {
  return async <T>(path: string) => {
    let res: Response;
    try {
      res = await fetch(base + path, { headers: token ? { authorization: `Bearer ${token}` } : {} });
    } catch (err) {
      const cause = (err as { cause?: { code?: string; message?: string } }).cause;
      throw new Error(
        `cannot reach the query API at ${redactUrls(base)} (MPLP_INDEXER_QUERY_URL): ${cause?.code ?? cause?.message ?? (err as Error).message}`,
      );
    }
    const body = (await res.json().catch(() => ({}))) as { data?: T; errors?: { msg: string }[] | null };
    if (!res.ok) throw new Error(body.errors?.[0]?.msg ?? `HTTP ${res.status}`);
    return body.data as T;
  };
}

function printTrace(t: JTrace): void {
  const depth = new Map<string, number>();
  const t0 = Math.min(...t.spans.map((s) => s.startTime));
  console.log(`trace ${t.traceID}: ${t.spans.length} spans`);
  for (const w of t.warnings ?? []) console.log(`  [${w}]`);
  for (const s of t.spans) {
    const parent = s.references.find((r) => r.refType === 'CHILD_OF')?.spanID;
    const d = parent && depth.has(parent) ? depth.get(parent)! + 1 : 0;
    depth.set(s.spanID, d);
    const err = s.tags.some((x) => x.key === 'error' && x.value === true) ? ' ERROR' : '';
    const gap = s.warnings?.length ? `  [${s.warnings.join('; ')}]` : '';
    console.log(
      `${'  '.repeat(d)}${t.processes[s.processID].serviceName}: ${s.operationName}  +${((s.startTime - t0) / 1000).toFixed(2)}ms ${(s.duration / 1000).toFixed(2)}ms${err}${gap}`,
    );
  }
}

const SEARCH_OPTIONS = {
  service: { type: 'string' },
  operation: { type: 'string' },
  tag: { type: 'string', multiple: true },
  'min-duration': { type: 'string' },
  'max-duration': { type: 'string' },
  limit: { type: 'string' },
} as const;

/** The query string of a search, from its options; a missing --service or a malformed --tag is a usage error. */
export function searchQuery(args: string[]): URLSearchParams {
  const { values, positionals } = parseArgs({ args, options: SEARCH_OPTIONS, allowPositionals: true, strict: true });
  if (positionals.length) throw new UsageError(`search takes no arguments, got "${positionals.join(' ')}"`);
  if (!values.service) throw new UsageError('search needs --service');
  const q = new URLSearchParams({ service: values.service });
  if (values.operation) q.set('operation', values.operation);
  if (values['min-duration']) q.set('minDuration', values['min-duration']);
  if (values['max-duration']) q.set('maxDuration', values['max-duration']);
  if (values.limit) q.set('limit', values.limit);
  const tags = (values.tag ?? []).map((kv) => {
    const i = kv.indexOf('=');
    if (i <= 0) throw new UsageError(`--tag must be key=value, got "${kv}"`);
    return [kv.slice(0, i), kv.slice(i + 1)];
  });
  if (tags.length) q.set('tags', JSON.stringify(Object.fromEntries(tags)));
  return q;
}

/** The command's arguments, exactly `what.length` of them, and no options. */
function positionals(command: string, args: string[], what: string[]): string[] {
  const { positionals: got } = parseArgs({ args, options: {}, allowPositionals: true, strict: true });
  if (got.length !== what.length)
    throw new UsageError(what.length ? `${command} needs exactly one ${what[0]}` : `${command} takes no arguments`);
  return got;
}

export async function main(argv: string[], env: NodeJS.ProcessEnv): Promise<void> {
  const [command, ...rest] = argv;
  if (!command || command === '-h' || command === '--help' || rest.includes('--help') || rest.includes('-h')) {
    console.log(USAGE);
    return;
  }
  const settings = loadProcessConfig(env, 'MPLP_INDEXER_', indexerSchema).own;
  const get = api(settings.queryUrl, settings.queryToken);
  switch (command) {
    case 'services':
      positionals('services', rest, []);
      for (const s of await get<string[]>('/api/services')) console.log(s);
      return;
    case 'operations': {
      const [service] = positionals('operations', rest, ['service']);
      for (const o of await get<string[]>(`/api/services/${encodeURIComponent(service)}/operations`)) console.log(o);
      return;
    }
    case 'trace': {
      const [id] = positionals('trace', rest, ['trace id']);
      for (const t of await get<JTrace[]>(`/api/traces/${encodeURIComponent(id)}`)) printTrace(t);
      return;
    }
    case 'search': {
      for (const t of await get<JTrace[]>(`/api/traces?${searchQuery(rest)}`)) {
        const root = t.spans[0];
        const cut = t.warnings?.length ? '  (truncated)' : '';
        console.log(
          `${t.traceID}  ${t.processes[root.processID].serviceName}: ${root.operationName}  ${(root.duration / 1000).toFixed(2)}ms  ${t.spans.length} spans${cut}`,
        );
      }
      return;
    }
    default:
      throw new UsageError(`unknown command "${command}"`);
  }
}

if (require.main === module) {
  main(process.argv.slice(2), process.env).catch((err: Error & { code?: string }) => {
    if (err instanceof UsageError || err.code?.startsWith('ERR_PARSE_ARGS')) {
      console.error(`mplp-traces: ${err.message}\n\n${USAGE}`);
      process.exitCode = 2;
    } else if (err instanceof ConfigError) {
      console.error(`mplp-traces: invalid setting ${err.message}`);
      process.exitCode = 2;
    } else {
      console.error(`mplp-traces: ${err.message}`);
      process.exitCode = 1;
    }
  });
}
