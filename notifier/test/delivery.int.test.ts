import { createHmac } from 'node:crypto';
import { TestContext, uniqueName, waitFor } from '../../shared/testing';
import { createNotifier } from '../src';
import type { NotifierSettings } from '../src/config';
import { alertRecord, notifierRig, recordingServer } from './helpers';

jest.setTimeout(90_000);

const ctx = new TestContext();
afterEach(() => ctx.cleanup());

const SECRET = 'hook-secret';

async function setup(overrides: Partial<NotifierSettings> = {}) {
  const { alerts, am, hook, stateTopic, dlqTopic } = await notifierRig(ctx);
  const env = { ...process.env, MPLP_TOPIC_ALERTS: alerts, MPLP_LOG_LEVEL: 'warn' };
  const settings: Partial<NotifierSettings> = {
    groupId: uniqueName('test-notifier'),
    httpPort: 0,
    alertmanagerUrl: am.url,
    webhookUrls: hook.url,
    webhookSecret: SECRET,
    webhookToken: 'hook-token',
    stateTopic,
    dlqTopic,
    resendIntervalMs: 60_000,
    retryMaxDelayMs: 500,
    ...overrides,
  };
  const start = async (more: Partial<NotifierSettings> = {}) => {
    const { service } = createNotifier(env, { ...settings, ...more });
    await service.start();
    let stopped = false;
    const stop = async () => {
      if (!stopped) {
        stopped = true;
        await service.stop();
      }
    };
    ctx.defer(stop);
    return { service, stop };
  };
  const producer = await ctx.producer();
  const produce = (...records: ReturnType<typeof alertRecord>[]) =>
    producer.send({ topic: alerts, messages: records.map((r) => ({ key: r.series.key, value: JSON.stringify(r) })) });
  return { am, hook, alerts, stateTopic, dlqTopic, start, produce, producer };
}

const hookBodies = (hook: Awaited<ReturnType<typeof recordingServer>>) =>
  hook.received.map(
    (r) =>
      JSON.parse(r.body) as {
        status: string;
        alerts: { labels: Record<string, string>; annotations: Record<string, string>; status: string }[];
      },
  );

describe('notifier delivery (real Kafka, real Alertmanager)', () => {
  test('a firing record appears in Alertmanager and reaches the webhook signed; its resolved record resolves it in both; repeats are delivered once', async () => {
    const { am, hook, start, produce } = await setup();
    await start();
    const rule = uniqueName('pay-p99');
    const end = new Date(Math.floor(Date.now() / 5000) * 5000 - 60_000);
    const firing = alertRecord(rule, 'checkout', 'firing', end);
    await produce(firing, firing); // the aggregator may publish a change twice after a restart (same id)
    const listed = await waitFor('the alert firing in Alertmanager', async () =>
      (await am.alerts(rule)).find((a) => a.status.state === 'active'),
    );
    expect(listed.labels).toMatchObject({
      alertname: rule,
      service: 'checkout',
      operation: 'GET /pay',
      kind: 'SERVER',
      metric: 'latencyMs.p99',
    });
    expect(listed.annotations).toMatchObject({ value: '420', threshold: '250', alertId: firing.id });
    expect(Date.parse(listed.startsAt)).toBe(end.getTime());
    // Valid for 4 resend intervals: Alertmanager would resolve it by itself only minutes from now.
    expect(Date.parse(listed.endsAt)).toBeGreaterThan(Date.now() + 3 * 60_000);

    const resolved = alertRecord(rule, 'checkout', 'resolved', new Date(end.getTime() + 30_000), { reason: 'series-gone' });
    await produce(resolved, firing); // a replayed, older firing after the resolve changes nothing
    await waitFor('the alert resolved in Alertmanager (no longer listed)', async () => (await am.alerts(rule)).length === 0, {
      timeoutMs: 15_000,
    });

    await waitFor('both changes at the webhook', () => hook.received.length >= 2);
    const bodies = hookBodies(hook);
    expect(bodies.map((b) => b.status)).toEqual(['firing', 'resolved']);
    expect(bodies[1].alerts[0].annotations.reason).toBe('series-gone');
    for (const r of hook.received) {
      const expected = `sha256=${createHmac('sha256', SECRET).update(r.body).digest('hex')}`;
      expect(r.headers['x-mplp-signature']).toBe(expected);
      expect(r.headers.authorization).toBe('Bearer hook-token');
    }
    expect(hook.received.map((r) => r.headers['x-mplp-alert-id'])).toEqual([firing.id, resolved.id]);
    expect(await am.alerts(rule)).toEqual([]);
  });

  test('a receiver refusing for good (400) and a malformed record go to the DLQ with a reason; the other receivers still get the change', async () => {
    const refusing = await recordingServer(400);
    ctx.defer(() => refusing.close());
    const { am, hook, dlqTopic, start, produce, producer, alerts } = await setup();
    await start({ webhookUrls: `${hook.url},${refusing.url}` });
    const rule = uniqueName('err-rate');
    await producer.send({ topic: alerts, messages: [{ key: 'x', value: '{"not":"an alert"' }] });
    const firing = alertRecord(rule, 'cart', 'firing', new Date());
    await produce(firing);
    await waitFor('the alert in Alertmanager', async () => (await am.alerts(rule)).length === 1);
    await waitFor('the change at the accepting webhook', () => hook.received.length === 1);
    const { messages } = await ctx.collect(dlqTopic);
    await waitFor('two DLQ records', () => messages.length >= 2);
    const byCode = new Map(messages.map((m) => [m.headers!['mplp-error-code']!.toString(), m]));
    expect(byCode.get('alert_record')!.headers!['mplp-receiver']!.toString()).toBe('none');
    const refused = byCode.get('http_400')!;
    expect(JSON.parse(refused.value!.toString()).id).toBe(firing.id);
    expect(refused.headers!['mplp-receiver']!.toString()).toContain(new URL(refusing.url).host);
    expect(refused.headers!['mplp-source']!.toString()).toMatch(new RegExp(`^${alerts}/\\d+/\\d+$`));
    expect(refusing.received.length).toBe(1); // refused for good: not retried
  });

  test('after a restart the firing set is rebuilt from the state topic: re-sent to Alertmanager, not delivered again', async () => {
    const { am, hook, start, produce } = await setup({ resendIntervalMs: 1000 });
    const first = await start();
    const rule = uniqueName('restart');
    const firing = alertRecord(rule, 'search', 'firing', new Date());
    await produce(firing);
    await waitFor('the change at the webhook', () => hook.received.length === 1);
    await first.stop();
    // Alertmanager keeps a firing alert only until endsAt (now + 4 resend intervals): without re-sends it resolves it.
    await start();
    const restartedAt = Date.now();
    await waitFor(
      'a re-send by the restarted notifier (endsAt moved past its start + 4 intervals - 1 s)',
      async () => {
        const [a] = await am.alerts(rule);
        return a && Date.parse(a.endsAt) > restartedAt + 3000;
      },
      { timeoutMs: 20_000 },
    );
    const resolved = alertRecord(rule, 'search', 'resolved', new Date(Date.now() + 5000));
    await produce(resolved);
    await waitFor('the resolved at the webhook', () => hook.received.length === 2);
    await waitFor('resolved in Alertmanager', async () => (await am.alerts(rule)).length === 0);
    expect(hook.received.map((r) => r.headers['x-mplp-alert-id'])).toEqual([firing.id, resolved.id]);
  });

  test('a clean stop while a webhook request is in flight: the change settles, and the next start does not deliver it again', async () => {
    const { hook, start, produce } = await setup();
    const first = await start();
    hook.setDelay(1500);
    const rule = uniqueName('stop');
    const firing = alertRecord(rule, 'cart', 'firing', new Date(Date.now() - 60_000));
    await produce(firing);
    await waitFor('the change at the webhook, its answer held', () => hook.received.length === 1);
    await first.stop();
    hook.setDelay(0);
    await start();
    const resolved = alertRecord(rule, 'cart', 'resolved', new Date(Date.now() - 1000));
    await produce(resolved);
    await waitFor('the resolved at the webhook', () => hook.received.length >= 2);
    expect(hook.received.map((r) => r.headers['x-mplp-alert-id'])).toEqual([firing.id, resolved.id]);
  });

  test('records already delivered and read again from before the commit (offsets reset: a new group on the same state topic) are not delivered again', async () => {
    const { am, hook, start, produce } = await setup();
    const first = await start();
    const rule = uniqueName('replay');
    const firing = alertRecord(rule, 'auth', 'firing', new Date(Date.now() - 60_000));
    const resolved = alertRecord(rule, 'auth', 'resolved', new Date(Date.now() - 30_000));
    const again = alertRecord(rule, 'auth2', 'firing', new Date(Date.now() - 30_000));
    await produce(firing, resolved, again);
    await waitFor('three changes at the webhook', () => hook.received.length === 3);
    await first.stop();
    // A new group starts at the beginning of the topic: every record is read again.
    await start({ groupId: uniqueName('test-notifier-reset') });
    const later = alertRecord(rule, 'auth2', 'resolved', new Date(Date.now() - 5_000));
    await produce(later);
    await waitFor('the new change at the webhook', () => hook.received.length >= 4);
    await waitFor('auth2 resolved in Alertmanager', async () => (await am.alerts(rule)).length === 0);
    expect(hook.received.map((r) => r.headers['x-mplp-alert-id']).sort()).toEqual([firing.id, resolved.id, again.id, later.id].sort());
  });
});
