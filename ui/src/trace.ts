import { api, JaegerSpan, JaegerTag, JaegerTrace, tagOf } from './api';
import { clear, errorBox, fmtDateTime, fmtMs, h } from './dom';

const ROW_H = 26;
const OVERSCAN = 12;

type Row = { kind: 'span'; span: JaegerSpan; depth: number; hasChildren: boolean } | { kind: 'gap'; missing: string; depth: number };

/** A colour per service, stable across pages. */
export function serviceColor(name: string): string {
  let hash = 0;
  for (let i = 0; i < name.length; i++) hash = (hash * 31 + name.charCodeAt(i)) | 0;
  return `hsl(${Math.abs(hash) % 360} 62% 48%)`;
}

/**
 * Depth of every span from its CHILD_OF reference; the API already orders spans depth first.
 * A span whose parent is not in the trace starts a new root, preceded by a gap row naming the
 * missing parent.
 */
export function treeRows(trace: JaegerTrace): Row[] {
  const depth = new Map<string, number>();
  const childCount = new Map<string, number>();
  const parentOf = (s: JaegerSpan) => s.references.find((r) => r.refType === 'CHILD_OF' && r.traceID === s.traceID)?.spanID;
  const ids = new Set(trace.spans.map((s) => s.spanID));
  for (const s of trace.spans) {
    const p = parentOf(s);
    if (p && ids.has(p)) childCount.set(p, (childCount.get(p) ?? 0) + 1);
  }
  const rows: Row[] = [];
  for (const s of trace.spans) {
    const p = parentOf(s);
    const d = p && depth.has(p) ? depth.get(p)! + 1 : 0;
    if (p && !ids.has(p)) rows.push({ kind: 'gap', missing: p, depth: 0 });
    depth.set(s.spanID, d);
    rows.push({ kind: 'span', span: s, depth: d, hasChildren: (childCount.get(s.spanID) ?? 0) > 0 });
  }
  return rows;
}

/** The rows left when the subtrees of `collapsed` spans are hidden (rows are depth first). */
function visibleRows(rows: Row[], collapsed: Set<string>): Row[] {
  const out: Row[] = [];
  let hideDeeperThan = Infinity;
  for (const r of rows) {
    if (r.depth > hideDeeperThan) continue;
    hideDeeperThan = Infinity;
    out.push(r);
    if (r.kind === 'span' && collapsed.has(r.span.spanID)) hideDeeperThan = r.depth;
  }
  return out;
}

/** Trace view: a virtualized span waterfall (only the rows in sight are in the DOM) and span details. */
export async function traceView(root: HTMLElement, traceId: string): Promise<() => void> {
  clear(root);
  root.append(h('p', { class: 'muted' }, `Loading trace ${traceId}…`));
  let trace: JaegerTrace | undefined;
  try {
    trace = await api.trace(traceId);
  } catch (err) {
    root.replaceChildren(errorBox(err));
    return () => undefined;
  }
  if (!trace) {
    root.replaceChildren(errorBox(new Error('trace not found')));
    return () => undefined;
  }
  return renderTrace(root, trace);
}

function renderTrace(root: HTMLElement, trace: JaegerTrace): () => void {
  const rows = treeRows(trace);
  const t0 = Math.min(...trace.spans.map((s) => s.startTime));
  const t1 = Math.max(...trace.spans.map((s) => s.startTime + s.duration));
  const total = Math.max(1, t1 - t0);
  const services = new Set(trace.spans.map((s) => trace.processes[s.processID]?.serviceName));
  const collapsed = new Set<string>();
  let visible = visibleRows(rows, collapsed);
  let selected: string | undefined;

  const scroller = h('div', { class: 'wf-scroll' });
  const rulerRow = h('div', { class: 'wf-ruler' }, h('div', { class: 'wf-name-head' }, 'Service: operation'), ruler(total));
  const spacer = h('div', { class: 'wf-spacer' });
  const detail = h('aside', { class: 'span-detail', hidden: true });
  scroller.append(spacer);
  const first = trace.spans[0];
  root.replaceChildren(
    h(
      'div',
      { class: 'trace-header' },
      h('h1', {}, first ? `${trace.processes[first.processID]?.serviceName}: ${first.operationName}` : trace.traceID),
      h(
        'div',
        { class: 'trace-facts' },
        h('span', { class: 'mono' }, trace.traceID),
        h('span', {}, `started ${fmtDateTime(t0 / 1000)}`),
        h('span', {}, `duration ${fmtMs(total / 1000)}`),
        h('span', { class: 'span-count' }, `${trace.spans.length} spans`),
        h('span', {}, `${services.size} services`),
      ),
      ...(trace.warnings ?? []).map((w) => h('div', { class: 'warning' }, w)),
    ),
    h('div', { class: 'wf-body' }, h('div', { class: 'wf-main' }, rulerRow, scroller), detail),
  );

  const draw = () => {
    spacer.style.height = `${visible.length * ROW_H}px`;
    const from = Math.max(0, Math.floor(scroller.scrollTop / ROW_H) - OVERSCAN);
    const to = Math.min(visible.length, Math.ceil((scroller.scrollTop + scroller.clientHeight) / ROW_H) + OVERSCAN);
    const els: HTMLElement[] = [];
    for (let i = from; i < to; i++) els.push(rowEl(visible[i], i));
    spacer.replaceChildren(...els);
    // The rows' lane is narrower by the scrollbar; keep the ruler's ticks over the bars.
    rulerRow.style.paddingRight = `${scroller.offsetWidth - scroller.clientWidth - 2}px`;
  };
  const rowEl = (r: Row, i: number): HTMLElement => {
    const top = `top:${i * ROW_H}px`;
    if (r.kind === 'gap') {
      return h(
        'div',
        { class: 'wf-row gap', style: top, 'data-index': i, 'data-missing-parent': r.missing },
        h('div', { class: 'wf-name' }, `⚠ missing parent span ${r.missing}`),
        h('div', { class: 'wf-lane' }, h('div', { class: 'gap-band' })),
      );
    }
    const s = r.span;
    const svc = trace.processes[s.processID]?.serviceName ?? '?';
    const err = tagOf(s.tags, 'error') === true;
    const left = ((s.startTime - t0) / total) * 100;
    const width = Math.max(0.2, (s.duration / total) * 100);
    const toggle = r.hasChildren
      ? h(
          'button',
          {
            class: 'toggle',
            title: 'collapse / expand',
            onclick: (e: Event) => {
              e.stopPropagation();
              flip(s.spanID);
            },
          },
          collapsed.has(s.spanID) ? '▸' : '▾',
        )
      : h('span', { class: 'toggle-space' });
    return h(
      'div',
      {
        class: `wf-row${err ? ' err' : ''}${selected === s.spanID ? ' selected' : ''}`,
        style: top,
        'data-index': i,
        'data-span-id': s.spanID,
        'data-depth': r.depth,
        onclick: () => select(s),
      },
      h(
        'div',
        { class: 'wf-name', style: `padding-left:${6 + r.depth * 14}px` },
        toggle,
        h('span', { class: 'svc-dot', style: `background:${serviceColor(svc)}` }),
        h('span', { class: 'svc' }, svc),
        ' ',
        h('span', { class: 'op' }, s.operationName),
      ),
      h(
        'div',
        { class: 'wf-lane' },
        h('div', {
          class: 'wf-bar',
          style: `left:${left.toFixed(3)}%;width:${width.toFixed(3)}%;background:${err ? 'var(--bad)' : serviceColor(svc)}`,
        }),
        h(
          'span',
          {
            class: 'wf-dur',
            style: left + width > 85 ? `right:${(100 - left + 0.5).toFixed(2)}%` : `left:${(left + width + 0.5).toFixed(2)}%`,
          },
          fmtMs(s.duration / 1000),
        ),
      ),
    );
  };
  const flip = (id: string) => {
    if (collapsed.has(id)) collapsed.delete(id);
    else collapsed.add(id);
    visible = visibleRows(rows, collapsed);
    draw();
  };
  const select = (s: JaegerSpan) => {
    selected = s.spanID;
    detail.hidden = false;
    detail.replaceChildren(
      spanDetail(trace, s, () => {
        selected = undefined;
        detail.hidden = true;
        draw();
      }),
    );
    draw();
  };
  let pending = false;
  scroller.addEventListener('scroll', () => {
    if (!pending) {
      pending = true;
      requestAnimationFrame(() => {
        pending = false;
        draw();
      });
    }
  });
  const onResize = () => draw();
  window.addEventListener('resize', onResize);
  requestAnimationFrame(draw);
  draw();
  return () => window.removeEventListener('resize', onResize);
}

function ruler(total: number): HTMLElement {
  const lane = h('div', { class: 'wf-ticks' });
  for (let i = 0; i <= 4; i++) lane.append(h('span', { class: 'tick', style: `left:${i * 25}%` }, fmtMs((total * i) / 4 / 1000)));
  return lane;
}

function tagTable(tags: JaegerTag[]): HTMLElement {
  if (!tags.length) return h('p', { class: 'muted' }, 'none');
  return h('table', { class: 'kv' }, ...tags.map((t) => h('tr', {}, h('th', {}, t.key), h('td', { class: 'mono' }, String(t.value)))));
}

const HIDDEN_TAGS = new Set(['span.kind', 'error', 'otel.status_code', 'otel.status_description', 'otel.scope.name']);

function spanDetail(trace: JaegerTrace, s: JaegerSpan, close: () => void): HTMLElement {
  const proc = trace.processes[s.processID];
  const status = String(tagOf(s.tags, 'otel.status_code') ?? 'UNSET');
  const parent = s.references.find((r) => r.refType === 'CHILD_OF');
  const links = s.references.filter((r) => r.refType === 'FOLLOWS_FROM');
  return h(
    'div',
    { class: 'detail-inner', 'data-span-id': s.spanID },
    h('button', { class: 'close', onclick: close, title: 'close' }, '×'),
    h('h2', {}, s.operationName),
    h(
      'table',
      { class: 'kv' },
      h('tr', {}, h('th', {}, 'Service'), h('td', {}, proc?.serviceName ?? '?')),
      h('tr', {}, h('th', {}, 'Kind'), h('td', {}, String(tagOf(s.tags, 'span.kind') ?? ''))),
      h(
        'tr',
        {},
        h('th', {}, 'Status'),
        h(
          'td',
          { class: status === 'ERROR' ? 'bad' : '' },
          status,
          tagOf(s.tags, 'otel.status_description') ? `: ${tagOf(s.tags, 'otel.status_description')}` : '',
        ),
      ),
      h('tr', {}, h('th', {}, 'Duration'), h('td', {}, fmtMs(s.duration / 1000))),
      h('tr', {}, h('th', {}, 'Start'), h('td', {}, fmtDateTime(s.startTime / 1000))),
      h('tr', {}, h('th', {}, 'Span id'), h('td', { class: 'mono' }, s.spanID)),
      h('tr', {}, h('th', {}, 'Parent'), h('td', { class: 'mono' }, parent?.spanID ?? '(root)')),
      h('tr', {}, h('th', {}, 'Scope'), h('td', {}, String(tagOf(s.tags, 'otel.scope.name') ?? ''))),
    ),
    ...(s.warnings ?? []).map((w) => h('div', { class: 'warning' }, w)),
    h('h3', {}, 'Attributes'),
    tagTable(s.tags.filter((t) => !HIDDEN_TAGS.has(t.key))),
    h('h3', {}, 'Resource'),
    tagTable(proc?.tags ?? []),
    h('h3', {}, `Events (${s.logs.length})`),
    s.logs.length
      ? h(
          'div',
          {},
          ...s.logs.map((l) =>
            h(
              'div',
              { class: 'event' },
              h(
                'div',
                { class: 'event-head' },
                String(tagOf(l.fields, 'event') ?? 'event'),
                h('span', { class: 'muted' }, ` +${fmtMs((l.timestamp - s.startTime) / 1000)}`),
              ),
              tagTable(l.fields.filter((f) => f.key !== 'event')),
            ),
          ),
        )
      : h('p', { class: 'muted' }, 'none'),
    h('h3', {}, `Links (${links.length})`),
    links.length
      ? h(
          'ul',
          {},
          ...links.map((l) =>
            h('li', { class: 'mono' }, h('a', { href: `#/trace/${l.traceID}` }, `${l.traceID.slice(0, 16)}…`), ` span ${l.spanID}`),
          ),
        )
      : h('p', { class: 'muted' }, 'none'),
  );
}
