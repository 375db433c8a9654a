import { ConfigResourceTypes } from 'kafkajs';
import type { Kafka } from 'kafkajs';
import { ConfigError } from './errors';
import type { Logger } from './logger';

/** A size setting that must not exceed what the topics it writes to accept in one record. */
export interface RecordSizeSetting {
  /** The MPLP_* variable, named in the error. */
  name: string;
  value: number;
}

/**
 * At start, a record-size setting against the max.message.bytes of the topics the process writes
 * to: records between the two would be refused by the broker, so a setting above a topic's limit
 * stops the process with a ConfigError naming it. Where the topic configuration cannot be read (no
 * DescribeConfigs permission) this is logged and the process goes on.
 */
export async function checkTopicLimits(kafka: Kafka, topics: string[], setting: RecordSizeSetting, logger: Logger): Promise<void> {
  const limits = await readMaxMessageBytes(kafka, topics).catch((err: unknown) => {
    logger.warn({ err, topics }, `could not read max.message.bytes of the topics; ${setting.name} is not checked against them`);
    return undefined;
  });
  for (const [topic, limit] of limits ?? []) {
    if (Number.isFinite(limit) && limit < setting.value) {
      throw new ConfigError(
        setting.name,
        `${setting.value} is above max.message.bytes of topic ${topic} (${limit}); set it to at most ${limit}`,
      );
    }
  }
}

async function readMaxMessageBytes(kafka: Kafka, topics: string[]): Promise<Map<string, number>> {
  const admin = kafka.admin();
  try {
    await admin.connect();
    const res = await admin.describeConfigs({
      includeSynonyms: false,
      resources: topics.map((name) => ({ type: ConfigResourceTypes.TOPIC, name, configNames: ['max.message.bytes'] })),
    });
    return new Map(
      res.resources.flatMap((r) =>
        r.configEntries.filter((e) => e.configName === 'max.message.bytes').map((e) => [r.resourceName, Number(e.configValue)] as const),
      ),
    );
  } finally {
    await admin.disconnect().catch(() => undefined);
  }
}
