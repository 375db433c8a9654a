import {
  ConfigError,
  indexTemplates,
  kafkaSecurityWarnings,
  loadConfig,
  loadProcessConfig,
  setting,
  sharedSchema,
  redactConfig,
} from '../src';

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
    expect(loadConfig(schema, { MPLP_X_PORT: '9', MPLP_X_INTERVAL: '2m', MPLP_X_MODE: 'safe' })).toMatchObject({
      port: 9,
      interval: 120_000,
      mode: 'safe',
    });
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

  it('takes an empty value as empty, not as the default: AWS endpoint, no static keys (IAM role)', () => {
    const { shared } = loadProcessConfig(
      { MPLP_S3_ENDPOINT: '', MPLP_S3_ACCESS_KEY_ID: '', MPLP_S3_SECRET_ACCESS_KEY: '', MPLP_S3_PREFIX: '' },
      'MPLP_X_',
      schema,
    );
    expect(shared).toMatchObject({ s3Endpoint: '', s3AccessKeyId: '', s3SecretAccessKey: '', s3Prefix: '' });
    expect(loadConfig(schema, { MPLP_X_TOKEN: '' }).token).toBe('');
  });

  it('refuses an empty value where empty means nothing, saying to unset it', () => {
    expect(() => loadConfig(schema, { MPLP_X_PORT: '' })).toThrow(/MPLP_X_PORT: is set but empty; unset it to use the default \(8080\)/);
    expect(() => loadConfig(sharedSchema, { MPLP_KAFKA_BROKERS: '' })).toThrow(/MPLP_KAFKA_BROKERS: is set but empty/);
    expect(() => loadConfig(sharedSchema, { MPLP_ES_URL: '' })).toThrow(/MPLP_ES_URL: is set but empty/);
    expect(() => loadConfig(sharedSchema, { MPLP_INDEX_PREFIX: '' })).toThrow(/MPLP_INDEX_PREFIX: must not be empty/);
  });

  it('refuses an access key without its secret', () => {
    expect(() => loadProcessConfig({ MPLP_S3_ACCESS_KEY_ID: 'AKIA1', MPLP_S3_SECRET_ACCESS_KEY: '' }, 'MPLP_X_', schema)).toThrow(
      /MPLP_S3_SECRET_ACCESS_KEY: is empty while MPLP_S3_ACCESS_KEY_ID is set/,
    );
  });

  it('makes index shards and replicas settings; the local default keeps 0 replicas', () => {
    expect(indexTemplates('p')[0].template.settings).toMatchObject({ number_of_shards: 1, number_of_replicas: 0 });
    const cfg = loadConfig(sharedSchema, { MPLP_INDEX_SHARDS: '3', MPLP_INDEX_REPLICAS: '2' });
    const t = indexTemplates('p', { shards: cfg.indexShards, replicas: cfg.indexReplicas });
    // no refresh_interval: left to Elasticsearch's default, which skips refreshes of search-idle shards
    expect(t.map((x) => x.template.settings)).toEqual(Array(3).fill({ number_of_shards: 3, number_of_replicas: 2 }));
  });

  it('binds the ops server to loopback unless MPLP_HTTP_HOST says otherwise', () => {
    expect(loadConfig(sharedSchema, {}).httpHost).toBe('127.0.0.1');
    expect(loadConfig(sharedSchema, { MPLP_HTTP_HOST: '0.0.0.0' }).httpHost).toBe('0.0.0.0');
    expect(() => loadConfig(sharedSchema, { MPLP_HTTP_HOST: 'a b' })).toThrow(/MPLP_HTTP_HOST: must be an IP address or host name/);
  });

  it('warns about SASL PLAIN without TLS only', () => {
    expect(kafkaSecurityWarnings({ kafkaSaslMechanism: 'plain', kafkaSsl: false })[0]).toMatch(/clear text/);
    expect(kafkaSecurityWarnings({ kafkaSaslMechanism: 'plain', kafkaSsl: true })).toEqual([]);
    expect(kafkaSecurityWarnings({ kafkaSaslMechanism: 'scram-sha-512', kafkaSsl: false })).toEqual([]);
  });
});
