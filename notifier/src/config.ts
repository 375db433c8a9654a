import { ConfigError, setting } from '../../shared/src';

/** Settings of the notifier (MPLP_NOTIFIER_*). Defaults work on the local cluster. */
export const notifierSchema = {
  groupId: setting.string('MPLP_NOTIFIER_GROUP_ID', 'mplp-notifier', 'Kafka consumer group of the notifiers', { nonEmpty: true }),
  httpPort: setting.int('MPLP_NOTIFIER_HTTP_PORT', 9406, '/healthz /readyz /metrics port (0 = any free port)', { min: 0, max: 65535 }),
  alertmanagerUrl: setting.url(
    'MPLP_NOTIFIER_ALERTMANAGER_URL',
    'http://127.0.0.1:9094',
    'Prometheus Alertmanager base URL (alerts go to <url>/api/v2/alerts); empty: no Alertmanager',
    { allowEmpty: true },
  ),
  resendIntervalMs: setting.duration(
    'MPLP_NOTIFIER_RESEND_INTERVAL',
    60_000,
    "firing alerts are sent to Alertmanager again this often (Prometheus' resend delay); each is valid for 4 intervals, so Alertmanager resolves it by itself only if the notifier is gone that long",
    { min: 100 },
  ),
  webhookUrls: setting.string(
    'MPLP_NOTIFIER_WEBHOOK_URLS',
    '',
    "webhook receivers, comma separated http(s) URLs; each gets every state change in Alertmanager's webhook payload shape (secret: a webhook URL often carries its credential)",
    { secret: true },
  ),
  webhookSecret: setting.string(
    'MPLP_NOTIFIER_WEBHOOK_SECRET',
    '',
    "HMAC-SHA256 key: when set, each webhook request carries X-Mplp-Signature: sha256=<hex of the body's HMAC>",
    { secret: true },
  ),
  webhookToken: setting.string('MPLP_NOTIFIER_WEBHOOK_TOKEN', '', 'when set, webhook requests carry Authorization: Bearer <token>', {
    secret: true,
  }),
  stateTopic: setting.string(
    'MPLP_NOTIFIER_STATE_TOPIC',
    'mplp.notifier.state',
    'compacted topic of the last change delivered per (rule, series), one partition per alerts partition; rebuilt into the firing set on assignment',
    { nonEmpty: true },
  ),
  dlqTopic: setting.string(
    'MPLP_NOTIFIER_DLQ_TOPIC',
    'mplp.alerts.dlq',
    'dead-letter topic: malformed alert records and changes a receiver refused for good (4xx other than 408/429)',
    { nonEmpty: true },
  ),
  requestTimeoutMs: setting.duration('MPLP_NOTIFIER_REQUEST_TIMEOUT', 10_000, 'timeout of one request to Alertmanager or a webhook', {
    min: 100,
  }),
  retryMaxDelayMs: setting.duration(
    'MPLP_NOTIFIER_RETRY_MAX_DELAY',
    5_000,
    'longest wait between attempts of a delivery (retried until delivered, refused for good, or the partition moves)',
    { min: 10 },
  ),
  summaryIntervalMs: setting.duration('MPLP_NOTIFIER_SUMMARY_INTERVAL', 30_000, 'period of the summary log line', { min: 1000 }),
  shutdownTimeoutMs: setting.duration('MPLP_NOTIFIER_SHUTDOWN_TIMEOUT', 30_000, 'deadline for a clean shutdown', { min: 1000 }),
};

export type NotifierSettings = { readonly [K in keyof typeof notifierSchema]: (typeof notifierSchema)[K]['default'] };

/** The webhook URLs of MPLP_NOTIFIER_WEBHOOK_URLS, each checked. */
export function webhookUrls(s: Pick<NotifierSettings, 'webhookUrls'>): string[] {
  const urls = s.webhookUrls
    .split(',')
    .map((u) => u.trim())
    .filter(Boolean);
  urls.forEach((u, i) => {
    let ok = false;
    try {
      ok = ['http:', 'https:'].includes(new URL(u).protocol);
    } catch {
      ok = false;
    }
    // The URL itself is not repeated: it may hold the webhook's credential.
    if (!ok) throw new ConfigError('MPLP_NOTIFIER_WEBHOOK_URLS', `must be http(s) URLs; entry ${i + 1} is not`);
  });
  return urls;
}

/** Settings that are only wrong together. */
export function checkNotifierSettings(s: NotifierSettings): void {
  const hooks = webhookUrls(s);
  if (!s.alertmanagerUrl && hooks.length === 0) {
    throw new ConfigError(
      'MPLP_NOTIFIER_ALERTMANAGER_URL',
      'is empty and MPLP_NOTIFIER_WEBHOOK_URLS lists no webhook: the notifier would deliver to nobody',
    );
  }
  if (s.retryMaxDelayMs >= 20_000) {
    throw new ConfigError(
      'MPLP_NOTIFIER_RETRY_MAX_DELAY',
      `${s.retryMaxDelayMs} ms must stay below 20 s: the consumer heartbeats between attempts, and the group drops a member silent for its session timeout (30 s)`,
    );
  }
}
