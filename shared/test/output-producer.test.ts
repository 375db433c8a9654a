import { loadConfig, sharedSchema } from '../../shared/src';
import { librdkafkaConfig } from '../src/output-producer';

const shared = (env: Record<string, string>) => loadConfig(sharedSchema, env);
const ALL = ['ssl', 'sasl', 'sasl_plain', 'sasl_scram'];

describe('librdkafkaConfig: the shared MPLP_KAFKA_* settings in librdkafka terms', () => {
  it('plaintext by default, acks=all, idempotent, Java-compatible murmur2 partitioning', () => {
    const c = librdkafkaConfig(shared({ MPLP_KAFKA_BROKERS: 'a:9092,b:9092' }), ALL);
    expect(c).toMatchObject({
      'bootstrap.servers': 'a:9092,b:9092',
      acks: 'all',
      'enable.idempotence': true,
      partitioner: 'murmur2_random',
    });
    expect(c['security.protocol']).toBeUndefined();
  });

  it('maps TLS and SASL/SCRAM, with the CA file and verification switch', () => {
    const c = librdkafkaConfig(
      shared({
        MPLP_KAFKA_SSL: 'true',
        MPLP_KAFKA_SSL_CA_FILE: '/etc/ca.pem',
        MPLP_KAFKA_SSL_REJECT_UNAUTHORIZED: 'false',
        MPLP_KAFKA_SASL_MECHANISM: 'scram-sha-512',
        MPLP_KAFKA_SASL_USERNAME: 'u',
        MPLP_KAFKA_SASL_PASSWORD: 'p',
      }),
      ALL,
    );
    expect(c).toMatchObject({
      'security.protocol': 'sasl_ssl',
      'ssl.ca.location': '/etc/ca.pem',
      'enable.ssl.certificate.verification': false,
      'sasl.mechanisms': 'SCRAM-SHA-512',
      'sasl.username': 'u',
      'sasl.password': 'p',
    });
    expect(librdkafkaConfig(shared({ MPLP_KAFKA_SASL_MECHANISM: 'plain', MPLP_KAFKA_SASL_USERNAME: 'u' }), ALL)['security.protocol']).toBe(
      'sasl_plaintext',
    );
  });

  it('refuses TLS or SASL on a librdkafka build without them, naming the setting', () => {
    expect(() => librdkafkaConfig(shared({ MPLP_KAFKA_SSL: 'true' }), [])).toThrow(/MPLP_INGEST_PRODUCER/);
    expect(() => librdkafkaConfig(shared({ MPLP_KAFKA_SASL_MECHANISM: 'plain', MPLP_KAFKA_SASL_USERNAME: 'u' }), ['ssl'])).toThrow(
      /MPLP_INGEST_PRODUCER/,
    );
  });
});
