/**
 * kafkajs sends each request at the highest version it implements, capped by the broker's
 * maximum from ApiVersions but never checked against the broker's minimum. Kafka 4.0 raised the
 * minimums (KIP-896); a release that raises one past what kafkajs speaks would make that request
 * fail on the wire. This asks the real broker, so the suite names such a release instead of
 * failing somewhere deep in a worker.
 */
import { testConfig } from '../testing';

// kafkajs does not export its broker connection; its sources are the documented way in (2.x is frozen).
const Broker = require('kafkajs/src/broker');
const ConnectionPool = require('kafkajs/src/network/connectionPool');
const socketFactory = require('kafkajs/src/network/socketFactory');
const { requests } = require('kafkajs/src/protocol/requests');
const apiKeys: Record<string, number> = require('kafkajs/src/protocol/requests/apiKeys');
const { createLogger, LEVELS } = require('kafkajs/src/loggers');

type VersionRange = { minVersion: number; maxVersion: number };

describe('Kafka protocol versions (real broker)', () => {
  it('serves every request kafkajs implements at the version kafkajs sends', async () => {
    const [host, port] = testConfig().kafkaBrokers[0].split(':');
    const logger = createLogger({ level: LEVELS.NOTHING, logCreator: () => () => undefined });
    const broker = new Broker({
      connectionPool: new ConnectionPool({
        host,
        port: Number(port),
        logger,
        socketFactory: socketFactory(),
        connectionTimeout: 5000,
        requestTimeout: 10_000,
      }),
      logger,
    });
    await broker.connect();
    try {
      const served = broker.versions as Record<number, VersionRange | undefined>;
      const refused: string[] = [];
      let checked = 0;
      for (const [name, key] of Object.entries(apiKeys)) {
        const implemented = ((requests[name]?.versions ?? []) as string[]).map(Number);
        if (implemented.length === 0) continue;
        const range = served[key];
        const sent = range ? Math.min(Math.max(...implemented), range.maxVersion) : -1;
        checked++;
        if (!range || sent < range.minVersion || !implemented.includes(sent)) {
          refused.push(
            `${name}: kafkajs v${Math.min(...implemented)}-${Math.max(...implemented)}, broker ${range ? `v${range.minVersion}-${range.maxVersion}` : 'none'}`,
          );
        }
      }
      expect(checked).toBeGreaterThan(30);
      expect(refused).toEqual([]);
    } finally {
      await broker.disconnect();
    }
  });
});
