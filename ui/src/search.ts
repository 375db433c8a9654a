import { api, JaegerTrace, tagOf } from './api';
import { clear, errorBox, fmtDateTime, fmtMs, h } from './dom';

const LOOKBACKS: [string, number][] = [
  ['Last 15 minutes', 15],
  ['Last hour', 60],
  ['Last 6 hours', 360],
  ['Last 24 hours', 1440],
  ['Last 2 days', 2880],
  ['Last 7 days', 10080],
];

/** Turns `k=v k2="a b"` into Jaeger's tags JSON; throws naming the bad part. */
export function parseTags(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  const re = /\s*([^=\s]+)=("([^"]*)"|(\S*))/y;
  let rest = text.trim();
  while (rest) {
    re.lastIndex = 0;
    const m = re.exec(rest);
    if (!m) throw new Error(`tags: expected key=value, got "${rest.split(/\s/)[0]}"`);
    out[m[1]] = m[3] ?? m[4];
    rest = rest.slice(re.lastIndex).trim();
  }
  return out;
}

/** Trace search: service, operation, tags, durations, time range, limit; results with duration bars. */
export async function searchView(root: HTMLElement, params: URLSearchParams): Promise<() => void> {
  clear(root);
  const service = h('select', { name: 'service', required: true }, h('option', { value: '' }, 'Service…'));
  const operation = h('select', { name: 'operation' }, h('option', { value: '' }, 'All operations'));
  const tags = h('input', { name: 'tags', placeholder: 'http.status_code=500 error=true', value: params.get('tags') ?? '' });
  const minD = h('input', { name: 'minDuration', placeholder: 'e.g. 100ms', value: params.get('minDuration') ?? '', size: 8 });
  const maxD = h('input', { name: 'maxDuration', placeholder: 'e.g. 2s', value: params.get('maxDuration') ?? '', size: 8 });
  const lookback = h(
    'select',
    { name: 'lookback' },
    ...LOOKBACKS.map(([label, min]) => h('option', { value: min, selected: String(min) === (params.get('lookback') ?? '60') }, label)),
  );
  // A custom range wins over the lookback: From alone is "from then until now", To alone is "the lookback before then".
  const from = h('input', { name: 'from', type: 'datetime-local', step: 1, value: params.get('from') ?? '' });
  const to = h('input', { name: 'to', type: 'datetime-local', step: 1, value: params.get('to') ?? '' });
  const limit = h('input', { name: 'limit', type: 'number', min: 1, max: 100, value: params.get('limit') ?? '20', size: 4 });
  const results = h('div', { class: 'results' });
  const form = h(
    'form',
    { class: 'search-form' },
    field('Service', service),
    field('Operation', operation),
    field('Tags', tags),
    field('Min duration', minD),
    field('Max duration', maxD),
    field('Lookback', lookback),
    field('From', from),
    field('To', to),
    field('Limit', limit),
    h('button', { type: 'submit', class: 'primary' }, 'Find traces'),
  );
  root.append(h('h1', {}, 'Find traces'), form, results);

  const loadOperations = async () => {
    operation.replaceChildren(h('option', { value: '' }, 'All operations'));
    if (!service.value) return;
    for (const op of await api.operations(service.value))
      operation.append(h('option', { value: op, selected: op === params.get('operation') }, op));
  };
  service.addEventListener('change', () => {
    void loadOperations();
  });
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    const q = new URLSearchParams();
    for (const el of [service, operation, tags, minD, maxD, lookback, from, to, limit]) if (el.value) q.set(el.name, el.value);
    location.hash = `#/search?${q}`;
  });

  try {
    for (const s of await api.services()) service.append(h('option', { value: s, selected: s === params.get('service') }, s));
    await loadOperations();
  } catch (err) {
    results.append(errorBox(err));
  }
  if (params.get('service')) await runSearch(results, params);
  return () => undefined;
}

function field(label: string, control: HTMLElement): HTMLElement {
  return h('label', { class: 'field' }, h('span', {}, label), control);
}

async function runSearch(results: HTMLElement, params: URLSearchParams): Promise<void> {
  results.replaceChildren(h('p', { class: 'muted' }, 'Searching…'));
  try {
    const q = new URLSearchParams();
    for (const k of ['service', 'operation', 'minDuration', 'maxDuration', 'limit']) if (params.get(k)) q.set(k, params.get(k)!);
    const tagText = params.get('tags');
    if (tagText) q.set('tags', JSON.stringify(parseTags(tagText)));
    const { start, end } = timeRange(params);
    q.set('end', String(end * 1000));
    q.set('start', String(start * 1000));
    const traces = await api.traces(q);
    results.replaceChildren(traceList(traces));
  } catch (err) {
    results.replaceChildren(errorBox(err));
  }
}

/** The search's range in ms: From/To (local time) when given, else the lookback before now (or before To). */
export function timeRange(params: URLSearchParams): { start: number; end: number } {
  const parse = (name: string) => {
    const v = params.get(name);
    if (!v) return undefined;
    const ms = new Date(v).getTime();
    if (Number.isNaN(ms)) throw new Error(`${name}: not a date and time: "${v}"`);
    return ms;
  };
  const lookbackMs = Number(params.get('lookback') ?? 60) * 60_000;
  const end = parse('to') ?? Date.now();
  const start = parse('from') ?? end - lookbackMs;
  if (start > end) throw new Error('From is after To');
  return { start, end };
}

interface Summary {
  trace: JaegerTrace;
  root: string;
  start: number;
  duration: number;
  services: Map<string, number>;
  errors: number;
}

function summarize(trace: JaegerTrace): Summary {
  let start = Infinity;
  let end = -Infinity;
  let errors = 0;
  const services = new Map<string, number>();
  for (const s of trace.spans) {
    start = Math.min(start, s.startTime);
    end = Math.max(end, s.startTime + s.duration);
    if (tagOf(s.tags, 'error') === true) errors++;
    const svc = trace.processes[s.processID]?.serviceName ?? '?';
    services.set(svc, (services.get(svc) ?? 0) + 1);
  }
  const first = trace.spans[0];
  const root = first ? `${trace.processes[first.processID]?.serviceName ?? '?'}: ${first.operationName}` : '(no spans)';
  return { trace, root, start, duration: end - start, services, errors };
}

function traceList(traces: JaegerTrace[]): HTMLElement {
  if (!traces.length) return h('p', { class: 'muted' }, 'No traces found.');
  const sums = traces.map(summarize);
  const longest = Math.max(...sums.map((s) => s.duration), 1);
  return h(
    'div',
    {},
    h('p', { class: 'muted' }, `${traces.length} trace${traces.length === 1 ? '' : 's'}`),
    h(
      'ol',
      { class: 'trace-list' },
      ...sums.map((s) =>
        h(
          'li',
          { 'data-trace-id': s.trace.traceID },
          h(
            'a',
            { href: `#/trace/${s.trace.traceID}`, class: 'trace-item' },
            h(
              'div',
              { class: 'trace-head' },
              h('span', { class: 'trace-root' }, s.root),
              h('span', { class: 'trace-id mono' }, s.trace.traceID.slice(0, 16)),
              h('span', { class: 'trace-dur' }, fmtMs(s.duration / 1000)),
            ),
            h(
              'div',
              { class: 'dur-track' },
              h('div', {
                class: `dur-bar${s.errors ? ' err' : ''}`,
                style: `width:${Math.max(0.5, (s.duration / longest) * 100).toFixed(2)}%`,
              }),
            ),
            h(
              'div',
              { class: 'trace-meta' },
              h('span', {}, `${s.trace.spans.length} spans`),
              s.errors ? h('span', { class: 'badge bad' }, `${s.errors} error${s.errors === 1 ? '' : 's'}`) : null,
              ...[...s.services].map(([svc, n]) => h('span', { class: 'chip' }, `${svc} (${n})`)),
              h('span', { class: 'muted right' }, fmtDateTime(s.start / 1000)),
            ),
          ),
        ),
      ),
    ),
  );
}
