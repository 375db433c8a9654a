import net from 'node:net';
import type { ISocketFactory } from 'kafkajs';
import type { TestContext } from './index';

/** A port free on 127.0.0.1 right now (for a child process told which port to listen on). */
export async function freePort(): Promise<number> {
  const s = net.createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', () => r()));
  const { port } = s.address() as net.AddressInfo;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

export interface FaultyProxy {
  /** The proxy's port on 127.0.0.1, and an http URL to it. */
  port: number;
  url: string;
  /** refused: connections reset while down. */
  state: { down: boolean; stalled: boolean; refused: number };
  /** A network cut: every open connection and every new one is reset. */
  cut(): void;
  /** A server that accepts and never answers: connections are kept, bytes are swallowed both ways. */
  stall(): void;
  /** Back to normal; connections that lived through a stall lost bytes, so they are reset. */
  restore(): void;
}

/**
 * A TCP proxy on 127.0.0.1 in front of host:port (the real Kafka, Elasticsearch or S3 server)
 * that can cut or stall the network for the clients routed through it, while the shared server
 * other tests use keeps running. Closed at cleanup.
 */
export async function faultyProxy(ctx: TestContext, host: string, port: number, opts: { stalled?: boolean } = {}): Promise<FaultyProxy> {
  const state = { down: false, stalled: !!opts.stalled, refused: 0 };
  const open = new Set<net.Socket>();
  const server = net.createServer((client) => {
    if (state.down) {
      state.refused++;
      client.resetAndDestroy();
      return;
    }
    const upstream = net.connect(port, host);
    open.add(client);
    open.add(upstream);
    const close = () => {
      client.destroy();
      upstream.destroy();
      open.delete(client);
      open.delete(upstream);
    };
    client.on('error', close);
    upstream.on('error', close);
    client.on('close', close);
    // While stalled, the server closing its side is not passed on either: the client only waits.
    upstream.on('close', () => (state.stalled ? upstream.destroy() : close()));
    client.on('data', (d) => {
      if (!state.stalled) upstream.write(d);
    });
    upstream.on('data', (d) => {
      if (!state.stalled) client.write(d);
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  ctx.defer(
    () =>
      new Promise<void>((r) => {
        for (const s of open) s.destroy();
        server.close(() => r());
      }),
  );
  const proxyPort = (server.address() as net.AddressInfo).port;
  return {
    port: proxyPort,
    url: `http://127.0.0.1:${proxyPort}`,
    state,
    cut() {
      state.down = true;
      for (const s of open) s.resetAndDestroy();
      open.clear();
    },
    stall() {
      state.stalled = true;
    },
    restore() {
      if (state.stalled) {
        for (const s of open) s.resetAndDestroy();
        open.clear();
      }
      state.down = false;
      state.stalled = false;
    },
  };
}

/**
 * A faultyProxy in front of the shared Kafka, and a kafkajs socket factory that sends every
 * connection through it. The broker advertises its own address in its metadata, so a proxy only
 * on the bootstrap address would be bypassed after the first request; routing the sockets
 * themselves makes `cut()` an outage for this client only, while the shared Kafka keeps running.
 */
export async function kafkaProxy(ctx: TestContext): Promise<FaultyProxy & { socketFactory: ISocketFactory }> {
  const [host, port] = ctx.cfg.kafkaBrokers[0].split(':');
  const proxy = await faultyProxy(ctx, host, Number(port));
  const socketFactory: ISocketFactory = ({ onConnect }) => {
    const socket = net.connect({ host: '127.0.0.1', port: proxy.port }, onConnect);
    socket.setKeepAlive(true, 60_000);
    return socket;
  };
  return { ...proxy, socketFactory };
}
