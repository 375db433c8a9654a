// runProcess is the one place a worker's process exits: its exit codes are what an orchestrator
// (Kubernetes, docker-compose's restart policies) acts on. Each case runs a tiny service in its
// own node process through the compiled harness.
import { spawn } from 'node:child_process';
import path from 'node:path';

const LIFECYCLE = path.join(__dirname, '..', 'src', 'lifecycle.js');
const LOGGER = path.join(__dirname, '..', 'src', 'logger.js');

/** Runs a service whose start() and behaviour are `body` (JS), SIGTERM after `termAfterMs` if set; its exit code and output. */
function runService(body: string, termAfterMs?: number): Promise<{ code: number | null; output: string }> {
  const script = `
    const { runProcess } = require(${JSON.stringify(LIFECYCLE)});
    const { createLogger } = require(${JSON.stringify(LOGGER)});
    runProcess({ name: 'probe', create: async () => ({
      logger: createLogger({ name: 'probe', level: 'info' }),
      shutdownDeadlineMs: 5000,
      service: { ${body}, stop: async () => { console.error('stopped cleanly'); } },
    }) });`;
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['-e', script], { stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (d) => {
      output += d;
      if (termAfterMs !== undefined && output.includes('"started"')) setTimeout(() => child.kill('SIGTERM'), termAfterMs);
    });
    child.stderr.on('data', (d) => (output += d));
    child.on('error', reject);
    child.on('exit', (code) => resolve({ code, output }));
  });
}

describe('runProcess exit codes', () => {
  it('a start that fails stops the service and exits 1', async () => {
    const r = await runService(`start: async () => { throw new Error('broker unreachable'); }`);
    expect(r.output).toContain('failed to start');
    expect(r.output).toContain('stopped cleanly');
    expect(r.code).toBe(1);
  });

  it('an unhandled rejection stops the service and exits 1', async () => {
    const r = await runService(
      `start: async () => { setTimeout(() => Promise.reject(new Error('lost')), 10); setTimeout(() => {}, 60000); }`,
    );
    expect(r.output).toContain('unhandled rejection');
    expect(r.code).toBe(1);
  });

  it('SIGTERM after a good start stops the service and exits 0', async () => {
    const r = await runService(`start: async () => { console.log('"started"'); setTimeout(() => {}, 60000); }`, 50);
    expect(r.output).toContain('stopped cleanly');
    expect(r.code).toBe(0);
  });
});
