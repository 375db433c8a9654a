/** Small DOM helpers: the UI is plain TypeScript, no framework. */
type Attr = string | number | boolean | undefined | null | ((e: Event) => void);
type Child = Node | string | number | null | undefined | false;

export function h<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  attrs: Record<string, Attr> = {},
  ...children: Child[]
): HTMLElementTagNameMap[K] {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    if (typeof v === 'function') el.addEventListener(k.replace(/^on/, ''), v);
    else if (k === 'class') el.className = String(v);
    else if (k === 'style') el.setAttribute('style', String(v));
    else el.setAttribute(k, v === true ? '' : String(v));
  }
  append(el, children);
  return el;
}

export function append(el: Element, children: Child[]): void {
  for (const c of children) {
    if (c === null || c === undefined || c === false) continue;
    el.append(typeof c === 'number' ? String(c) : c);
  }
}

const SVG = 'http://www.w3.org/2000/svg';
export function svg(tag: string, attrs: Record<string, string | number> = {}, ...children: (Node | string)[]): SVGElement {
  const el = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, String(v));
  for (const c of children) el.append(c);
  return el;
}

/** A duration in milliseconds, readable: 850 µs, 4.21 ms, 123.4 ms, 2.50 s. */
export function fmtMs(ms: number): string {
  if (!Number.isFinite(ms)) return '–';
  if (ms < 1) return `${Math.round(ms * 1000)} µs`;
  if (ms < 10) return `${ms.toFixed(2)} ms`;
  if (ms < 1000) return `${ms.toFixed(1)} ms`;
  return `${(ms / 1000).toFixed(2)} s`;
}

export const fmtRate = (perSecond: number) => (perSecond >= 100 ? perSecond.toFixed(0) : perSecond.toFixed(2));
export const fmtPct = (ratio: number) => `${(ratio * 100).toFixed(2)}%`;
export const fmtTime = (ms: number) => new Date(ms).toLocaleTimeString([], { hour12: false });
export const fmtDateTime = (ms: number) => new Date(ms).toLocaleString([], { hour12: false });

/** A tiny line chart of values (oldest first); the last point is marked. */
export function sparkline(values: number[], opts: { width?: number; height?: number; cls?: string; title?: string } = {}): SVGElement {
  const w = opts.width ?? 110;
  const ht = opts.height ?? 26;
  const el = svg('svg', { class: `spark ${opts.cls ?? ''}`, width: w, height: ht, viewBox: `0 0 ${w} ${ht}` });
  if (opts.title) el.append(svg('title', {}, opts.title));
  if (!values.length) return el;
  const max = Math.max(...values) || 1;
  const step = values.length > 1 ? (w - 4) / (values.length - 1) : 0;
  const pts = values.map((v, i) => [2 + i * step, ht - 3 - (v / max) * (ht - 6)]);
  const line = pts.map(([x, y]) => `${x.toFixed(1)},${y.toFixed(1)}`).join(' ');
  el.append(svg('polygon', { class: 'area', points: `2,${ht - 3} ${line} ${pts[pts.length - 1][0].toFixed(1)},${ht - 3}` }));
  el.append(svg('polyline', { class: 'line', points: line }));
  const [lx, ly] = pts[pts.length - 1];
  el.append(svg('circle', { cx: lx.toFixed(1), cy: ly.toFixed(1), r: 2 }));
  return el;
}

export function clear(el: Element): void {
  while (el.firstChild) el.firstChild.remove();
}

export function errorBox(err: unknown): HTMLElement {
  return h('div', { class: 'error-box' }, `Error: ${(err as Error).message ?? String(err)}`);
}
