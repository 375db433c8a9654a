/**
 * mplp-traces CLI over the indexer's query API:
 *   node dist/indexer/src/cli.js services
 *   node dist/indexer/src/cli.js operations <service>
 *   node dist/indexer/src/cli.js trace <traceId>
 *   node dist/indexer/src/cli.js search --service S [--operation O] [--tag k=v] [--min-duration 10ms] [--limit 20]
 * MPLP_INDEXER_QUERY_URL (default http://127.0.0.1:16686) says where the API is.
 */
const base = process.env.MPLP_INDEXER_QUERY_URL ?? 'http://127.0.0.1:16686';

interface JSpan { spanID: string; operationName: string; references: { refType: string; spanID: string }[]; startTime: number; duration: number; processID: string; tags: { key: string; value: unknown }[]; warnings: string[] | null }
interface JTrace { traceID: string; spans: JSpan[]; processes: Record<string, { serviceName: string }> }

async function get<T>(path: string): Promise<T> {
  const res = await fetch(base + path);
  const body = (await res.json()) as { data: T; errors?: { msg: string }[] | null };
  if (!res.ok) throw new Error(body.errors?.[0]?.msg ?? `HTTP ${res.status}`);
  return body.data;
}

function printTrace(t: JTrace): void {
  const depth = new Map<string, number>();
  const t0 = Math.min(...t.spans.map((s) => s.startTime));
  console.log(`trace ${t.traceID}: ${t.spans.length} spans`);
  for (const s of t.spans) {
    const parent = s.references.find((r) => r.refType === 'CHILD_OF')?.spanID;
    const d = parent && depth.has(parent) ? depth.get(parent)! + 1 : 0;
    depth.set(s.spanID, d);
    const err = s.tags.some((x) => x.key === 'error' && x.value === true) ? ' ERROR' : '';
    const gap = s.warnings?.length ? `  [${s.warnings.join('; ')}]` : '';
    console.log(`${'  '.repeat(d)}${t.processes[s.processID].serviceName}: ${s.operationName}  +${((s.startTime - t0) / 1000).toFixed(2)}ms ${(s.duration / 1000).toFixed(2)}ms${err}${gap}`);
  }
}

async function main(argv: string[]): Promise<void> {
  const [cmd, ...rest] = argv;
  const opt = (name: string) => { const i = rest.indexOf(`--${name}`); return i >= 0 ? rest[i + 1] : undefined; };
  switch (cmd) {
    case 'services': for (const s of await get<string[]>('/api/services')) console.log(s); return;
    case 'operations': for (const o of await get<string[]>(`/api/services/${encodeURIComponent(rest[0] ?? '')}/operations`)) console.log(o); return;
    case 'trace': for (const t of await get<JTrace[]>(`/api/traces/${rest[0]}`)) printTrace(t); return;
    case 'search': {
      const q = new URLSearchParams({ service: opt('service') ?? '' });
      if (opt('operation')) q.set('operation', opt('operation')!);
      if (opt('min-duration')) q.set('minDuration', opt('min-duration')!);
      if (opt('max-duration')) q.set('maxDuration', opt('max-duration')!);
      if (opt('limit')) q.set('limit', opt('limit')!);
      const tags = rest.flatMap((a, i) => (a === '--tag' ? [rest[i + 1]] : [])).map((kv) => kv.split('='));
      if (tags.length) q.set('tags', JSON.stringify(Object.fromEntries(tags)));
      for (const t of await get<JTrace[]>(`/api/traces?${q}`)) {
        const root = t.spans[0];
        console.log(`${t.traceID}  ${t.processes[root.processID].serviceName}: ${root.operationName}  ${(root.duration / 1000).toFixed(2)}ms  ${t.spans.length} spans`);
      }
      return;
    }
    default:
      console.error('usage: cli.js services | operations <service> | trace <id> | search --service S [--operation O] [--tag k=v] [--min-duration 10ms] [--limit N]');
      process.exitCode = 2;
  }
}

main(process.argv.slice(2)).catch((err) => { console.error(`mplp-traces: ${(err as Error).message}`); process.exitCode = 1; });
