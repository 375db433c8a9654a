import { waitFor } from '../testing';

// kafkajs' per-connection request queue, as fixed by scripts/kafkajs/requestQueue.js.
const RequestQueue = require('kafkajs/src/network/requestQueue') as new (opts: object) => Queue;

interface Queue {
  throttleCheckTimeoutId: NodeJS.Timeout | null;
  scheduleCheckPendingRequests(): void;
  pending: unknown[];
  push(r: object): void;
  fulfillRequest(r: { correlationId: number; payload: Buffer; size: number }): void;
  maybeThrottle(ms: number): void;
  destroy(): void;
}

const logger = { debug: () => {}, info: () => {}, warn: () => {}, error: () => {} };

function queue(maxInFlightRequests: number | null = null): Queue {
  return new RequestQueue({
    maxInFlightRequests,
    requestTimeout: 30_000,
    enforceRequestTimeout: false,
    clientId: 't',
    broker: 'b',
    logger,
  });
}

function request(correlationId: number, sent: number[]) {
  return {
    entry: { correlationId, apiKey: 1, apiName: 'Fetch', apiVersion: 11, resolve: () => {}, reject: () => {} },
    expectResponse: true,
    sendRequest: () => sent.push(correlationId),
  };
}

describe("kafkajs' request queue", () => {
  it('arms no timer while nothing is pending (kafkajs 2.2.4 ran a 1 ms timer loop per connection, idle or not)', () => {
    const q = queue();
    const sent: number[] = [];
    q.push(request(1, sent));
    q.fulfillRequest({ correlationId: 1, payload: Buffer.alloc(0), size: 0 });
    expect(sent).toEqual([1]);
    expect(q.pending).toHaveLength(0);
    expect(q.throttleCheckTimeoutId).toBeNull();
  });

  it('still sends a request that had to wait: behind a client-side throttle, and behind the in-flight limit', async () => {
    const throttled = queue();
    const sent: number[] = [];
    throttled.maybeThrottle(30);
    throttled.push(request(1, sent));
    expect(sent).toEqual([]);
    expect(throttled.throttleCheckTimeoutId).not.toBeNull();
    await waitFor('the throttled request sent', () => sent.includes(1), { timeoutMs: 5000 });
    expect(throttled.throttleCheckTimeoutId).toBeNull();

    const limited = queue(1);
    limited.push(request(2, sent));
    limited.push(request(3, sent));
    expect(sent).toEqual([1, 2]);
    limited.fulfillRequest({ correlationId: 2, payload: Buffer.alloc(0), size: 0 });
    await waitFor('the request behind the in-flight limit sent', () => sent.includes(3), { timeoutMs: 5000 });
  });
});
