import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { Producer } from 'kafkajs';
import { TestContext, uniqueName, waitFor } from '../../shared/testing';
import { SpanBatchCodec, HEADER_FORMAT, HEADER_SPANS, FORMAT_NDJSON_V1 } from '../../shared/src';
import type { NormalizedSpan } from '../../shared/src';
import type { AlertChange } from '../src/alert-evaluator';
import { PANE, span } from './helpers';
import { aggregatorEnv, deletePartials, MAIN, setupTopics } from './run-helpers';

/** Spans in time order, 10 per message, messages dealt round-robin over the partitions: every partition's event time advances together. */
async function produceRoundRobin(
  producer: Producer,
  topic: string,
  spans: NormalizedSpan[],
  partitions: number,
  firstMessage = 0,
): Promise<number> {
  const messages = [];
  for (let i = 0; i < spans.length; i += 10) {
    const chunk = spans.slice(i, i + 10);
    messages.push({
      partition: (firstMessage + messages.length) % partitions,
      key: chunk[0].traceId,
      value: SpanBatchCodec.encode(chunk),
      headers: { [HEADER_FORMAT]: FORMAT_NDJSON_V1, [HEADER_SPANS]: String(chunk.length) },
    });
  }
  await producer.send({ topic, messages, acks: -1 });
  return firstMessage + messages.length;
}

/** GET /slow every 100 ms from `from` to `to` (s after t0): 1 s long before t0 + 60 s, 50 ms after. */
function slowThenFast(t0: number, from: number, to: number): NormalizedSpan[] {
  const out: NormalizedSpan[] = [];
  for (let ms = from * 1000; ms < to * 1000; ms += 100) out.push(span('alerting', 'GET /slow', t0 + ms, ms < 60_000 ? 1000 : 50, false));
  return out;
}

describe('alert state on real Kafka', () => {
  let ctx: TestContext;
  beforeEach(() => {
    ctx = new TestContext();
  });
  afterEach(async () => {
    await ctx.cleanup();
  });

  it('a firing alert is resolved after its aggregator is killed with -9 and restarted', async () => {
    const t = await setupTopics(ctx, 3);
    const t0 = Math.floor((Date.now() - 10 * 60_000) / PANE) * PANE;
    const at = (s: number) => new Date(t0 + s * 1000).toISOString();
    const producer = await ctx.producer();
    // Windows ending before t0 + 120 s hold slow spans (p99 1 s): breach from t0 + 5 s, firing at
    // t0 + 35 s (for 30 s); from t0 + 120 s no breach, so it resolves at t0 + 150 s.
    const sent = await produceRoundRobin(producer, t.validated, slowThenFast(t0, 0, 146), 3);
    const dir = mkdtempSync(path.join(tmpdir(), 'mplp-rules-'));
    const rulesFile = path.join(dir, 'rules.json');
    writeFileSync(
      rulesFile,
      JSON.stringify({
        rules: [
          {
            id: 'slow-p99',
            selector: { service: 'alerting', operation: 'GET /slow' },
            metric: 'latencyMs.p99',
            op: '>',
            threshold: 500,
            for: '30s',
          },
        ],
      }),
    );
    const group = uniqueName('test-agg-alert');
    await deletePartials(ctx, group);
    const alertsOut = await ctx.collect(t.alerts);
    const changes = () => alertsOut.messages.map((m) => JSON.parse(m.value!.toString()) as AlertChange);
    // Event time alone moves the watermarks (no idle advance): windows stop at t0 + 140 s until more spans come.
    const env = aggregatorEnv(t, group, { MPLP_AGGREGATOR_RULES_FILE: rulesFile, MPLP_AGGREGATOR_IDLE_TIMEOUT: '10m' });
    const first = ctx.spawnProcess(MAIN, env);

    await waitFor('the alert firing', () => changes().some((c) => c.state === 'firing'), { timeoutMs: 60_000, intervalMs: 200 });
    // Killed once it has committed past every window that breaches, but before the resolving one:
    // a restart replays from there, so only the kept state can resolve it.
    const admin = await ctx.admin();
    await waitFor(
      'the merge stage committed window t0 + 140 s',
      async () => {
        const [res] = await admin.fetchOffsets({ groupId: `${group}-merge`, topics: [`${group}.partials`] });
        return res.partitions.some((p) => p.metadata && (JSON.parse(p.metadata) as { cursor?: number }).cursor === t0 + 140_000);
      },
      { timeoutMs: 60_000, intervalMs: 200 },
    );
    expect(changes().map((c) => c.id)).toEqual([`slow-p99|alerting|GET /slow|SERVER|${at(35)}|firing`]);
    first.kill('SIGKILL');
    await new Promise((r) => first.once('exit', r));

    await produceRoundRobin(producer, t.validated, slowThenFast(t0, 146, 200), 3, sent);
    ctx.spawnProcess(MAIN, env);
    await waitFor('the alert resolved', () => changes().some((c) => c.state === 'resolved'), { timeoutMs: 60_000, intervalMs: 200 });
    const ids = [...new Set(changes().map((c) => c.id))];
    expect(ids).toEqual([`slow-p99|alerting|GET /slow|SERVER|${at(35)}|firing`, `slow-p99|alerting|GET /slow|SERVER|${at(150)}|resolved`]);
    expect(changes().find((c) => c.state === 'resolved')!.reason).toBeUndefined();
  });
});
