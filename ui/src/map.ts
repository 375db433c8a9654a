import { api, DependencyLink } from './api';
import { clear, errorBox, fmtPct, h, svg } from './dom';
import { serviceColor } from './trace';

const LOOKBACKS: [string, number][] = [
  ['Last 15 minutes', 15],
  ['Last hour', 60],
  ['Last 6 hours', 360],
  ['Last 24 hours', 1440],
];

/** Columns by longest call path from a service nobody calls (cycles are cut where first met). */
function layers(nodes: string[], links: DependencyLink[]): Map<string, number> {
  const out = new Map<string, number>();
  const callers = new Map<string, string[]>();
  for (const l of links) callers.set(l.child, [...(callers.get(l.child) ?? []), l.parent]);
  const visiting = new Set<string>();
  const depth = (n: string): number => {
    if (out.has(n)) return out.get(n)!;
    if (visiting.has(n)) return 0;
    visiting.add(n);
    const d = Math.max(-1, ...(callers.get(n) ?? []).map(depth)) + 1;
    visiting.delete(n);
    out.set(n, d);
    return d;
  };
  for (const n of nodes) depth(n);
  return out;
}

/** Service map: who calls whom, with call and error rates on the edges, from GET /api/dependencies. */
export async function mapView(root: HTMLElement, params: URLSearchParams): Promise<() => void> {
  clear(root);
  const lookbackMin = Number(params.get('lookback') ?? 60);
  const pick = h(
    'select',
    {
      onchange: (e: Event) => {
        location.hash = `#/map?lookback=${(e.target as HTMLSelectElement).value}`;
      },
    },
    ...LOOKBACKS.map(([label, m]) => h('option', { value: m, selected: m === lookbackMin }, label)),
  );
  const body = h('div', { class: 'map-body' }, h('p', { class: 'muted' }, 'Loading…'));
  root.append(h('div', { class: 'row-head' }, h('h1', {}, 'Service map'), pick), body);
  try {
    const res = await api.dependencies(Date.now(), lookbackMin * 60_000);
    body.replaceChildren(
      drawMap(res.data, lookbackMin * 60),
      h(
        'p',
        { class: 'muted' },
        `Computed from the ${res.sampledTraces} most recent traces of the range (${res.sampledSpans} spans). Rates are of that sample.`,
      ),
    );
  } catch (err) {
    body.replaceChildren(errorBox(err));
  }
  return () => undefined;
}

/** Calls per second, or per minute or hour when that reads better. */
function callRate(calls: number, seconds: number): string {
  const perSecond = calls / seconds;
  if (perSecond >= 1) return `${perSecond.toPrecision(3)}/s`;
  if (perSecond * 60 >= 1) return `${(perSecond * 60).toPrecision(3)}/min`;
  return `${(perSecond * 3600).toPrecision(3)}/h`;
}

function drawMap(links: DependencyLink[], seconds: number): Element {
  if (!links.length) return h('p', { class: 'muted' }, 'No calls between services in this range.');
  const nodes = [...new Set(links.flatMap((l) => [l.parent, l.child]))].sort();
  const col = layers(nodes, links);
  const columns = new Map<number, string[]>();
  for (const n of nodes) columns.set(col.get(n)!, [...(columns.get(col.get(n)!) ?? []), n]);
  const W = 380;
  const H = 100;
  const NW = 150;
  const NH = 38;
  const tallest = Math.max(...[...columns.values()].map((c) => c.length));
  const width = columns.size * W + 40;
  const height = tallest * H + 40;
  const pos = new Map<string, { x: number; y: number }>();
  for (const [c, list] of columns) list.forEach((n, i) => pos.set(n, { x: 20 + c * W, y: 20 + i * H + ((tallest - list.length) * H) / 2 }));
  const root = svg('svg', { class: 'service-map', width, height, viewBox: `0 0 ${width} ${height}` });
  root.append(
    svg(
      'defs',
      {},
      svg(
        'marker',
        { id: 'arrow', viewBox: '0 0 10 10', refX: 10, refY: 5, markerWidth: 7, markerHeight: 7, orient: 'auto-start-reverse' },
        svg('path', { d: 'M 0 0 L 10 5 L 0 10 z', class: 'arrow' }),
      ),
    ),
  );
  const labels: SVGElement[] = [];
  for (const l of links) {
    const a = pos.get(l.parent)!;
    const b = pos.get(l.child)!;
    const [x1, y1] = [a.x + NW, a.y + NH / 2];
    const [x2, y2] = b.x > a.x ? [b.x, b.y + NH / 2] : [b.x + NW / 2, b.y + (b.y > a.y ? 0 : NH)];
    const mx = (x1 + x2) / 2;
    const errRatio = l.callCount ? l.errorCount / l.callCount : 0;
    const g = svg('g', {
      class: `edge${errRatio > 0 ? ' has-errors' : ''}`,
      'data-parent': l.parent,
      'data-child': l.child,
      'data-calls': l.callCount,
      'data-errors': l.errorCount,
    });
    g.append(
      svg('path', {
        d: `M ${x1} ${y1} C ${mx} ${y1}, ${mx} ${y2}, ${x2} ${y2}`,
        'marker-end': 'url(#arrow)',
        'stroke-width': Math.min(6, 1 + Math.log10(1 + l.callCount)),
      }),
    );
    const ly = (y1 + y2) / 2;
    labels.push(
      svg(
        'text',
        { class: 'edge-label', x: mx, y: ly - 14, 'text-anchor': 'middle' },
        svg('tspan', { x: mx, dy: 0 }, `${l.callCount} call${l.callCount === 1 ? '' : 's'} · ${callRate(l.callCount, seconds)}`),
        svg('tspan', { x: mx, dy: 14, class: errRatio > 0 ? 'err' : '' }, `${fmtPct(errRatio)} errors`),
      ),
    );
    root.append(g);
  }
  for (const n of nodes) {
    const p = pos.get(n)!;
    const g = svg('g', { class: 'node', 'data-service': n });
    g.append(svg('rect', { x: p.x, y: p.y, width: NW, height: NH, rx: 8, style: `stroke:${serviceColor(n)}` }));
    g.append(svg('circle', { cx: p.x + 14, cy: p.y + NH / 2, r: 5, style: `fill:${serviceColor(n)}` }));
    const a = svg(
      'a',
      { href: `#/search?service=${encodeURIComponent(n)}` },
      svg('text', { x: p.x + 26, y: p.y + NH / 2 + 5 }, n.length > 18 ? `${n.slice(0, 17)}…` : n),
    );
    g.append(a);
    root.append(g);
  }
  root.append(...labels);
  return h('div', { class: 'map-wrap' }, root);
}
