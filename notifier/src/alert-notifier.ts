import type { Admin, IHeaders, Kafka, KafkaMessage, Producer } from 'kafkajs';
import type { Registry } from 'prom-client';
import {
  BatchContext,
  CancelledError,
  classifyHttpError,
  classifyKafkaError,
  Logger,
  MplpError,
  PartitionConsumer,
  retry,
  AssignedPartition,
} from '../../shared/src';
import { alertKey, parseAlertRecord } from './alert-record';
import type { NotifierSettings } from './config';
import type { NotifierMetrics } from './metrics';
import { AlertmanagerReceiver, Change, Receiver } from './receivers';
import type { AlertStateStore, StateEntry } from './state-store';

/** One alerts partition while it is ours: what was delivered per alert, and the changes being delivered now. */
export interface PartitionAlerts {
  alerts: Map<string, StateEntry>;
  inFlight: Map<string, StateEntry>;
}

interface Refusal {
  message: KafkaMessage;
  err: MplpError;
  receiver: string;
}

/** How long a clean stop lets batches in progress finish (bounded by a third of the shutdown deadline). */
const STOP_GRACE_MS = 5000;

/** Serialises the requests to Alertmanager: a re-send of a firing alert never overtakes its resolve. */
class Mutex {
  private tail: Promise<unknown> = Promise.resolve();
  run<T>(fn: () => Promise<T>): Promise<T> {
    const next = this.tail.then(fn, fn);
    this.tail = next.catch(() => undefined);
    return next;
  }
}

export interface AlertNotifierDeps {
  kafka: Kafka;
  admin: Admin;
  producer: Producer;
  store: AlertStateStore;
  settings: NotifierSettings;
  alertsTopic: string;
  alertmanager?: AlertmanagerReceiver;
  webhooks: Receiver[];
  metrics: NotifierMetrics;
  logger: Logger;
  maxUnsettledAgeMs: number;
  registry: Registry;
}

/**
 * Consumes the alerts topic (PartitionConsumer, one group) and delivers every new state change to
 * Alertmanager and the webhooks, at least once: a batch is settled (its offsets committed) only
 * after every receiver took it or refused it for good (then the DLQ has it) and the state topic
 * holds it. Retryable failures are retried without end while the partition is ours, heartbeating.
 */
export class AlertNotifier {
  readonly consumer: PartitionConsumer<PartitionAlerts>;
  private readonly stopping = new AbortController();
  private readonly amLock = new Mutex();
  private resendTimer?: NodeJS.Timeout;
  private readonly receivers: Receiver[];

  constructor(private readonly d: AlertNotifierDeps) {
    this.receivers = [...(d.alertmanager ? [d.alertmanager] : []), ...d.webhooks];
    this.consumer = new PartitionConsumer<PartitionAlerts>({
      kafka: d.kafka,
      admin: d.admin,
      groupId: d.settings.groupId,
      topics: [d.alertsTopic],
      logger: d.logger,
      maxUnsettledAgeMs: d.maxUnsettledAgeMs,
      registry: d.registry,
      handleBatch: (ctx) => this.handleBatch(ctx),
      onAssigned: async (p) => {
        const alerts = await d.store.load(p.partition);
        setImmediate(() => void this.resend()); // Alertmanager's copies may be near their endsAt after a move or restart
        return { alerts, inFlight: new Map() };
      },
      onRevoked: () => this.noteFiring(),
    });
  }

  get ready(): boolean {
    return this.consumer.ready;
  }
  get failure(): Promise<Error> {
    return this.consumer.failure;
  }

  async start(): Promise<void> {
    await this.consumer.start();
    if (this.d.alertmanager) {
      this.resendTimer = setInterval(() => void this.resend(), this.d.settings.resendIntervalMs);
      this.resendTimer.unref();
    }
  }

  /**
   * Batches in progress get a grace to finish: one whose receivers answer settles in milliseconds,
   * so a clean stop delivers nothing twice. One still retrying when the grace ends stops without a
   * commit; the next owner delivers it from the committed offset. The shutdown deadline's signal
   * ends them too.
   */
  async stop(signal?: AbortSignal): Promise<void> {
    clearInterval(this.resendTimer);
    signal?.addEventListener('abort', () => this.stopping.abort(), { once: true });
    const grace = setTimeout(() => this.stopping.abort(), Math.min(STOP_GRACE_MS, this.d.settings.shutdownTimeoutMs / 3));
    try {
      await this.consumer.stop();
    } finally {
      clearTimeout(grace);
      this.stopping.abort();
    }
  }

  private async handleBatch(ctx: BatchContext<PartitionAlerts>): Promise<void> {
    const p = ctx.partition;
    const last = ctx.messages[ctx.messages.length - 1].offset;
    const slot = p.register(last);
    ctx.handedOut(last);
    const batch = new AbortController();
    const onStop = () => batch.abort();
    this.stopping.signal.addEventListener('abort', onStop, { once: true });
    try {
      const { changes, sources, invalid } = this.newChanges(p, ctx.messages);
      p.state.inFlight = new Map(changes.map((c) => [alertKey(c.record), c]));
      const refused = (await Promise.all(this.receivers.map((r) => this.deliver(r, changes, sources, ctx, batch.signal)))).flat();
      await this.durably(ctx, batch.signal, 'write the DLQ', () => this.deadLetter(p, [...invalid, ...refused]));
      await this.durably(ctx, batch.signal, 'write the state topic', () => this.d.store.write(p.partition, changes));
      for (const c of changes) p.state.alerts.set(alertKey(c.record), c);
      p.state.inFlight = new Map();
      const now = Date.now();
      for (const m of ctx.messages) this.d.metrics.recordToDelivery.observe((now - Number(m.timestamp)) / 1000);
      this.noteFiring();
      this.consumer.settle(slot);
    } catch (err) {
      batch.abort(); // the other receivers' retries stop too
      p.state.inFlight = new Map();
      if (err instanceof CancelledError) return; // the partition moved or we stop: its next owner delivers from the commit
      throw err;
    } finally {
      this.stopping.signal.removeEventListener('abort', onStop);
    }
  }

  /** The batch's changes not delivered before (same id, or older than the last delivered change of the alert), in order. */
  private newChanges(p: AssignedPartition<PartitionAlerts>, messages: KafkaMessage[]) {
    const changes: StateEntry[] = [];
    const sources = new Map<StateEntry, KafkaMessage>();
    const invalid: Refusal[] = [];
    const latest = new Map<string, StateEntry>();
    for (const m of messages) {
      this.d.metrics.records.inc();
      let record;
      try {
        record = parseAlertRecord(m.value);
      } catch (err) {
        invalid.push({ message: m, err: err as MplpError, receiver: 'none' });
        continue;
      }
      const key = alertKey(record);
      const prev = latest.get(key) ?? p.state.alerts.get(key);
      if (prev && (prev.record.id === record.id || Date.parse(record.windowEnd) < Date.parse(prev.record.windowEnd))) {
        this.d.metrics.duplicates.inc();
        continue;
      }
      const entry = { record, startsAt: prev?.record.state === 'firing' ? prev.startsAt : record.windowEnd };
      latest.set(key, entry);
      changes.push(entry);
      sources.set(entry, m);
    }
    return { changes, sources, invalid };
  }

  /** Delivers the changes to one receiver in chunks; returns what it refused for good. */
  private async deliver(
    r: Receiver,
    changes: Change[],
    sources: Map<Change, KafkaMessage>,
    ctx: BatchContext<PartitionAlerts>,
    signal: AbortSignal,
  ): Promise<Refusal[]> {
    const kind = r === this.d.alertmanager ? 'alertmanager' : 'webhook';
    const refused: Refusal[] = [];
    for (let i = 0; i < changes.length; i += r.maxBatch) {
      const chunk = changes.slice(i, i + r.maxBatch);
      const send = () =>
        retry(() => r.send(chunk), {
          attempts: Infinity,
          baseDelayMs: 100,
          maxDelayMs: this.d.settings.retryMaxDelayMs,
          signal,
          classify: (e) => classifyHttpError(e, `deliver to ${r.name}`),
          onRetry: (err, attempt, delayMs) => this.onRetry(ctx, kind, r.name, err, attempt, delayMs),
        });
      try {
        await (kind === 'alertmanager' ? this.amLock.run(send) : send());
        this.d.metrics.delivered.inc({ receiver: kind }, chunk.length);
      } catch (err) {
        if (err instanceof CancelledError || signal.aborted) throw new CancelledError();
        const e = classifyHttpError(err);
        this.d.logger.error(
          { err: e, receiver: r.name, changes: chunk.length },
          'receiver refused alert changes for good; they go to the DLQ',
        );
        for (const c of chunk) refused.push({ message: sources.get(c)!, err: e, receiver: r.name });
      }
    }
    return refused;
  }

  private onRetry(ctx: BatchContext<PartitionAlerts>, kind: string, name: string, err: MplpError, attempt: number, delayMs: number): void {
    this.d.metrics.retries.inc({ receiver: kind, code: err.code });
    // Logged at the first failure and then every 20th, never per attempt.
    if (attempt === 1 || attempt % 20 === 0) this.d.logger.warn({ err, receiver: name, attempt, delayMs }, 'delivery failed; retrying');
    void ctx.heartbeat();
    if (!ctx.active()) throw new CancelledError('the partition is no longer ours');
  }

  /** Kafka writes of a batch: retried like deliveries, while the partition is ours. */
  private durably(ctx: BatchContext<PartitionAlerts>, signal: AbortSignal, what: string, fn: () => Promise<unknown>): Promise<unknown> {
    return retry(fn, {
      attempts: Infinity,
      baseDelayMs: 100,
      maxDelayMs: this.d.settings.retryMaxDelayMs,
      signal,
      classify: (e) => classifyKafkaError(e, what),
      onRetry: (err, attempt, delayMs) => this.onRetry(ctx, 'kafka', what, err, attempt, delayMs),
    });
  }

  private async deadLetter(p: AssignedPartition<PartitionAlerts>, refusals: Refusal[]): Promise<void> {
    if (!refusals.length) return;
    await this.d.producer.send({
      topic: this.d.settings.dlqTopic,
      acks: -1,
      messages: refusals.map(({ message, err, receiver }) => {
        const headers: IHeaders = {
          'mplp-error': err.message,
          'mplp-error-code': err.code,
          'mplp-source': `${p.topic}/${p.partition}/${message.offset}`,
          'mplp-receiver': receiver,
        };
        return { key: message.key, value: message.value, headers };
      }),
    });
    for (const { err, receiver } of refusals)
      this.d.metrics.deadLettered.inc({
        receiver: receiver === 'none' ? 'none' : receiver.startsWith('webhook') ? 'webhook' : 'alertmanager',
        code: err.code,
      });
  }

  /** Sends every firing alert of the partitions owned to Alertmanager again, with a fresh endsAt. */
  async resend(): Promise<void> {
    const am = this.d.alertmanager;
    if (!am || this.stopping.signal.aborted) return;
    const firing: Change[] = [];
    for (const p of this.consumer.assigned(this.d.alertsTopic)) {
      if (!p.state) continue;
      for (const [key, e] of p.state.alerts) if (e.record.state === 'firing' && !p.state.inFlight.has(key)) firing.push(e);
    }
    if (!firing.length) return;
    try {
      for (let i = 0; i < firing.length; i += am.maxBatch) {
        const chunk = firing.slice(i, i + am.maxBatch);
        await this.amLock.run(() =>
          retry(() => am.send(chunk), {
            attempts: 3,
            baseDelayMs: 200,
            maxDelayMs: this.d.settings.retryMaxDelayMs,
            signal: this.stopping.signal,
            classify: (e) => classifyHttpError(e, 're-send firing alerts to Alertmanager'),
          }),
        );
      }
      this.d.metrics.resends.inc({ result: 'ok' }, firing.length);
    } catch (err) {
      if (err instanceof CancelledError) return;
      this.d.metrics.resends.inc({ result: 'failed' }, firing.length);
      this.d.logger.warn({ err, firing: firing.length }, 're-sending firing alerts to Alertmanager failed; the next interval tries again');
    }
  }

  private noteFiring(): void {
    let n = 0;
    for (const p of this.consumer.assigned(this.d.alertsTopic))
      if (p.state) for (const e of p.state.alerts.values()) if (e.record.state === 'firing') n++;
    this.d.metrics.firing.set(n);
  }
}
