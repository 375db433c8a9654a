import { ByteBudget } from '../src';

describe('ByteBudget', () => {
  it('holds waiters while full, wakes them when bytes are given back, and times a wait out', async () => {
    const seen: number[] = [];
    const b = new ByteBudget(100, (used) => seen.push(used));
    expect(await b.waitForRoom()).toBe(true);
    b.take(100);
    expect(b.full).toBe(true);
    expect(await b.waitForRoom(10)).toBe(false);
    const waiting = b.waitForRoom();
    b.give(1);
    expect(await waiting).toBe(true);
    expect(seen).toEqual([100, 99]);
  });

  it('once closed, releases every waiter and never holds one again', async () => {
    const b = new ByteBudget(10);
    b.take(50);
    const waiting = [b.waitForRoom(), b.waitForRoom(60_000)];
    b.close();
    expect(await Promise.all(waiting)).toEqual([true, true]);
    b.take(1000);
    expect(b.full).toBe(false);
    expect(await b.waitForRoom()).toBe(true);
  });
});
