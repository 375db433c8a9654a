import { SeriesCap } from '../src/series-cap';
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
    expect(cap.admit(...s('a', 'z'), 0)).toMatchObject({ key: 'a|__overflow__|INTERNAL', overflow: true, series: { service: 'a', operation: '__overflow__' } });
    expect(cap.admit(...s('a', 'w'), 0)).toMatchObject({ key: 'a|__overflow__|INTERNAL', overflow: true });
    expect(cap.admit(...s('c', 'q'), 0)).toMatchObject({ key: 'c|__overflow__|INTERNAL', overflow: true });
    // Series admitted before the cap filled keep their own key.
    expect(cap.admit(...s('b', 'y'), 0)).toMatchObject({ key: 'b|y|SERVER', overflow: false });
    // Bounded: the two admitted plus one overflow series per service.
    expect(cap.size).toBe(4);
  });

  it('expires series without spans for the expiry, which frees their place under the cap', () => {
    const cap = new SeriesCap(2, 10_000);
    cap.admit(...s('a', 'x'), 0);
    cap.admit(...s('a', 'y'), 5_000);
    expect(cap.admit(...s('a', 'z'), 6_000).overflow).toBe(true);
    expect(cap.expire(10_000)).toBe(0); // nothing older than 10 s yet
    cap.admit(...s('a', 'y'), 10_500); // seen again: stays live
    expect(cap.expire(10_001 + 1)).toBe(1); // a|x (last 0) goes; a|y stays
    expect(cap.expire(16_001 + 1)).toBe(1); // the overflow series (last 6 000) goes
    expect(cap.size).toBe(1);
    expect(cap.admit(...s('a', 'z'), 17_000)).toMatchObject({ key: 'a|z|SERVER', overflow: false });
  });
});
