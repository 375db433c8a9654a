import { ExportResult, ExportResultCode } from '@opentelemetry/core';
import { ProtobufTraceSerializer } from '@opentelemetry/otlp-transformer';
import type { ReadableSpan, SpanExporter } from '@opentelemetry/sdk-trace-base';
import { Kafka, KafkaConfig, Partitioners, Producer } from 'kafkajs';

export interface KafkaSpanExporterOptions {
  /** A kafkajs client, or the config to make one (brokers, ssl, sasl, clientId …). */
  kafka: Kafka | KafkaConfig;
  /** Topic the spans go to; the mplp pipeline reads `mplp.spans.raw`. */
  topic?: string;
  /** An export not acknowledged by Kafka within this many ms fails (the BatchSpanProcessor then drops the batch). */
  timeoutMillis?: number;
}

/**
 * An OpenTelemetry `SpanExporter` that writes spans straight to Kafka, for a BatchSpanProcessor.
 * Each export becomes one record per trace: the spans of that trace serialized by the SDK's own
 * OTLP protobuf serializer as an ExportTraceServiceRequest, keyed by the trace id (32 hex digits)
 * so a trace stays on one partition, with `content-type: application/x-protobuf`. The producer is
 * idempotent with acks=all: the result callback reports SUCCESS only once every record was
 * acknowledged by all in-sync replicas, and FAILED with the error otherwise.
 */
export class KafkaSpanExporter implements SpanExporter {
  private readonly kafka: Kafka;
  private readonly topic: string;
  private readonly timeoutMillis: number;
  private producer?: Promise<Producer>;
  private readonly pending = new Set<Promise<void>>();
  private stopped = false;

  constructor(opts: KafkaSpanExporterOptions) {
    this.kafka = opts.kafka instanceof Kafka ? opts.kafka : new Kafka(opts.kafka);
    this.topic = opts.topic ?? 'mplp.spans.raw';
    this.timeoutMillis = opts.timeoutMillis ?? 30_000;
  }

  export(spans: ReadableSpan[], resultCallback: (result: ExportResult) => void): void {
    if (this.stopped) {
      resultCallback({ code: ExportResultCode.FAILED, error: new Error('KafkaSpanExporter is shut down') });
      return;
    }
    const sent = this.send(spans).then(
      () => resultCallback({ code: ExportResultCode.SUCCESS }),
      (error: Error) => resultCallback({ code: ExportResultCode.FAILED, error }),
    );
    this.pending.add(sent);
    void sent.finally(() => this.pending.delete(sent));
  }

  /** Resolves once every export started so far has been acknowledged or has failed. */
  async forceFlush(): Promise<void> {
    await Promise.all([...this.pending]);
  }

  /** Flushes, then disconnects; later exports fail. */
  async shutdown(): Promise<void> {
    this.stopped = true;
    await this.forceFlush();
    const p = this.producer;
    this.producer = undefined;
    if (p)
      await p.then(
        (x) => x.disconnect(),
        () => undefined,
      );
  }

  private async send(spans: ReadableSpan[]): Promise<void> {
    const messages = recordsByTrace(spans);
    if (messages.length === 0) return;
    const producer = await this.connected();
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(new Error(`Kafka did not acknowledge the export within ${this.timeoutMillis} ms`)),
        this.timeoutMillis,
      );
    });
    try {
      await Promise.race([producer.send({ topic: this.topic, acks: -1, messages }), deadline]);
    } catch (err) {
      this.discardProducer();
      throw err;
    } finally {
      clearTimeout(timer);
    }
  }

  private connected(): Promise<Producer> {
    if (!this.producer) {
      const producer = this.kafka.producer({
        idempotent: true,
        maxInFlightRequests: 1,
        allowAutoTopicCreation: false,
        createPartitioner: Partitioners.DefaultPartitioner,
      });
      const connecting = producer.connect().then(() => producer);
      this.producer = connecting;
      connecting.catch(() => {
        if (this.producer === connecting) this.producer = undefined;
      });
    }
    return this.producer;
  }

  /**
   * After a failed export the idempotent session is replaced: a batch whose acknowledgement was
   * lost must not make the broker drop the next one as its duplicate.
   */
  private discardProducer(): void {
    const p = this.producer;
    this.producer = undefined;
    if (p) void p.then((x) => x.disconnect()).catch(() => undefined);
  }
}

/** One Kafka message per trace id: its spans as an OTLP protobuf ExportTraceServiceRequest. */
export function recordsByTrace(spans: ReadableSpan[]): { key: string; value: Buffer; headers: Record<string, string> }[] {
  const byTrace = new Map<string, ReadableSpan[]>();
  for (const span of spans) {
    const id = span.spanContext().traceId;
    let list = byTrace.get(id);
    if (!list) byTrace.set(id, (list = []));
    list.push(span);
  }
  const out: { key: string; value: Buffer; headers: Record<string, string> }[] = [];
  for (const [traceId, list] of byTrace) {
    const bytes = ProtobufTraceSerializer.serializeRequest(list);
    if (!bytes) throw new Error(`the OTLP serializer returned nothing for trace ${traceId}`);
    out.push({
      key: traceId,
      value: Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength),
      headers: { 'content-type': 'application/x-protobuf' },
    });
  }
  return out;
}
