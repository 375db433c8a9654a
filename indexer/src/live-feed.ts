import { randomBytes } from 'node:crypto';
import type http from 'node:http';
import type { Consumer, Kafka } from 'kafkajs';
import { Counter, Gauge, Registry } from 'prom-client';
import type { Logger } from '../../shared/src';

export interface LiveFeedOptions {
  metricsTopic: string;
  alertsTopic: string;
  /** Browsers connected at once; one more is answered 503. */
  maxClients: number;
  /** Bytes queued for one slow browser before it is dropped (it reconnects and reloads). */
  maxQueuedBytes: number;
}

/**
 * Window records (mplp.metrics) and alert changes (mplp.alerts) pushed to browsers as
 * server-sent events the moment they are read. The consumer's group is unique to this process
 * and never commits: a live view only wants what arrives from now on, and a restart loses
 * nothing a browser cannot reload from Elasticsearch.
 */
export class LiveFeed {
  private consumer?: Consumer;
  private readonly clients = new Set<http.ServerResponse>();
  private keepAlive?: NodeJS.Timeout;
  readonly groupId = `mplp-ui-live-${randomBytes(6).toString('hex')}`;
  /** In its group with partitions assigned: records produced from now on reach the browsers. */
  private joined = false;

  private readonly dropped?: Counter;

  constructor(
    private readonly kafka: Kafka,
    private readonly opts: LiveFeedOptions,
    private readonly logger?: Logger,
    registry?: Registry,
  ) {
    if (!registry) return;
    const clients = this.clients;
    new Gauge({
      name: 'mplp_indexer_ui_live_clients',
      help: 'UI pages receiving live updates',
      registers: [registry],
      collect() {
        this.set(clients.size);
      },
    });
    this.dropped = new Counter({
      name: 'mplp_indexer_ui_live_dropped_total',
      help: 'live UI streams closed because the browser read too slowly',
      registers: [registry],
    });
  }

  get clientCount(): number {
    return this.clients.size;
  }

  async start(): Promise<void> {
    const consumer = this.kafka.consumer({ groupId: this.groupId, maxWaitTimeInMs: 200, sessionTimeout: 30_000 });
    this.consumer = consumer;
    consumer.on(consumer.events.GROUP_JOIN, () => this.setJoined(true));
    consumer.on(consumer.events.CRASH, () => this.setJoined(false));
    consumer.on(consumer.events.STOP, () => this.setJoined(false));
    await consumer.connect();
    await consumer.subscribe({ topics: [this.opts.metricsTopic, this.opts.alertsTopic], fromBeginning: false });
    await consumer.run({
      autoCommit: false,
      eachMessage: async ({ topic, message }) => {
        if (!message.value || !this.clients.size) return;
        const event = topic === this.opts.metricsTopic ? 'metric' : 'alert';
        // The record as produced (JSON), wrapped with the moment it reached this server, so the
        // page can measure record → screen; no parse and re-serialize per record.
        this.broadcast(event, `{"receivedAt":${Date.now()},"record":${message.value.toString('utf8')}}`);
      },
    });
    this.keepAlive = setInterval(() => this.broadcastRaw(': keep-alive\n\n'), 15_000);
    this.keepAlive.unref();
  }

  /** Ends every stream and leaves the group (nothing to commit). */
  async stop(): Promise<void> {
    if (this.keepAlive) clearInterval(this.keepAlive);
    for (const c of this.clients) c.end();
    this.clients.clear();
    await this.consumer?.disconnect().catch((err) => this.logger?.warn({ err }, 'live feed disconnect failed'));
  }

  /** Takes over an HTTP response as an event stream. */
  attach(req: http.IncomingMessage, res: http.ServerResponse): void {
    if (this.clients.size >= this.opts.maxClients) {
      res.writeHead(503, { 'content-type': 'text/plain', 'retry-after': '10' });
      res.end(`more than ${this.opts.maxClients} live views at once (MPLP_INDEXER_UI_MAX_LIVE_CLIENTS)\n`);
      return;
    }
    res.writeHead(200, {
      'content-type': 'text/event-stream',
      'cache-control': 'no-cache',
      connection: 'keep-alive',
      'x-accel-buffering': 'no',
    });
    res.write(`retry: 2000\n\nevent: status\ndata: {"live":${this.joined}}\n\n`);
    res.socket?.setNoDelay(true);
    this.clients.add(res);
    const drop = () => this.clients.delete(res);
    req.on('close', drop);
    res.on('error', drop);
  }

  private setJoined(joined: boolean): void {
    if (joined === this.joined) return;
    this.joined = joined;
    this.broadcast('status', `{"live":${joined}}`);
  }

  private broadcast(event: string, data: string): void {
    this.broadcastRaw(`event: ${event}\ndata: ${data}\n\n`);
  }

  private broadcastRaw(chunk: string): void {
    for (const c of this.clients) {
      if (c.writableLength > this.opts.maxQueuedBytes) {
        this.logger?.warn({ queued: c.writableLength }, 'live view too slow, dropped');
        this.dropped?.inc();
        this.clients.delete(c);
        c.destroy();
        continue;
      }
      c.write(chunk);
    }
  }
}
