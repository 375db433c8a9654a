import { GLOBAL_OVERFLOW_KEY, SeriesCap } from '../src/series-cap';
import { seriesKey, SeriesId } from '../src/partial';

const s = (service: string, operation: string): [string, SeriesId] => {
  const id = { service, operation, kind: 'SERVER' };
  return [seriesKey(id), id];
};

describe('series cap', () => {
  it('admits series up to the cap, then folds new ones into one overflow series per service', () => {
    const cap = new SeriesCap(2, 60_000);
    expect(cap.admit(...s('a', 'x'), 0)).toMatchObject({ key: 'a|x|SERVER', overflow: false });
    expect(cap.admit(...s('b', 'y'), 0)).toMatchObject({ key: 'b|y|SERVER', overflow: false });
    expect(cap.admit(...s('a', 'z'), 0)).toMatchObject({
      key: 'a|__overflow__|INTERNAL',
      overflow: 'service',
      series: { service: 'a', operation: '__overflow__' },
    });
    expect(cap.admit(...s('a', 'w'), 0)).toMatchObject({ key: 'a|__overflow__|INTERNAL', overflow: 'service' });
    expect(cap.admit(...s('c', 'q'), 0)).toMatchObject({ key: 'c|__overflow__|INTERNAL', overflow: 'service' });
    // Series admitted before the cap filled keep their own key.
    expect(cap.admit(...s('b', 'y'), 0)).toMatchObject({ key: 'b|y|SERVER', overflow: false });
    // Bounded: the two admitted plus one overflow series per service.
    expect(cap.size).toBe(4);
  });

  it('expires series without spans for the expiry, which frees their place under the cap', () => {
    const cap = new SeriesCap(2, 10_000);
    cap.admit(...s('a', 'x'), 0);
    cap.admit(...s('a', 'y'), 5_000);
    expect(cap.admit(...s('a', 'z'), 6_000).overflow).toBe('service');
    expect(cap.expire(10_000)).toBe(0); // nothing older than 10 s yet
    cap.admit(...s('a', 'y'), 10_500); // seen again: stays live
    expect(cap.expire(10_001 + 1)).toBe(1); // a|x (last 0) goes; a|y stays
    expect(cap.expire(16_001 + 1)).toBe(1); // the overflow series (last 6 000) goes
    expect(cap.size).toBe(1);
    expect(cap.admit(...s('a', 'z'), 17_000)).toMatchObject({ key: 'a|z|SERVER', overflow: false });
  });

  it('past the overflow-series cap folds new services into one global overflow series: 100k services stay within the caps', () => {
    const cap = new SeriesCap(10, 60_000, 5);
    const where = new Map<string, number>();
    for (let i = 0; i < 100_000; i++) {
      const r = cap.admit(...s(`svc-${i}`, 'op'), 0);
      where.set(String(r.overflow), (where.get(String(r.overflow)) ?? 0) + 1);
    }
    expect(cap.size).toBe(10 + 5 + 1);
    expect(cap.overflowSize).toBe(5);
    expect(Object.fromEntries(where)).toEqual({ false: 10, service: 5, global: 100_000 - 15 });
    // A service that already has its overflow series keeps it; a new one goes to the global series.
    expect(cap.admit(...s('svc-12', 'other'), 1)).toMatchObject({ key: 'svc-12|__overflow__|INTERNAL', overflow: 'service' });
    expect(cap.admit(...s('new', 'op'), 1)).toMatchObject({
      key: GLOBAL_OVERFLOW_KEY,
      overflow: 'global',
      series: { service: '__overflow__', operation: '__overflow__' },
    });
    // Expiry frees overflow places too.
    expect(cap.expire(60_001)).toBe(10 + 4);
    expect(cap.admit(...s('later', 'op'), 60_002)).toMatchObject({ key: 'later|op|SERVER', overflow: false });
  });
});
