import { spawnSync } from 'node:child_process';
import path from 'node:path';

// The command line is checked before any client is made, so these need no cluster.
const cli = path.join(__dirname, '..', 'src', 'cli.js');
const run = (...args: string[]) => spawnSync(process.execPath, [cli, ...args], { encoding: 'utf8', timeout: 30_000 });

describe('archiver CLI', () => {
  it('--help prints the usage and exits 0', () => {
    const r = run('--help');
    expect(r.status).toBe(0);
    expect(r.stdout).toContain('usage: node dist/archiver/src/cli.js <command>');
    expect(r.stdout).toContain('restore <index> [--force]');
  });

  it.each([
    [['list', '--bogus'], "Unknown option '--bogus'"],
    [['frob'], 'unknown command frob'],
    [[], 'a command is needed'],
    [['restore'], 'restore takes an index name'],
    [['list', 'extra'], 'list takes no arguments'],
  ])('%j is refused with one line and the usage, exit 2', (args, message) => {
    const r = run(...args);
    expect(r.status).toBe(2);
    expect(r.stderr.split('\n')[0]).toContain(message);
    expect(r.stderr).toContain('usage:');
    expect(r.stdout).toBe('');
  });
});
