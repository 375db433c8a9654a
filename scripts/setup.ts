/**
 * One-shot, idempotent: creates the pipeline's Kafka topics, installs the Elasticsearch index
 * templates and creates the S3 bucket. Run by `npm start` and `.ci/run` after the cluster is up.
 */
import { CreateBucketCommand, HeadBucketCommand } from '@aws-sdk/client-s3';
import {
  ConfigError,
  createElasticsearch,
  createKafka,
  createLogger,
  createS3,
  ensureIndexTemplates,
  ensureTopics,
  loadProcessConfig,
  pipelineTopics,
  retry,
  classifyKafkaError,
  classifyElasticsearchError,
  classifyS3Error,
  SharedConfig,
} from '../shared/src';
import type { S3Client } from '@aws-sdk/client-s3';

export async function ensureBucket(s3: S3Client, bucket: string): Promise<boolean> {
  try {
    await s3.send(new HeadBucketCommand({ Bucket: bucket }));
    return false;
  } catch (err) {
    const status = (err as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode;
    if (status !== 404) throw err;
  }
  try {
    await s3.send(new CreateBucketCommand({ Bucket: bucket }));
  } catch (err) {
    const name = (err as { name?: string }).name;
    if (name !== 'BucketAlreadyOwnedByYou' && name !== 'BucketAlreadyExists') throw err;
  }
  return true;
}

export async function setupPipeline(cfg: SharedConfig, log = createLogger({ name: 'setup', level: cfg.logLevel })): Promise<void> {
  const opts = { attempts: 10, baseDelayMs: 250, maxDelayMs: 3000 };
  const kafka = createKafka(cfg, 'setup', log);
  const admin = kafka.admin();
  try {
    const created = await retry(
      async () => {
        await admin.connect();
        return ensureTopics(admin, pipelineTopics(cfg));
      },
      { ...opts, classify: (e) => classifyKafkaError(e, 'create topics') },
    );
    log.info({ created }, 'kafka topics ready');
  } finally {
    await admin.disconnect();
  }
  const es = createElasticsearch(cfg);
  try {
    const templates = await retry(
      () => ensureIndexTemplates(es, cfg.indexPrefix, { shards: cfg.indexShards, replicas: cfg.indexReplicas }),
      { ...opts, classify: (e) => classifyElasticsearchError(e) },
    );
    log.info({ templates }, 'elasticsearch index templates installed');
  } finally {
    await es.close();
  }
  const s3 = createS3(cfg);
  try {
    const created = await retry(() => ensureBucket(s3, cfg.s3Bucket), { ...opts, classify: (e) => classifyS3Error(e, 'create bucket') });
    log.info({ bucket: cfg.s3Bucket, created }, 's3 bucket ready');
  } finally {
    s3.destroy();
  }
}

if (require.main === module) {
  let cfg: SharedConfig;
  try {
    cfg = loadProcessConfig(process.env, 'MPLP_SETUP_', {}).shared;
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`setup: invalid setting ${err.message}\n`);
      process.exit(2);
    }
    throw err;
  }
  setupPipeline(cfg).then(
    () => process.exit(0),
    (err) => {
      process.stderr.write(`setup: ${(err as Error).message}\n`);
      process.exit(1);
    },
  );
}
