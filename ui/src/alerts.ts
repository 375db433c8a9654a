import { AlertChange, api } from './api';
import { clear, fmtDateTime, h } from './dom';
import { onAlert, onResync } from './live';

const RECHECK_MS = 5_000;
const keyOf = (a: AlertChange) => `${a.ruleId}\u0000${a.series?.key}`;

/** Firing alerts, kept current from the API at load and the live stream after; shown in a banner on every page. */
export class AlertState {
  readonly firing = new Map<string, AlertChange>();
  readonly resolved: AlertChange[] = [];
  private readonly listeners = new Set<() => void>();

  async load(): Promise<void> {
    onAlert((a) => this.apply(a));
    onResync(() => {
      void this.reload(true);
    });
    await this.reload(false);
    // A change that reached Kafka before the stream opened but Elasticsearch only after the first
    // read (the indexer's lag) is in neither: read once more when the indexer has caught up.
    setTimeout(() => {
      void this.reload(false).catch(() => undefined);
    }, RECHECK_MS);
  }

  /** `replace` after a break in the stream; otherwise a change already known stays unless the API has a newer one. */
  private async reload(replace: boolean): Promise<void> {
    const { firing, resolved } = await api.alerts();
    if (replace) this.firing.clear();
    const older = (a: AlertChange) => {
      const known = this.firing.get(keyOf(a));
      return !known || known.evaluatedAt < a.evaluatedAt;
    };
    for (const a of firing) if (older(a)) this.firing.set(keyOf(a), a);
    for (const a of resolved) if (older(a)) this.firing.delete(keyOf(a));
    this.resolved.splice(0, this.resolved.length, ...resolved);
    this.emit();
  }

  subscribe(fn: () => void): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  private apply(a: AlertChange): void {
    const known = this.firing.get(keyOf(a));
    if (known && known.evaluatedAt > a.evaluatedAt) return;
    if (a.state === 'firing') this.firing.set(keyOf(a), a);
    else {
      this.firing.delete(keyOf(a));
      this.resolved.unshift(a);
      this.resolved.splice(50);
    }
    this.emit();
  }

  private emit(): void {
    for (const fn of this.listeners) fn();
  }
}

const describe = (a: AlertChange) => `${a.ruleId} on ${a.series?.service}: ${a.series?.operation}`;
const condition = (a: AlertChange) => `${a.metric} ${round(a.value)} ${a.comparison} ${round(a.threshold)}`;
const round = (v: number) => (Math.abs(v) >= 100 ? v.toFixed(0) : Number(v.toPrecision(3)).toString());

export function renderBanner(el: HTMLElement, alerts: AlertState): void {
  const firing = [...alerts.firing.values()];
  el.hidden = firing.length === 0;
  if (!firing.length) {
    clear(el);
    return;
  }
  el.replaceChildren(
    h(
      'a',
      { href: '#/alerts' },
      h('strong', {}, `${firing.length} alert${firing.length === 1 ? '' : 's'} firing: `),
      firing
        .slice(0, 3)
        .map((a) => `${describe(a)} (${condition(a)})`)
        .join(' · '),
      firing.length > 3 ? ` and ${firing.length - 3} more` : '',
    ),
  );
}

export function alertsView(root: HTMLElement, alerts: AlertState): () => void {
  const draw = () => {
    const firing = [...alerts.firing.values()].sort((a, b) => (a.evaluatedAt < b.evaluatedAt ? 1 : -1));
    root.replaceChildren(
      h('h1', {}, 'Alerts'),
      h('h2', {}, `Firing (${firing.length})`),
      firing.length ? alertTable(firing, 'firing') : h('p', { class: 'muted' }, 'Nothing is firing.'),
      h('h2', {}, 'Recently resolved'),
      alerts.resolved.length
        ? alertTable(alerts.resolved, 'resolved')
        : h('p', { class: 'muted' }, 'Nothing resolved in the last 24 hours.'),
    );
  };
  draw();
  return alerts.subscribe(draw);
}

function alertTable(list: AlertChange[], state: string): HTMLElement {
  return h(
    'table',
    { class: `grid alerts ${state}` },
    h(
      'thead',
      {},
      h(
        'tr',
        {},
        h('th', {}, 'Rule'),
        h('th', {}, 'Service'),
        h('th', {}, 'Operation'),
        h('th', {}, 'Condition'),
        h('th', {}, 'Window end'),
        h('th', {}, state === 'firing' ? 'Since' : 'Resolved'),
      ),
    ),
    h(
      'tbody',
      {},
      ...list.map((a) =>
        h(
          'tr',
          { 'data-rule': a.ruleId, 'data-series': a.series?.key },
          h('td', {}, h('span', { class: `badge ${state === 'firing' ? 'bad' : 'ok'}` }, state), ' ', a.ruleId),
          h('td', {}, a.series?.service ?? ''),
          h('td', {}, a.series?.operation ?? ''),
          h('td', { class: 'mono' }, condition(a), a.reason ? ` (${a.reason})` : ''),
          h('td', {}, fmtDateTime(Date.parse(a.windowEnd))),
          h('td', {}, fmtDateTime(Date.parse(a.evaluatedAt))),
        ),
      ),
    ),
  );
}
