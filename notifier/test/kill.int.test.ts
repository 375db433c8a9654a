import path from 'node:path';
import { TestContext, uniqueName, waitFor } from '../../shared/testing';
import { groupOffsets } from '../../shared/testing/processes';
import { alertRecord, notifierRig } from './helpers';

jest.setTimeout(120_000);

const ctx = new TestContext();
afterEach(() => ctx.cleanup());

const main = path.resolve(__dirname, '../src/main.js');

test('a notifier killed with -9 while an alert fires: its successor re-sends the firing alert and delivers the resolve, nothing twice', async () => {
  const { alerts, am, hook, stateTopic, dlqTopic } = await notifierRig(ctx);
  const groupId = uniqueName('test-notifier');
  const env = {
    MPLP_TOPIC_ALERTS: alerts,
    MPLP_LOG_LEVEL: 'warn',
    MPLP_NOTIFIER_GROUP_ID: groupId,
    MPLP_NOTIFIER_HTTP_PORT: '0',
    MPLP_NOTIFIER_ALERTMANAGER_URL: am.url,
    MPLP_NOTIFIER_WEBHOOK_URLS: hook.url,
    MPLP_NOTIFIER_STATE_TOPIC: stateTopic,
    MPLP_NOTIFIER_DLQ_TOPIC: dlqTopic,
    MPLP_NOTIFIER_RESEND_INTERVAL: '1s',
  };
  const producer = await ctx.producer();
  const produce = (r: ReturnType<typeof alertRecord>) =>
    producer.send({ topic: alerts, messages: [{ key: r.series.key, value: JSON.stringify(r) }] });

  const first = ctx.spawnProcess(main, env);
  const rule = uniqueName('kill');
  const firing = alertRecord(rule, 'payments', 'firing', new Date(Date.now() - 60_000));
  await produce(firing);
  await waitFor('the firing at the webhook', () => hook.received.length === 1, { timeoutMs: 60_000 });
  await waitFor('the firing in Alertmanager', async () => (await am.alerts(rule)).length === 1);
  // Killed once the firing is settled (state topic written, offset committed). Killed between the
  // webhook's answer and the commit, the successor delivers it again, same X-Mplp-Alert-Id.
  const admin = await ctx.admin();
  await waitFor('the firing committed', async () => (await groupOffsets(admin, groupId, alerts)).every((o) => o.committed >= o.end));
  first.kill('SIGKILL');
  await new Promise((r) => first.once('exit', r));
  const killedAt = Date.now();

  ctx.spawnProcess(main, env);
  // The successor owns the partition once the killed member's session has expired (kafkajs: 30 s).
  await waitFor(
    'a re-send by the successor (endsAt past its start + 3 s)',
    async () => {
      const [a] = await am.alerts(rule);
      return a && Date.parse(a.endsAt) > killedAt + 3000 && Date.parse(a.updatedAt) > killedAt;
    },
    { timeoutMs: 60_000 },
  );
  const resolved = alertRecord(rule, 'payments', 'resolved', new Date(Date.now() - 1000));
  await produce(resolved);
  await waitFor('the resolve at the webhook', () => hook.received.length >= 2, { timeoutMs: 30_000 });
  await waitFor('resolved in Alertmanager', async () => (await am.alerts(rule)).length === 0);
  expect(hook.received.map((r) => r.headers['x-mplp-alert-id'])).toEqual([firing.id, resolved.id]);
});
