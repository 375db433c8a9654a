import type { ChildProcess } from 'node:child_process';
import { TestContext, uniqueName, waitFor } from '../../shared/testing';
import type { WindowRecord } from '../src/window-record';
import { expectedWindows, makeFixture, produceSpans } from './helpers';
import { aggregatorEnv, deletePartials, latest, setupTopics, spawnAggregator } from './run-helpers';

describe('aggregator stopped with SIGTERM under load, then restarted (real Kafka)', () => {
  const ctx = new TestContext();
  afterAll(() => ctx.cleanup());

  it('exits 0, and after the restart the windows equal those of an uninterrupted aggregator; no window id is published twice with different content', async () => {
    const t = await setupTopics(ctx);
    const fx = makeFixture(6000, 4);
    await produceSpans(await ctx.producer(), t.validated, fx.spans, 20);
    const expected = expectedWindows(fx.spans);
    const children: ChildProcess[] = [];
    ctx.defer(() => {
      for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
    });
    const exitOf = (c: ChildProcess) =>
      new Promise<number | null>((r) => (c.exitCode !== null ? r(c.exitCode) : c.once('exit', (code) => r(code))));

    const run = async (label: string, sigtermMidway: boolean) => {
      const group = uniqueName(`test-agg-${label}`);
      await deletePartials(ctx, group);
      const [metrics] = await ctx.topics([`metrics-${label}`], 3);
      const out = await ctx.collect(metrics);
      const env = aggregatorEnv({ ...t, metrics }, group);
      children.push(spawnAggregator(env));
      if (sigtermMidway) {
        await waitFor('some windows before the SIGTERM', () => out.messages.length >= 20, { timeoutMs: 60_000, intervalMs: 20 });
        const victim = children[children.length - 1];
        expect(out.messages.length).toBeLessThan(expected.size);
        victim.kill('SIGTERM');
        expect(await exitOf(victim)).toBe(0);
        children.push(spawnAggregator(env));
      }
      const got = await waitFor(
        `every window (${label})`,
        () => {
          const m = latest(out.messages);
          return [...expected.keys()].every((id) => m.has(id)) && m;
        },
        { timeoutMs: 60_000, intervalMs: 250 },
      );
      const last = children[children.length - 1];
      last.kill('SIGTERM');
      expect(await exitOf(last)).toBe(0);
      return { got, messages: out.messages };
    };

    const reference = await run('one', false);
    const stopped = await run('sigterm', true);
    const sorted = (m: Map<string, WindowRecord>) => [...m.values()].sort((a, b) => a.id.localeCompare(b.id));
    for (const [id, e] of expected) expect({ id, count: reference.got.get(id)!.count }).toEqual({ id, count: e.count });
    expect(sorted(stopped.got)).toEqual(sorted(reference.got));
    // A consumer that keeps the first record of an id must see what one that keeps the last sees.
    const contentOf = new Map<string, string>();
    const conflicting: string[] = [];
    for (const m of stopped.messages) {
      const r = JSON.parse(m.value!.toString()) as WindowRecord;
      const prev = contentOf.get(r.id);
      if (prev !== undefined && prev !== m.value!.toString()) conflicting.push(r.id);
      contentOf.set(r.id, m.value!.toString());
    }
    expect(conflicting).toEqual([]);
  });
});
