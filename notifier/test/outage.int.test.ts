import http from 'node:http';
import { AddressInfo } from 'node:net';
import { TestContext, uniqueName, waitFor } from '../../shared/testing';
import { createNotifier } from '../src';
import { alertRecord, notifierRig } from './helpers';

jest.setTimeout(120_000);

const ctx = new TestContext();
afterEach(() => ctx.cleanup());

/**
 * Forwards to the real Alertmanager and records the alert ids of every POST /api/v2/alerts that
 * Alertmanager accepted (2xx): what was delivered, and how often.
 */
async function countingProxy(target: string) {
  const accepted: string[] = [];
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      fetch(`${target}${req.url}`, {
        method: req.method,
        body: req.method === 'POST' ? body : undefined,
        headers: { 'content-type': 'application/json' },
      }).then(
        async (r) => {
          const text = await r.text();
          if (r.ok && req.method === 'POST')
            for (const a of JSON.parse(body.toString()) as { annotations: { alertId: string } }[]) accepted.push(a.annotations.alertId);
          res.writeHead(r.status, { 'content-type': 'application/json' });
          res.end(text);
        },
        () => {
          res.writeHead(502);
          res.end('alertmanager unreachable');
        },
      );
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  ctx.defer(
    () =>
      new Promise<void>((r) => {
        server.close(() => r());
        server.closeAllConnections();
      }),
  );
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, accepted };
}

test('Alertmanager down for 30 s: every change reaches it once it is back, none twice, and the webhook gets each once', async () => {
  const { alerts, am, hook, stateTopic, dlqTopic } = await notifierRig(ctx);
  const proxy = await countingProxy(am.url);
  const { service } = createNotifier(
    { ...process.env, MPLP_TOPIC_ALERTS: alerts, MPLP_LOG_LEVEL: 'error' },
    {
      groupId: uniqueName('test-notifier'),
      httpPort: 0,
      alertmanagerUrl: proxy.url,
      webhookUrls: hook.url,
      stateTopic,
      dlqTopic,
      resendIntervalMs: 60_000,
      retryMaxDelayMs: 1000,
    },
  );
  await service.start();
  ctx.defer(() => service.stop());
  const producer = await ctx.producer();
  const produce = (...rs: ReturnType<typeof alertRecord>[]) =>
    producer.send({ topic: alerts, messages: rs.map((r) => ({ key: r.series.key, value: JSON.stringify(r) })) });

  const rule = uniqueName('outage');
  const t0 = Date.now() - 120_000;
  const a1 = alertRecord(rule, 'svc-a', 'firing', new Date(t0));
  await produce(a1);
  await waitFor('the first alert in Alertmanager', async () => (await am.alerts(rule)).length === 1);

  await am.stop();
  const down = Date.now();
  const during = [
    alertRecord(rule, 'svc-a', 'resolved', new Date(t0 + 30_000)),
    alertRecord(rule, 'svc-b', 'firing', new Date(t0 + 30_000)),
    alertRecord(rule, 'svc-c', 'firing', new Date(t0 + 35_000)),
  ];
  for (const r of during) await produce(r);
  // The outage lasts 30 s; the notifier keeps retrying meanwhile.
  await new Promise((r) => setTimeout(r, Math.max(0, down + 30_000 - Date.now())));
  expect(proxy.accepted).toEqual([a1.id]);
  await am.start(); // a fresh Alertmanager process (it keeps alerts in memory only)

  await waitFor('svc-b and svc-c firing in Alertmanager', async () => (await am.alerts(rule)).length === 2, { timeoutMs: 20_000 });
  const listed = (await am.alerts(rule)).map((a) => a.labels.service).sort();
  expect(listed).toEqual(['svc-b', 'svc-c']);
  await waitFor('every change accepted by Alertmanager', () => proxy.accepted.length >= 4);
  expect(proxy.accepted.sort()).toEqual([a1.id, ...during.map((r) => r.id)].sort());
  await waitFor('every change at the webhook', () => hook.received.length >= 4);
  expect(hook.received.map((r) => r.headers['x-mplp-alert-id']).sort()).toEqual([a1.id, ...during.map((r) => r.id)].sort());
});
