import { createHmac } from 'node:crypto';
import { classifyHttpError, ConfigError, HttpStatusError, InvalidInputError } from '../../shared/src';
import { parseAlertRecord } from '../src/alert-record';
import { checkNotifierSettings, notifierSchema, NotifierSettings } from '../src/config';
import { AlertmanagerReceiver, signature, webhookPayload } from '../src/receivers';
import { loadConfig } from '../../shared/src';
import { alertRecord } from './helpers';

const defaults = (over: Partial<NotifierSettings> = {}): NotifierSettings => ({ ...loadConfig(notifierSchema, {}), ...over });

describe('alert records', () => {
  test("parses the aggregator's record shape, with reason on a resolved one", () => {
    const r = alertRecord('r1', 'checkout', 'resolved', new Date('2026-01-01T00:00:05Z'), { reason: 'rule-removed' });
    expect(parseAlertRecord(Buffer.from(JSON.stringify(r)))).toEqual(r);
  });

  test.each([
    ['not JSON', '{"id":', /not JSON/],
    ['no state', JSON.stringify({ ...alertRecord('r', 's', 'firing', new Date()), state: 'pending' }), /state must be firing or resolved/],
    [
      'bad windowEnd',
      JSON.stringify({ ...alertRecord('r', 's', 'firing', new Date()), windowEnd: 'yesterday' }),
      /windowEnd must be an ISO-8601 time/,
    ],
    ['no series', JSON.stringify({ ...alertRecord('r', 's', 'firing', new Date()), series: undefined }), /series must have/],
  ])('refuses a record with %s, naming the field (code alert_record)', (_, raw, message) => {
    expect(() => parseAlertRecord(Buffer.from(raw))).toThrow(InvalidInputError);
    expect(() => parseAlertRecord(Buffer.from(raw))).toThrow(message);
  });
});

describe('Alertmanager and webhook shapes', () => {
  const start = '2026-01-01T00:00:00.000Z';
  test('a firing alert is valid for 4 resend intervals; a resolved one ends at its window end, never in the future', () => {
    const am = new AlertmanagerReceiver('http://am', 60_000, 1000);
    const now = Date.parse('2026-01-01T00:10:00.000Z');
    const firing = am.toAlert({ record: alertRecord('r', 's', 'firing', new Date(start)), startsAt: start }, now);
    expect(firing.endsAt).toBe('2026-01-01T00:14:00.000Z');
    expect(firing.labels).toEqual({
      alertname: 'r',
      rule: 'r',
      service: 's',
      operation: 'GET /pay',
      kind: 'SERVER',
      series: 's|GET /pay|SERVER',
      metric: 'latencyMs.p99',
      source: 'mplp',
    });
    const resolved = am.toAlert({ record: alertRecord('r', 's', 'resolved', new Date('2026-01-01T00:05:00Z')), startsAt: start }, now);
    expect([resolved.startsAt, resolved.endsAt]).toEqual([start, '2026-01-01T00:05:00.000Z']);
    const ahead = am.toAlert({ record: alertRecord('r', 's', 'resolved', new Date('2026-01-01T00:20:00Z')), startsAt: start }, now);
    expect(ahead.endsAt).toBe('2026-01-01T00:10:00.000Z');
  });

  test("webhook payload follows Alertmanager's webhook_config (version 4); the signature is the HMAC-SHA256 of the body", () => {
    const body = webhookPayload({ record: alertRecord('r', 's', 'firing', new Date(start)), startsAt: start }, 'hook');
    expect(body).toMatchObject({ version: '4', status: 'firing', receiver: 'hook', truncatedAlerts: 0, groupLabels: { alertname: 'r' } });
    const [a] = body.alerts as { status: string; startsAt: string; endsAt: string; fingerprint: string }[];
    expect(a).toMatchObject({ status: 'firing', startsAt: start, endsAt: '0001-01-01T00:00:00Z' });
    expect(a.fingerprint).toMatch(/^[0-9a-f]{16}$/);
    expect(signature('k', 'body')).toBe(`sha256=${createHmac('sha256', 'k').update('body').digest('hex')}`);
  });
});

describe('HTTP failures', () => {
  test('4xx other than 408/429 is permanent (DLQ); 408, 5xx and transport failures are retried; 429 waits Retry-After', () => {
    expect(classifyHttpError(new HttpStatusError(400, '')).disposition).toBe('permanent');
    expect(classifyHttpError(new HttpStatusError(404, '')).code).toBe('http_404');
    expect(classifyHttpError(new HttpStatusError(408, '')).disposition).toBe('retryable');
    expect(classifyHttpError(new HttpStatusError(503, '')).disposition).toBe('retryable');
    const throttled = classifyHttpError(new HttpStatusError(429, '', '3'));
    expect([throttled.disposition, throttled.retryAfterMs]).toEqual(['throttled', 3000]);
    const refused = classifyHttpError(Object.assign(new TypeError('fetch failed'), { cause: { code: 'ECONNREFUSED' } }));
    expect([refused.code, refused.disposition]).toEqual(['http_unavailable', 'retryable']);
  });
});

describe('settings', () => {
  test('refuses a notifier with no receiver, and a webhook URL that is not http(s), naming the setting', () => {
    expect(() => checkNotifierSettings(defaults({ alertmanagerUrl: '' }))).toThrow(ConfigError);
    expect(() => checkNotifierSettings(defaults({ alertmanagerUrl: '' }))).toThrow(/MPLP_NOTIFIER_ALERTMANAGER_URL/);
    expect(() => checkNotifierSettings(defaults({ webhookUrls: 'http://a/x, ftp://b' }))).toThrow(
      'MPLP_NOTIFIER_WEBHOOK_URLS: must be http(s) URLs; entry 2 is not',
    );
    expect(() => checkNotifierSettings(defaults({ alertmanagerUrl: '', webhookUrls: 'https://hooks.example/a' }))).not.toThrow();
  });
});
