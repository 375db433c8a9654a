/**
 * Hand-written SVG charts for the pipeline bench (no chart dependency): a line chart with
 * numeric axes (linear or log y) and a horizontal bar chart. Plain SVG 1.1 with inline styles,
 * so GitHub and any browser render them as images.
 */

export interface Series {
  name: string;
  points: [number, number][];
  /** A horizontal reference line (a ceiling) drawn dashed across the plot, instead of points. */
  level?: number;
}

export interface LineChart {
  title: string;
  xLabel: string;
  yLabel: string;
  series: Series[];
  logY?: boolean;
}

export interface BarChart {
  title: string;
  unit: string;
  bars: { label: string; value: number; note?: string }[];
}

const COLORS = ['#1f77b4', '#ff7f0e', '#2ca02c', '#d62728', '#9467bd', '#8c564b', '#e377c2', '#7f7f7f', '#bcbd22', '#17becf'];
const W = 760;
const H = 420;
const M = { left: 78, right: 230, top: 44, bottom: 56 };
/** Levels above this many times the highest point are left off the plot. */
const OFF_SCALE = 5;
const FONT = 'font-family="Helvetica, Arial, sans-serif"';

const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');

/** Short tick labels: 1.5k, 20k, 1.2M, 0.25. */
export function tickLabel(v: number): string {
  const a = Math.abs(v);
  if (a >= 1e6) return `${+(v / 1e6).toPrecision(3)}M`;
  if (a >= 1e4) return `${+(v / 1e3).toPrecision(3)}k`;
  if (a >= 1) return `${+v.toPrecision(4)}`;
  return `${+v.toPrecision(2)}`;
}

/** About `count` round tick values covering [lo, hi] (steps of 1, 2 or 5 × 10^n). */
export function niceTicks(lo: number, hi: number, count = 5): number[] {
  if (!(hi > lo)) hi = lo + 1;
  const raw = (hi - lo) / count;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map((m) => m * mag).find((s) => s >= raw) ?? 10 * mag;
  const out: number[] = [];
  for (let v = Math.floor(lo / step) * step; v <= hi + step * 1e-9; v += step) out.push(+v.toPrecision(12));
  if (out[out.length - 1] < hi) out.push(+(out[out.length - 1] + step).toPrecision(12));
  return out;
}

function frame(title: string, body: string[], height = H): string {
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${height}" viewBox="0 0 ${W} ${height}" ${FONT} font-size="12">`,
    `<rect width="${W}" height="${height}" fill="#ffffff"/>`,
    `<text x="${M.left}" y="24" font-size="15" font-weight="bold" fill="#222">${esc(title)}</text>`,
    ...body,
    '</svg>',
    '',
  ].join('\n');
}

function legend(entries: { name: string; color: string; dashed: boolean }[]): string[] {
  const x = W - M.right + 16;
  return entries.flatMap((e, i) => {
    const y = M.top + 8 + i * 20;
    return [
      `<line x1="${x}" y1="${y}" x2="${x + 22}" y2="${y}" stroke="${e.color}" stroke-width="2.5"${e.dashed ? ' stroke-dasharray="6 4"' : ''}/>`,
      `<text x="${x + 28}" y="${y + 4}" fill="#222">${esc(e.name)}</text>`,
    ];
  });
}

/** A line chart: one polyline with dots per series, dashed horizontal lines for levels. */
export function lineChart(c: LineChart): string {
  const pw = W - M.left - M.right;
  const ph = H - M.top - M.bottom;
  const pts = c.series.flatMap((s) => s.points).filter(([, y]) => Number.isFinite(y) && (!c.logY || y > 0));
  const xs = pts.map(([x]) => x);
  const pointMax = Math.max(...pts.map(([, y]) => y));
  // A level far above every point (a ceiling the stage is nowhere near) would flatten the lines: it goes in the legend only.
  const onScale = (s: Series) =>
    s.level !== undefined && Number.isFinite(s.level) && (!c.logY || s.level > 0) && s.level <= OFF_SCALE * pointMax;
  const ys = [...pts.map(([, y]) => y), ...c.series.filter(onScale).map((s) => s.level!)];
  if (!xs.length) return frame(c.title, [`<text x="${M.left}" y="${M.top + 40}" fill="#666">no data</text>`]);
  const xt = niceTicks(0, Math.max(...xs));
  let yt: number[];
  let ty: (v: number) => number;
  if (c.logY) {
    const lo = Math.floor(Math.log10(Math.min(...ys)));
    const hi = Math.ceil(Math.log10(Math.max(...ys)));
    yt = Array.from({ length: Math.max(1, hi - lo) + 1 }, (_, i) => 10 ** (lo + i));
    ty = (v) => M.top + ph - ((Math.log10(v) - lo) / Math.max(1, hi - lo)) * ph;
  } else {
    yt = niceTicks(0, Math.max(...ys));
    ty = (v) => M.top + ph - (v / yt[yt.length - 1]) * ph;
  }
  const tx = (v: number) => M.left + ((v - xt[0]) / (xt[xt.length - 1] - xt[0])) * pw;
  const body: string[] = [];
  for (const v of yt) {
    body.push(`<line x1="${M.left}" y1="${ty(v).toFixed(1)}" x2="${M.left + pw}" y2="${ty(v).toFixed(1)}" stroke="#e6e6e6"/>`);
    body.push(`<text x="${M.left - 8}" y="${(ty(v) + 4).toFixed(1)}" text-anchor="end" fill="#444">${tickLabel(v)}</text>`);
  }
  for (const v of xt) {
    body.push(`<line x1="${tx(v).toFixed(1)}" y1="${M.top + ph}" x2="${tx(v).toFixed(1)}" y2="${M.top + ph + 5}" stroke="#444"/>`);
    body.push(`<text x="${tx(v).toFixed(1)}" y="${M.top + ph + 19}" text-anchor="middle" fill="#444">${tickLabel(v)}</text>`);
  }
  body.push(`<rect x="${M.left}" y="${M.top}" width="${pw}" height="${ph}" fill="none" stroke="#444"/>`);
  body.push(`<text x="${M.left + pw / 2}" y="${H - 12}" text-anchor="middle" fill="#222">${esc(c.xLabel)}</text>`);
  body.push(
    `<text x="18" y="${M.top + ph / 2}" text-anchor="middle" fill="#222" transform="rotate(-90 18 ${M.top + ph / 2})">${esc(c.yLabel)}</text>`,
  );
  const entries = c.series.map((s, i) => ({
    name: s.level === undefined ? s.name : `${s.name} ${tickLabel(s.level)}${onScale(s) ? '' : ' (off scale)'}`,
    color: COLORS[i % COLORS.length],
    dashed: s.level !== undefined,
  }));
  c.series.forEach((s, i) => {
    const color = entries[i].color;
    if (s.level !== undefined) {
      if (!onScale(s)) return;
      const y = ty(s.level).toFixed(1);
      body.push(`<line x1="${M.left}" y1="${y}" x2="${M.left + pw}" y2="${y}" stroke="${color}" stroke-width="2" stroke-dasharray="6 4"/>`);
      return;
    }
    const p = s.points.filter(([, y]) => Number.isFinite(y) && (!c.logY || y > 0));
    if (!p.length) return;
    body.push(
      `<polyline fill="none" stroke="${color}" stroke-width="2.5" points="${p.map(([x, y]) => `${tx(x).toFixed(1)},${ty(y).toFixed(1)}`).join(' ')}"/>`,
    );
    for (const [x, y] of p) body.push(`<circle cx="${tx(x).toFixed(1)}" cy="${ty(y).toFixed(1)}" r="3.5" fill="${color}"/>`);
  });
  return frame(c.title, [...body, ...legend(entries)]);
}

/** A horizontal bar chart, one bar per label, the value printed at the bar's end. */
export function barChart(c: BarChart): string {
  const bars = c.bars.filter((b) => Number.isFinite(b.value));
  const left = 170;
  const right = 90;
  const rowH = 24;
  const height = Math.max(H / 2, M.top + 30 + bars.length * rowH + 40);
  const max = Math.max(...bars.map((b) => b.value), 1e-9);
  const ticks = niceTicks(0, max);
  const pw = W - left - right;
  const tx = (v: number) => left + (v / ticks[ticks.length - 1]) * pw;
  const body: string[] = [];
  const axisY = M.top + 10 + bars.length * rowH;
  for (const v of ticks) {
    body.push(`<line x1="${tx(v).toFixed(1)}" y1="${M.top}" x2="${tx(v).toFixed(1)}" y2="${axisY}" stroke="#e6e6e6"/>`);
    body.push(`<text x="${tx(v).toFixed(1)}" y="${axisY + 16}" text-anchor="middle" fill="#444">${tickLabel(v)}</text>`);
  }
  bars.forEach((b, i) => {
    const y = M.top + 8 + i * rowH;
    body.push(`<text x="${left - 8}" y="${y + 13}" text-anchor="end" fill="#222">${esc(b.label)}</text>`);
    body.push(
      `<rect x="${left}" y="${y}" width="${Math.max(0, tx(b.value) - left).toFixed(1)}" height="${rowH - 8}" fill="${COLORS[i % COLORS.length]}"/>`,
    );
    body.push(
      `<text x="${(tx(b.value) + 6).toFixed(1)}" y="${y + 13}" fill="#222">${b.value.toFixed(3)}${b.note ? ` ${esc(b.note)}` : ''}</text>`,
    );
  });
  body.push(`<text x="${left + pw / 2}" y="${axisY + 36}" text-anchor="middle" fill="#222">${esc(c.unit)}</text>`);
  return frame(c.title, body, height);
}
