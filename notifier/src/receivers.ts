import { createHash, createHmac } from 'node:crypto';
import { HttpStatusError } from '../../shared/src';
import { AlertRecord, alertKey, AmAlert, toAmAlert } from './alert-record';

/** A change to deliver, with the start of the firing it belongs to (known from the state, else its own window end). */
export interface Change {
  record: AlertRecord;
  startsAt: string;
}

/** A destination of alert changes. `send` throws what fetch or the receiver answered; the caller classifies and retries. */
export interface Receiver {
  readonly name: string;
  /** Changes per request: a chunk is delivered, retried and refused as a whole. */
  readonly maxBatch: number;
  send(changes: Change[]): Promise<void>;
}

async function post(url: string, body: string, headers: Record<string, string>, timeoutMs: number): Promise<void> {
  const res = await fetch(url, {
    method: 'POST',
    body,
    headers: { 'content-type': 'application/json', ...headers },
    signal: AbortSignal.timeout(timeoutMs),
  });
  const text = await res.text().catch(() => '');
  if (!res.ok) throw new HttpStatusError(res.status, text, res.headers.get('retry-after'));
}

/**
 * Prometheus Alertmanager, API v2. A firing alert is valid until `endsAt` = now + 4 resend
 * intervals and must be sent again before that (what Prometheus does); a resolved one carries
 * its window end as `endsAt`, which Alertmanager takes as resolved at once.
 */
export class AlertmanagerReceiver implements Receiver {
  readonly name = 'alertmanager';
  readonly maxBatch = 500;
  constructor(
    private readonly baseUrl: string,
    private readonly resendIntervalMs: number,
    private readonly timeoutMs: number,
  ) {}

  toAlert(c: Change, now = Date.now()): AmAlert {
    // A resolved alert ends at its window end, never later than now: an endsAt in the future would keep it active until then.
    const endsAt =
      c.record.state === 'firing'
        ? new Date(now + 4 * this.resendIntervalMs).toISOString()
        : new Date(Math.min(Date.parse(c.record.windowEnd), now)).toISOString();
    return toAmAlert(c.record, c.startsAt, endsAt);
  }

  async send(changes: Change[]): Promise<void> {
    if (!changes.length) return;
    const now = Date.now();
    await post(`${this.baseUrl}/api/v2/alerts`, JSON.stringify(changes.map((c) => this.toAlert(c, now))), {}, this.timeoutMs);
  }
}

/** Alertmanager's webhook payload (webhook_config, version 4) of one change. */
export function webhookPayload(c: Change, receiver: string): Record<string, unknown> {
  const r = c.record;
  const a = toAmAlert(r, c.startsAt, r.state === 'resolved' ? r.windowEnd : c.startsAt);
  // Alertmanager's webhooks give a firing alert the zero time as endsAt.
  const endsAt = r.state === 'resolved' ? a.endsAt : '0001-01-01T00:00:00Z';
  const key = alertKey(r);
  return {
    version: '4',
    groupKey: `{}:{alertname="${r.ruleId}", series="${r.series.key}"}`,
    truncatedAlerts: 0,
    status: r.state,
    receiver,
    groupLabels: { alertname: r.ruleId },
    commonLabels: a.labels,
    commonAnnotations: a.annotations,
    externalURL: '',
    alerts: [
      {
        status: r.state,
        labels: a.labels,
        annotations: a.annotations,
        startsAt: a.startsAt,
        endsAt,
        generatorURL: '',
        fingerprint: createHash('sha256').update(key).digest('hex').slice(0, 16),
      },
    ],
  };
}

/** `sha256=<hex>`: HMAC-SHA256 of the exact body bytes (GitHub's X-Hub-Signature-256 scheme). */
export function signature(secret: string, body: string): string {
  return `sha256=${createHmac('sha256', secret).update(body).digest('hex')}`;
}

/**
 * A webhook in Alertmanager's payload shape, one request per change, in order. Headers:
 * X-Mplp-Alert-Id (the change's id: a receiver that sees it twice after a redelivery can drop
 * it), X-Mplp-Signature with a secret, Authorization: Bearer with a token.
 */
export class WebhookReceiver implements Receiver {
  readonly name: string;
  // One change per request: a retry never sends again a change the receiver already took.
  readonly maxBatch = 1;
  constructor(
    private readonly url: string,
    private readonly opts: { secret: string; token: string; timeoutMs: number; index: number },
  ) {
    // The host only: a webhook's path or query often is its credential (Slack, Teams), never logged.
    this.name = `webhook ${opts.index + 1} (${new URL(url).host})`;
  }

  async send(changes: Change[]): Promise<void> {
    for (const c of changes) {
      const body = JSON.stringify(webhookPayload(c, this.name));
      const headers: Record<string, string> = { 'x-mplp-alert-id': c.record.id };
      if (this.opts.secret) headers['x-mplp-signature'] = signature(this.opts.secret, body);
      if (this.opts.token) headers.authorization = `Bearer ${this.opts.token}`;
      await post(this.url, body, headers, this.opts.timeoutMs);
    }
  }
}
