/**
 * Prints where the demo traffic went: messages per topic, documents per index family, and the
 * services the query API knows. Waits (with a deadline) for the indexer to catch up first.
 */
import { createElasticsearch, createKafka, loadProcessConfig, setting } from '../shared/src';

/** Read by scripts/start.sh; declared here so the unknown-setting check knows them. */
export const demoSchema = {
  seconds: setting.int('MPLP_DEMO_SECONDS', 60, 'seconds of demo traffic in npm start (0 = until Ctrl-C)', { min: 0 }),
  rate: setting.int('MPLP_DEMO_RATE', 2000, 'demo traffic in spans per second', { min: 1 }),
};

async function topicTotals(cfg: ReturnType<typeof loadProcessConfig>['shared']): Promise<Record<string, number>> {
  const admin = createKafka(cfg, 'demo-summary').admin();
  await admin.connect();
  try {
    const out: Record<string, number> = {};
    for (const t of [cfg.topicRaw, cfg.topicValidated, cfg.topicDlq, cfg.topicMetrics, cfg.topicAlerts]) {
      const offs = await admin.fetchTopicOffsets(t).catch(() => []);
      out[t] = offs.reduce((n, o) => n + Number(o.high) - Number(o.low), 0);
    }
    return out;
  } finally {
    await admin.disconnect();
  }
}

async function main(): Promise<void> {
  const { shared: cfg } = loadProcessConfig(process.env, 'MPLP_DEMO_', demoSchema);
  const es = createElasticsearch(cfg);
  const count = async (family: string) => {
    try {
      return (await es.count({ index: `${cfg.indexPrefix}-${family}-*`, allow_no_indices: true } as never)).count;
    } catch {
      return 0;
    }
  };
  let last = -1;
  const deadline = Date.now() + 30_000;
  while (Date.now() < deadline) {
    const n = await count('traces');
    if (n === last && n > 0) break;
    last = n;
    await new Promise((r) => setTimeout(r, 3000));
  }
  console.log('\nmessages per topic:');
  for (const [t, n] of Object.entries(await topicTotals(cfg))) console.log(`  ${t.padEnd(28)} ${n}`);
  console.log('documents in Elasticsearch:');
  for (const f of ['traces', 'metrics', 'alerts']) console.log(`  ${cfg.indexPrefix}-${f}-*`.padEnd(30) + ` ${await count(f)}`);
  const port = process.env.MPLP_INDEXER_QUERY_PORT ?? '16686';
  try {
    const res = await fetch(`http://127.0.0.1:${port}/api/services`);
    const body = (await res.json()) as { data?: string[] };
    console.log(`services in the query API (http://127.0.0.1:${port}/api/services): ${(body.data ?? []).join(', ')}`);
    console.log(`  try: curl 'http://127.0.0.1:${port}/api/traces?service=${(body.data ?? ['frontend'])[0]}&limit=3'`);
  } catch {
    console.log('query API not reachable (indexer not running?)');
  }
  await es.close();
}

if (require.main === module)
  main().catch((err) => {
    console.error(`demo-summary: ${(err as Error).message}`);
    process.exit(1);
  });
