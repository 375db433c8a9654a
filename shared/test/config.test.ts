import { ConfigError, loadConfig, loadProcessConfig, setting, sharedSchema, redactConfig } from '../src';

const schema = {
  port: setting.int('MPLP_X_PORT', 8080, 'port', { min: 0, max: 65535 }),
  interval: setting.duration('MPLP_X_INTERVAL', 5000, 'interval'),
  mode: setting.oneOf('MPLP_X_MODE', 'fast', ['fast', 'safe'] as const, 'mode'),
  token: setting.string('MPLP_X_TOKEN', '', 'token', { secret: true }),
};

describe('config', () => {
  it('uses the defaults when nothing is set', () => {
    expect(loadConfig(schema, {})).toEqual({ port: 8080, interval: 5000, mode: 'fast', token: '' });
  });

  it('parses durations, integers and enumerations', () => {
    expect(loadConfig(schema, { MPLP_X_PORT: '9', MPLP_X_INTERVAL: '2m', MPLP_X_MODE: 'safe' }))
      .toMatchObject({ port: 9, interval: 120_000, mode: 'safe' });
  });

  it.each([
    ['MPLP_X_PORT', 'abc', /MPLP_X_PORT: must be an integer/],
    ['MPLP_X_PORT', '70000', /MPLP_X_PORT: must be <= 65535/],
    ['MPLP_X_INTERVAL', 'soon', /MPLP_X_INTERVAL: must be a duration/],
    ['MPLP_X_MODE', 'reckless', /MPLP_X_MODE: must be one of fast, safe/],
  ])('rejects %s=%s with a message naming the setting', (name, value, msg) => {
    expect(() => loadConfig(schema, { [name]: value })).toThrow(ConfigError);
    expect(() => loadConfig(schema, { [name]: value })).toThrow(msg);
  });

  it('rejects unknown MPLP_* names in the shared and own namespace, ignores other workers', () => {
    expect(() => loadProcessConfig({ MPLP_KAFKA_BROKER: 'x:1' }, 'MPLP_X_', schema)).toThrow(/MPLP_KAFKA_BROKER: unknown setting/);
    expect(() => loadProcessConfig({ MPLP_X_PROT: '1' }, 'MPLP_X_', schema)).toThrow(/MPLP_X_PROT: unknown setting/);
    expect(() => loadProcessConfig({ MPLP_INDEXER_ANYTHING: '1', PATH: '/bin' }, 'MPLP_X_', schema)).not.toThrow();
  });

  it('shared defaults point at the local cluster', () => {
    const cfg = loadConfig(sharedSchema, {});
    expect(cfg.kafkaBrokers).toEqual(['127.0.0.1:9092']);
    expect(cfg.esNode).toBe('http://127.0.0.1:9200');
    expect(cfg.s3Endpoint).toBe('http://127.0.0.1:9000');
    expect(cfg.topicSpanPartitions).toBe(6);
  });

  it('never shows a secret in the loggable copy', () => {
    const cfg = loadConfig(schema, { MPLP_X_TOKEN: 'hunter2' });
    expect(JSON.stringify(redactConfig(schema, cfg))).not.toContain('hunter2');
  });
});
