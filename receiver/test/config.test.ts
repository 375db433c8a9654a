import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { ConfigError } from '../../shared/src';
import { createReceiver } from '../src';

describe('receiver settings', () => {
  it('a bad setting stops the start naming it: half a TLS pair, an unreadable certificate, an unknown MPLP_RECEIVER_ name, a bad port', () => {
    const named = (env: Record<string, string>) => {
      try {
        createReceiver(env);
      } catch (err) {
        return err instanceof ConfigError ? err.setting : `not a ConfigError: ${err}`;
      }
      return 'started';
    };
    expect(named({ MPLP_RECEIVER_TLS_CERT_FILE: '/etc/hostname' })).toBe('MPLP_RECEIVER_TLS_KEY_FILE');
    expect(named({ MPLP_RECEIVER_TLS_CERT_FILE: '/nonexistent/cert.pem', MPLP_RECEIVER_TLS_KEY_FILE: '/nonexistent/key.pem' })).toBe(
      'MPLP_RECEIVER_TLS_CERT_FILE',
    );
    expect(named({ MPLP_RECEIVER_GRPC_PORT: '70000' })).toBe('MPLP_RECEIVER_GRPC_PORT');
    expect(named({ MPLP_RECEIVER_MAX_REQUEST_BYTES: '10' })).toBe('MPLP_RECEIVER_MAX_REQUEST_BYTES');
    expect(() => createReceiver({ MPLP_RECEIVER_TOKN: 'x' })).toThrow(/MPLP_RECEIVER_TOKN/);
  });

  it('main.js exits 2 with one line naming the setting, and never prints the token', () => {
    const r = spawnSync(process.execPath, [path.join(__dirname, '..', 'src', 'main.js')], {
      env: { PATH: process.env.PATH, MPLP_RECEIVER_TOKEN: 'secret-token-value', MPLP_RECEIVER_HOST: '' },
      encoding: 'utf8',
      timeout: 30_000,
    });
    expect(r.status).toBe(2);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toContain('MPLP_RECEIVER_HOST');
    expect(r.stderr + r.stdout).not.toContain('secret-token-value');
  });
});
