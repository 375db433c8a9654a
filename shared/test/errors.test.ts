import { classifyElasticsearchError, classifyKafkaError, classifyS3Error } from '../src';

describe('error classification at the boundary', () => {
  it('elasticsearch: 429 throttled, 5xx retryable, 400 permanent, connection refused retryable', () => {
    expect(classifyElasticsearchError({ meta: { statusCode: 429 } }).disposition).toBe('throttled');
    expect(classifyElasticsearchError({ meta: { statusCode: 503 } }).disposition).toBe('retryable');
    expect(classifyElasticsearchError({ meta: { statusCode: 400 } }).disposition).toBe('permanent');
    expect(classifyElasticsearchError({ meta: { statusCode: 401 } }).code).toBe('es_auth');
    expect(classifyElasticsearchError({ name: 'ConnectionError', message: 'connect ECONNREFUSED' }).retryable).toBe(true);
  });

  it('kafka: kafkajs retriable errors retry, auth errors do not', () => {
    expect(classifyKafkaError({ retriable: true, message: 'leader not available' }).retryable).toBe(true);
    expect(classifyKafkaError({ name: 'KafkaJSSASLAuthenticationError', message: 'bad password' }).code).toBe('kafka_auth');
    expect(classifyKafkaError({ type: 'MESSAGE_TOO_LARGE', retriable: false }).retryable).toBe(false);
  });

  it('s3: credentials and missing keys are permanent, SlowDown throttled', () => {
    expect(classifyS3Error({ name: 'InvalidAccessKeyId', $metadata: { httpStatusCode: 403 } }).code).toBe('s3_auth');
    expect(classifyS3Error({ name: 'NoSuchKey', $metadata: { httpStatusCode: 404 } }).retryable).toBe(false);
    expect(classifyS3Error({ name: 'SlowDown', $metadata: { httpStatusCode: 503 } }).disposition).toBe('throttled');
    expect(classifyS3Error({ name: 'PreconditionFailed', $metadata: { httpStatusCode: 412 } }).code).toBe('s3_precondition_failed');
    expect(classifyS3Error(Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' })).retryable).toBe(true);
  });
});
