import type { NormalizedSpan } from '../../shared/src';

export interface OrderedSpan { span: NormalizedSpan; depth: number; missingParent: boolean }

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
  const byStart = (a: NormalizedSpan, b: NormalizedSpan) => (a.startTime < b.startTime ? -1 : a.startTime > b.startTime ? 1 : a.spanId < b.spanId ? -1 : 1);
  const out: OrderedSpan[] = [];
  const seen = new Set<string>();
  const visit = (s: NormalizedSpan, depth: number) => {
    if (seen.has(s.spanId)) return;
    seen.add(s.spanId);
    out.push({ span: s, depth, missingParent: depth === 0 && !!s.parentSpanId });
    for (const c of (children.get(s.spanId) ?? []).sort(byStart)) visit(c, depth + 1);
  };
  for (const r of roots.sort(byStart)) visit(r, 0);
  // Cycles (a → b → a) have no root; keep their spans anyway.
  for (const s of spans.sort(byStart)) visit(s, 0);
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

/**
 * A trace in the Jaeger query API's JSON shape, so the Jaeger UI can read it. `warnings` are
 * the trace's own (e.g. that it was truncated); spans carry theirs (a missing parent).
 */
export function toJaegerTrace(traceId: string, spans: NormalizedSpan[], warnings: string[] = []) {
  const ordered = orderTrace(spans);
  const processes: Record<string, { serviceName: string; tags: Tag[] }> = {};
  const pid = new Map<string, string>();
  for (const { span } of ordered) {
    const key = `${span.service}\u0000${JSON.stringify(span.resource)}`;
    if (!pid.has(key)) {
      const id = `p${pid.size + 1}`;
      pid.set(key, id);
      const { 'service.name': _s, ...rest } = span.resource as Record<string, unknown>;
      processes[id] = { serviceName: span.service, tags: tags(rest) };
    }
  }
  return {
    traceID: traceId,
    spans: ordered.map(({ span, missingParent }) => {
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
        traceID: span.traceId, spanID: span.spanId, operationName: span.name, references,
        startTime: isoToMicros(span.startTime), duration: Math.round(span.durationNanos / 1000), tags: t,
        logs: span.events.map((e) => ({ timestamp: isoToMicros(e.time), fields: [{ key: 'event', type: 'string', value: e.name }, ...tags(e.attributes)] })),
        processID: pid.get(`${span.service}\u0000${JSON.stringify(span.resource)}`)!,
        warnings: missingParent ? [`parent span ${span.parentSpanId} is missing from this trace`] : null,
      };
    }),
    processes,
    warnings: warnings.length ? warnings : null,
  };
}
