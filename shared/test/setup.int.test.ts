import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { TestContext, uniqueName } from '../testing';

const setupJs = path.join(__dirname, '..', '..', 'scripts', 'setup.js');

describe('process start-up with settings', () => {
  const ctx = new TestContext();
  afterAll(() => ctx.cleanup());

  it('a wrong MPLP_* value stops the process with one line naming it', () => {
    const r = spawnSync(process.execPath, [setupJs], {
      env: { ...process.env, MPLP_TOPIC_SPAN_PARTITIONS: 'six' },
      encoding: 'utf8',
      timeout: 30_000,
    });
    expect(r.status).toBe(2);
    expect(r.stderr.trim().split('\n')).toEqual(['setup: invalid setting MPLP_TOPIC_SPAN_PARTITIONS: must be an integer, got "six"']);
  });

  it('a misspelt MPLP_* name stops the process with one line naming it', () => {
    const r = spawnSync(process.execPath, [setupJs], {
      env: { ...process.env, MPLP_KAFKA_BROKRES: '127.0.0.1:9092' },
      encoding: 'utf8',
      timeout: 30_000,
    });
    expect(r.status).toBe(2);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toContain('MPLP_KAFKA_BROKRES: unknown setting');
  });

  it('setup is idempotent and never logs a secret', () => {
    const raw = uniqueName('test.setup.raw');
    ctx.defer(async () => {
      const a = await ctx.admin();
      await a.deleteTopics({ topics: [raw] });
    });
    const env = { ...process.env, MPLP_TOPIC_RAW: raw, MPLP_ES_PASSWORD: 'supersecret-es', MPLP_KAFKA_SASL_PASSWORD: 'supersecret-kafka' };
    for (let i = 0; i < 2; i++) {
      const r = spawnSync(process.execPath, [setupJs], { env, encoding: 'utf8', timeout: 120_000 });
      expect(r.stderr).toBe('');
      expect(r.status).toBe(0);
      expect(r.stdout).not.toContain('supersecret');
    }
  });
});
