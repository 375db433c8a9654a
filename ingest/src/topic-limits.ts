import { ConfigResourceTypes } from 'kafkajs';
import type { Kafka } from 'kafkajs';
import { ConfigError, Logger, SharedConfig } from '../../shared/src';
import type { IngestSettings } from './config';

/**
 * At start, the output topics' max.message.bytes against MPLP_INGEST_MAX_RECORD_BYTES: records
 * between the two would be refused by the broker and end in the DLQ as references, so a setting
 * above a topic's limit stops the process, naming the setting. Where the topic configuration
 * cannot be read (no DescribeConfigs permission) this is logged and the process goes on.
 */
export async function checkTopicLimits(kafka: Kafka, shared: SharedConfig, settings: IngestSettings, logger: Logger): Promise<void> {
  const admin = kafka.admin();
  const topics = [shared.topicValidated, shared.topicDlq];
  let limits: Map<string, number>;
  try {
    await admin.connect();
    const res = await admin.describeConfigs({
      includeSynonyms: false,
      resources: topics.map((name) => ({ type: ConfigResourceTypes.TOPIC, name, configNames: ['max.message.bytes'] })),
    });
    limits = new Map(
      res.resources.flatMap((r) =>
        r.configEntries.filter((e) => e.configName === 'max.message.bytes').map((e) => [r.resourceName, Number(e.configValue)] as const),
      ),
    );
  } catch (err) {
    logger.warn(
      { err, topics },
      'could not read max.message.bytes of the output topics; MPLP_INGEST_MAX_RECORD_BYTES is not checked against them',
    );
    return;
  } finally {
    await admin.disconnect().catch(() => undefined);
  }
  for (const [topic, limit] of limits) {
    if (Number.isFinite(limit) && limit < settings.maxRecordBytes) {
      throw new ConfigError(
        'MPLP_INGEST_MAX_RECORD_BYTES',
        `${settings.maxRecordBytes} is above max.message.bytes of topic ${topic} (${limit}); set it to at most ${limit}`,
      );
    }
  }
}
