import { api, SeriesOverview, SparkPoint, WindowRecord } from './api';
import { clear, errorBox, fmtMs, fmtPct, fmtRate, fmtTime, h, sparkline } from './dom';
import { onMetric, onResync, shown } from './live';

const HOUR = 3_600_000;
/** Sparkline bucket: the server is asked for 60 points over the hour. */
const BUCKET = 60_000;

interface SeriesState {
  latest: WindowRecord;
  spark: SparkPoint[];
}

/**
 * Live service overview: per service and operation the latest window's rate, error rate and
 * p50/p95/p99, sparklines over the last hour; each window record that arrives replaces its row.
 */
export async function overviewView(root: HTMLElement): Promise<() => void> {
  clear(root);
  const state = new Map<string, SeriesState>();
  const rows = new Map<string, HTMLTableRowElement>();
  const tbody = h('tbody');
  const table = h(
    'table',
    { class: 'grid overview' },
    h(
      'thead',
      {},
      h(
        'tr',
        {},
        h('th', {}, 'Service'),
        h('th', {}, 'Operation'),
        h('th', { class: 'num' }, 'Rate /s'),
        h('th', { class: 'num' }, 'Errors'),
        h('th', { class: 'num' }, 'p50'),
        h('th', { class: 'num' }, 'p95'),
        h('th', { class: 'num' }, 'p99'),
        h('th', {}, 'Rate, last hour'),
        h('th', {}, 'p99, last hour'),
        h('th', {}, 'Errors, last hour'),
        h('th', { class: 'num' }, 'Window end'),
      ),
    ),
    tbody,
  );
  const empty = h('p', { class: 'muted' }, 'No window records in the last hour yet. They appear here as the aggregator publishes them.');
  root.append(
    h('h1', {}, 'Services'),
    h('p', { class: 'muted sub' }, 'Latest 60 s window of each operation, updated live as the aggregator closes windows (every 5 s).'),
    table,
    empty,
  );

  const place = (key: string) => {
    const row = seriesRow(state.get(key)!);
    const old = rows.get(key);
    rows.set(key, row);
    if (old) {
      old.replaceWith(row);
      return;
    }
    // Insert in (service, operation) order, so rows stay grouped by service.
    const k = sortKey(state.get(key)!.latest);
    const next = [...rows.entries()]
      .filter(([other]) => other !== key)
      .map(([other, r]) => [sortKey(state.get(other)!.latest), r] as const)
      .filter(([sk]) => sk > k)
      .sort((a, b) => (a[0] < b[0] ? -1 : 1))[0];
    if (next) tbody.insertBefore(row, next[1]);
    else tbody.append(row);
    empty.hidden = true;
  };

  const off = onMetric((rec, receivedAt) => {
    const s = state.get(rec.seriesKey);
    if (s && s.latest.windowEnd > rec.windowEnd) return;
    // Same buckets as the history from Elasticsearch (one a minute, keyed by their start): a live
    // record updates its minute's point (rate: latest, error rate and p99: the worst), or starts one.
    const t = Math.floor(Date.parse(rec.windowEnd) / BUCKET) * BUCKET;
    const spark = (s?.spark ?? []).filter((p) => p.t > t - HOUR && p.t <= t);
    const last = spark[spark.length - 1];
    if (last?.t === t)
      spark[spark.length - 1] = {
        t,
        rate: rec.ratePerSecond,
        errorRate: Math.max(last.errorRate, rec.errorRate),
        p99: Math.max(last.p99, rec.latencyMs.p99),
      };
    else spark.push({ t, rate: rec.ratePerSecond, errorRate: rec.errorRate, p99: rec.latencyMs.p99 });
    state.set(rec.seriesKey, { latest: rec, spark });
    place(rec.seriesKey);
    shown(rec, receivedAt);
  });

  const load = async () => {
    const series: SeriesOverview[] = await api.overview(HOUR);
    const fresh: string[] = [];
    for (const s of series) {
      if (!s.latest?.seriesKey) continue;
      const known = state.get(s.seriesKey);
      if (known && known.latest.windowEnd >= s.latest.windowEnd) continue; // a live record came first
      state.set(s.seriesKey, { latest: s.latest, spark: s.spark });
      if (rows.has(s.seriesKey)) place(s.seriesKey);
      else fresh.push(s.seriesKey);
    }
    if (rows.size) {
      for (const key of fresh) place(key);
      return;
    }
    // First load into an empty table: sort once instead of one ordered insert per row.
    fresh.sort((a, b) => (sortKey(state.get(a)!.latest) < sortKey(state.get(b)!.latest) ? -1 : 1));
    for (const key of fresh) {
      const row = seriesRow(state.get(key)!);
      rows.set(key, row);
      tbody.append(row);
    }
    empty.hidden = rows.size > 0;
  };
  const offResync = onResync(() => {
    load().catch((err) => root.append(errorBox(err)));
  });
  try {
    await load();
  } catch (err) {
    root.append(errorBox(err));
  }
  return () => {
    off();
    offResync();
  };
}

const sortKey = (r: WindowRecord) => `${r.service}\u0000${r.operation}\u0000${r.kind}`;

function seriesRow({ latest: r, spark }: SeriesState): HTMLTableRowElement {
  const slowest = [...(r.exemplars ?? [])].sort((a, b) => b.durationMs - a.durationMs)[0];
  const p99 = slowest
    ? h(
        'a',
        {
          href: `#/trace/${slowest.traceId}`,
          class: 'exemplar',
          title: `slowest span of the window: ${fmtMs(slowest.durationMs)} — open its trace`,
        },
        fmtMs(r.latencyMs.p99),
      )
    : fmtMs(r.latencyMs.p99);
  const errCls = r.errorRate >= 0.05 ? 'bad' : r.errorRate > 0 ? 'warn' : '';
  return h(
    'tr',
    {
      'data-series': r.seriesKey,
      'data-service': r.service,
      'data-operation': r.operation,
      'data-window-end': r.windowEnd,
      'data-rate': r.ratePerSecond,
      'data-error-rate': r.errorRate,
      'data-p50': r.latencyMs.p50,
      'data-p95': r.latencyMs.p95,
      'data-p99': r.latencyMs.p99,
    },
    h('td', { class: 'service' }, h('a', { href: `#/search?service=${encodeURIComponent(r.service)}` }, r.service)),
    h(
      'td',
      {},
      h('a', { href: `#/search?service=${encodeURIComponent(r.service)}&operation=${encodeURIComponent(r.operation)}` }, r.operation),
      ' ',
      h('span', { class: 'kind' }, r.kind.toLowerCase()),
    ),
    h('td', { class: 'num rate' }, fmtRate(r.ratePerSecond)),
    h('td', { class: `num errors ${errCls}` }, fmtPct(r.errorRate)),
    h('td', { class: 'num p50' }, fmtMs(r.latencyMs.p50)),
    h('td', { class: 'num p95' }, fmtMs(r.latencyMs.p95)),
    h('td', { class: 'num p99' }, p99),
    h(
      'td',
      {},
      sparkline(
        spark.map((p) => p.rate),
        { cls: 'rate', title: 'requests per second' },
      ),
    ),
    h(
      'td',
      {},
      sparkline(
        spark.map((p) => p.p99),
        { cls: 'p99', title: 'p99 latency' },
      ),
    ),
    h(
      'td',
      {},
      sparkline(
        spark.map((p) => p.errorRate),
        { cls: 'err', title: 'error rate' },
      ),
    ),
    h('td', { class: 'num muted' }, fmtTime(Date.parse(r.windowEnd))),
  );
}
