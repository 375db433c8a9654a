import { SendGate } from '../src/ingest-worker';

/** A send that finishes when the test says so. */
function pending(): { promise: Promise<void>; finish: () => void } {
  let finish!: () => void;
  const promise = new Promise<void>((r) => (finish = r));
  return { promise, finish };
}

const settle = () => new Promise((r) => setImmediate(r));

describe('SendGate (record-by-record resends after a refusal go alone)', () => {
  it('an exclusive send waits for the shared sends in flight and holds new ones until it is done', async () => {
    const gate = new SendGate();
    const order: string[] = [];
    const first = pending();
    const a = gate.shared(async () => {
      order.push('a starts');
      await first.promise;
      order.push('a ends');
    });
    const resend = pending();
    const x = gate.exclusively(async () => {
      order.push('x starts');
      await resend.promise;
      order.push('x ends');
    });
    const b = gate.shared(async () => {
      order.push('b runs');
    });
    await settle();
    expect(order).toEqual(['a starts']);
    first.finish();
    await settle();
    expect(order).toEqual(['a starts', 'a ends', 'x starts']);
    resend.finish();
    await Promise.all([a, x, b]);
    expect(order).toEqual(['a starts', 'a ends', 'x starts', 'x ends', 'b runs']);
  });

  it('two exclusive sends run one after the other, and a failing one releases the gate', async () => {
    const gate = new SendGate();
    const order: string[] = [];
    const x = gate.exclusively(async () => {
      order.push('x');
      await settle();
      throw new Error('refused');
    });
    const y = gate.exclusively(async () => {
      order.push('y');
    });
    await expect(x).rejects.toThrow('refused');
    await y;
    await gate.shared(async () => void order.push('shared'));
    expect(order).toEqual(['x', 'y', 'shared']);
  });
});
