import type { NormalizedSpan } from '../../shared/src';

export interface OrderedSpan {
  span: NormalizedSpan;
  depth: number;
  missingParent: boolean;
}

/**
 * Orders a trace's spans as a tree (depth-first, children by start time). A span whose parent
 * is not in the trace is a root too, marked missingParent, so a gap is visible instead of hidden.
 */
export function orderTrace(spans: NormalizedSpan[]): OrderedSpan[] {
  const byId = new Map(spans.map((s) => [s.spanId, s]));
  const children = new Map<string, NormalizedSpan[]>();
  const roots: NormalizedSpan[] = [];
  for (const s of spans) {
    if (s.parentSpanId && byId.has(s.parentSpanId) && s.parentSpanId !== s.spanId) {
      const list = children.get(s.parentSpanId) ?? [];
      list.push(s);
      children.set(s.parentSpanId, list);
    } else roots.push(s);
  }
  const byStart = (a: NormalizedSpan, b: NormalizedSpan) =>
    a.startTime < b.startTime ? -1 : a.startTime > b.startTime ? 1 : a.spanId < b.spanId ? -1 : 1;
  const out: OrderedSpan[] = [];
  const seen = new Set<string>();
  // Depth first with an explicit stack: a trace can be a chain of tens of thousands of spans,
  // deeper than the call stack.
  const visit = (root: NormalizedSpan) => {
    const stack: Array<{ s: NormalizedSpan; depth: number }> = [{ s: root, depth: 0 }];
    while (stack.length) {
      const { s, depth } = stack.pop()!;
      if (seen.has(s.spanId)) continue;
      seen.add(s.spanId);
      out.push({ span: s, depth, missingParent: depth === 0 && !!s.parentSpanId });
      const kids = (children.get(s.spanId) ?? []).sort(byStart);
      for (let i = kids.length - 1; i >= 0; i--) stack.push({ s: kids[i], depth: depth + 1 });
    }
  };
  for (const r of roots.sort(byStart)) visit(r);
  // Cycles (a → b → a) have no root; keep their spans anyway.
  for (const s of spans.sort(byStart)) visit(s);
  return out;
}

const isoToMicros = (iso: string) => {
  const secs = Date.parse(`${iso.slice(0, 19)}Z`) / 1000;
  const frac = (iso.split('.')[1] ?? '0Z').replace('Z', '').padEnd(9, '0');
  return secs * 1_000_000 + Math.floor(Number(frac) / 1000);
};

type Tag = { key: string; type: string; value: unknown };
function tags(attrs: Record<string, unknown>): Tag[] {
  return Object.entries(attrs).map(([key, value]) => {
    if (typeof value === 'boolean') return { key, type: 'bool', value };
    if (typeof value === 'number') return { key, type: Number.isInteger(value) ? 'int64' : 'float64', value };
    if (Array.isArray(value)) return { key, type: 'string', value: JSON.stringify(value) };
    return { key, type: 'string', value: String(value) };
  });
}

/** Jaeger's process table: one entry per (service, resource); processID(span) names a span's entry. */
function processTable(ordered: OrderedSpan[]) {
  const processes: Record<string, { serviceName: string; tags: Tag[] }> = {};
  const pid = new Map<string, string>();
  const keyOf = (span: NormalizedSpan) => `${span.service}\u0000${JSON.stringify(span.resource)}`;
  for (const { span } of ordered) {
    const key = keyOf(span);
    if (!pid.has(key)) {
      const id = `p${pid.size + 1}`;
      pid.set(key, id);
      const { 'service.name': _s, ...rest } = span.resource as Record<string, unknown>;
      processes[id] = { serviceName: span.service, tags: tags(rest) };
    }
  }
  return { processes, processID: (span: NormalizedSpan) => pid.get(keyOf(span))! };
}

function jaegerSpan({ span, missingParent }: OrderedSpan, processID: string) {
  const t = tags(span.attributes);
  t.push({ key: 'span.kind', type: 'string', value: span.kind.toLowerCase() });
  if (span.status.code === 'ERROR') t.push({ key: 'error', type: 'bool', value: true });
  if (span.status.code !== 'UNSET') t.push({ key: 'otel.status_code', type: 'string', value: span.status.code });
  if (span.status.message) t.push({ key: 'otel.status_description', type: 'string', value: span.status.message });
  t.push({ key: 'otel.scope.name', type: 'string', value: span.scope.name });
  const references = [
    ...(span.parentSpanId ? [{ refType: 'CHILD_OF', traceID: span.traceId, spanID: span.parentSpanId }] : []),
    ...span.links.map((l) => ({ refType: 'FOLLOWS_FROM', traceID: l.traceId, spanID: l.spanId })),
  ];
  return {
    traceID: span.traceId,
    spanID: span.spanId,
    operationName: span.name,
    references,
    startTime: isoToMicros(span.startTime),
    duration: Math.round(span.durationNanos / 1000),
    tags: t,
    logs: span.events.map((e) => ({
      timestamp: isoToMicros(e.time),
      fields: [{ key: 'event', type: 'string', value: e.name }, ...tags(e.attributes)],
    })),
    processID,
    warnings: missingParent ? [`parent span ${span.parentSpanId} is missing from this trace`] : null,
  };
}

/**
 * A trace in the Jaeger query API's JSON shape, so the Jaeger UI can read it. `warnings` are
 * the trace's own (e.g. that it was truncated); spans carry theirs (a missing parent).
 */
export function toJaegerTrace(traceId: string, spans: NormalizedSpan[], warnings: string[] = []) {
  const ordered = orderTrace(spans);
  const { processes, processID } = processTable(ordered);
  return {
    traceID: traceId,
    spans: ordered.map((o) => jaegerSpan(o, processID(o.span))),
    processes,
    warnings: warnings.length ? warnings : null,
  };
}

/**
 * The same JSON as toJaegerTrace, serialized one span at a time into 64 KiB pieces: the Jaeger
 * form of a span (several times its size as objects) lives only while it is written, and no
 * string of the whole trace is built.
 */
export function jaegerTraceJson(traceId: string, spans: NormalizedSpan[], warnings: string[] = []): Buffer {
  const ordered = orderTrace(spans);
  const { processes, processID } = processTable(ordered);
  const pieces: Buffer[] = [];
  let text = `{"traceID":${JSON.stringify(traceId)},"spans":[`;
  ordered.forEach((o, i) => {
    text += (i ? ',' : '') + JSON.stringify(jaegerSpan(o, processID(o.span)));
    if (text.length >= 65536) {
      pieces.push(Buffer.from(text));
      text = '';
    }
  });
  text += `],"processes":${JSON.stringify(processes)},"warnings":${JSON.stringify(warnings.length ? warnings : null)}}`;
  pieces.push(Buffer.from(text));
  return Buffer.concat(pieces);
}
