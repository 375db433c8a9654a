import { AlertRecord, InvalidInputError } from '../../shared/src';

export type { AlertRecord } from '../../shared/src';

const str = (v: unknown): v is string => typeof v === 'string' && v !== '';

/** Parses and checks a record's value; a bad one is an InvalidInputError (code `alert_record`) naming the field. */
export function parseAlertRecord(value: Buffer | null): AlertRecord {
  if (!value) throw new InvalidInputError('alert_record', 'empty record');
  let r: Partial<AlertRecord>;
  try {
    r = JSON.parse(value.toString('utf8')) as Partial<AlertRecord>;
  } catch (err) {
    throw new InvalidInputError('alert_record', `not JSON: ${(err as Error).message}`);
  }
  if (!r || typeof r !== 'object') throw new InvalidInputError('alert_record', 'not a JSON object');
  for (const f of ['id', 'ruleId', 'metric', 'comparison'] as const)
    if (!str(r[f])) throw new InvalidInputError('alert_record', `${f} must be a non-empty string`);
  if (r.state !== 'firing' && r.state !== 'resolved')
    throw new InvalidInputError('alert_record', `state must be firing or resolved, got ${JSON.stringify(r.state)}`);
  const s = r.series;
  if (!s || !str(s.key) || typeof s.service !== 'string' || typeof s.operation !== 'string' || typeof s.kind !== 'string') {
    throw new InvalidInputError('alert_record', 'series must have key, service, operation and kind');
  }
  for (const f of ['windowEnd', 'evaluatedAt'] as const)
    if (!str(r[f]) || Number.isNaN(Date.parse(r[f]))) throw new InvalidInputError('alert_record', `${f} must be an ISO-8601 time`);
  for (const f of ['value', 'threshold'] as const)
    if (typeof r[f] !== 'number') throw new InvalidInputError('alert_record', `${f} must be a number`);
  return r as AlertRecord;
}

/** The identity of an alert across its changes: Alertmanager's label set, the state topic's key. */
export function alertKey(r: Pick<AlertRecord, 'ruleId' | 'series'>): string {
  return `${r.ruleId}|${r.series.key}`;
}

/** An alert as Alertmanager's API v2 (`POST /api/v2/alerts`) and its webhook payload carry it. */
export interface AmAlert {
  labels: Record<string, string>;
  annotations: Record<string, string>;
  startsAt: string;
  endsAt: string;
  generatorURL?: string;
}

/**
 * Labels identify the alert (Alertmanager deduplicates and groups by them), so they hold only
 * what is fixed for the alert's whole life; value, threshold and window go to annotations.
 */
export function toAmAlert(r: AlertRecord, startsAt: string, endsAt: string, generatorURL?: string): AmAlert {
  const annotations: Record<string, string> = {
    summary: `${r.metric} ${r.comparison} ${r.threshold} on ${r.series.service} ${r.series.operation} (${r.series.kind})`,
    value: String(r.value),
    threshold: String(r.threshold),
    windowEnd: r.windowEnd,
    evaluatedAt: r.evaluatedAt,
    alertId: r.id,
  };
  if (r.reason) annotations.reason = r.reason;
  return {
    labels: {
      alertname: r.ruleId,
      rule: r.ruleId,
      service: r.series.service,
      operation: r.series.operation,
      kind: r.series.kind,
      series: r.series.key,
      metric: r.metric,
      source: 'mplp',
    },
    annotations,
    startsAt,
    endsAt: Date.parse(endsAt) < Date.parse(startsAt) ? startsAt : endsAt,
    ...(generatorURL ? { generatorURL } : {}),
  };
}
