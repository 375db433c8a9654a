import { S3Client, S3ClientConfig } from '@aws-sdk/client-s3';
import type { SharedConfig } from './settings';

type S3Settings = Pick<
  SharedConfig,
  's3Endpoint' | 's3Region' | 's3AccessKeyId' | 's3SecretAccessKey' | 's3ForcePathStyle' | 's3Checksums'
>;

/**
 * The one way every process and test makes an S3 client. The SDK's retries stay on (3 attempts)
 * for single requests; callers wrap whole operations in shared/retry.
 */
// The SDK warns on every start that releases after January 2027 will need Node 22. Node 20 is
// this project's runtime and package-lock pins the SDK, so the warning only adds noise to logs.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';

export function createS3(cfg: S3Settings, overrides: Partial<S3ClientConfig> = {}): S3Client {
  const conf: S3ClientConfig = {
    region: cfg.s3Region,
    forcePathStyle: cfg.s3ForcePathStyle,
    requestChecksumCalculation: cfg.s3Checksums === 'when_supported' ? 'WHEN_SUPPORTED' : 'WHEN_REQUIRED',
    responseChecksumValidation: cfg.s3Checksums === 'when_supported' ? 'WHEN_SUPPORTED' : 'WHEN_REQUIRED',
    ...overrides,
  };
  if (cfg.s3Endpoint) conf.endpoint = cfg.s3Endpoint;
  if (cfg.s3AccessKeyId) conf.credentials = { accessKeyId: cfg.s3AccessKeyId, secretAccessKey: cfg.s3SecretAccessKey };
  return new S3Client(conf);
}
