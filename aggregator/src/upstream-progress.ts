import type { Admin } from 'kafkajs';
import type { Logger } from '../../shared/src';

/** Per raw partition: the upstream group's committed offset (-1: none) and the partition's bounds. */
export interface RawPartitionPosition {
  committed: bigint;
  low: bigint;
  high: bigint;
}

/**
 * Whether the upstream group still has input to process: on some raw partition, records between
 * where it resumes (its commit, or the log start when it has none or the commit fell out of
 * retention) and the end of the log. A group that never committed on a non-empty topic is pending.
 */
export function upstreamPending(parts: RawPartitionPosition[]): boolean {
  return parts.some(({ committed, low, high }) => high > (committed > low ? committed : low));
}

const WARN_EVERY_MS = 60_000;

/**
 * Answers "does the producer side of the validated topic (ingest's consumer group on the raw
 * topic) have input pending?" for the source stage's idleness rule. One answer per `cacheMs`
 * (the heartbeat interval): at most three admin requests (metadata, list offsets, offset fetch)
 * per heartbeat, whatever the number of partitions. No group configured: never pending.
 */
export class UpstreamProgress {
  private cached?: { at: number; pending: boolean };
  private lastWarnAt = Number.NEGATIVE_INFINITY;

  constructor(private readonly d: { admin: Admin; groupId: string; rawTopic: string; cacheMs: number; logger: Logger }) {}

  async pending(now: number): Promise<boolean> {
    if (!this.d.groupId) return false;
    if (this.cached && now - this.cached.at < this.d.cacheMs) return this.cached.pending;
    const pending = await this.check();
    this.cached = { at: now, pending };
    return pending;
  }

  private async check(): Promise<boolean> {
    const { admin, groupId, rawTopic } = this.d;
    try {
      // No raw topic: nothing can be pending upstream (producers write the validated topic directly).
      if (!(await admin.listTopics()).includes(rawTopic)) {
        this.warn(
          { rawTopic },
          'raw topic does not exist: idleness ignores the upstream group (set MPLP_AGGREGATOR_UPSTREAM_GROUP empty if producers write the validated topic directly)',
        );
        return false;
      }
      // Commits before log ends: a record arriving between the two reads counts as pending, never as drained.
      const [group] = await admin.fetchOffsets({ groupId, topics: [rawTopic] });
      const ends = await admin.fetchTopicOffsets(rawTopic);
      const committed = new Map(group?.partitions.map((p) => [p.partition, BigInt(p.offset)]) ?? []);
      return upstreamPending(ends.map((e) => ({ committed: committed.get(e.partition) ?? -1n, low: BigInt(e.low), high: BigInt(e.high) })));
    } catch (err) {
      // Unknown means pending: windows wait (watermark lag shows it) rather than close early.
      this.warn(
        { err, groupId, rawTopic },
        "cannot read the upstream group's lag; partitions do not advance by idleness until it can be read",
      );
      return true;
    }
  }

  private warn(obj: object, msg: string): void {
    const now = Date.now();
    if (now - this.lastWarnAt < WARN_EVERY_MS) return;
    this.lastWarnAt = now;
    this.d.logger.warn(obj, msg);
  }
}
