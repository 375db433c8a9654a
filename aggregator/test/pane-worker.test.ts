import run, { AggregateResult, AggregateTask } from '../src/pane-worker';
import { aggregateTask, makeFixture, span, spanMessages } from './helpers';

/** One aggregate task over records, each counted from its span summary header or from its value. */
function task(records: { value: Buffer; headers: Record<string, string | Buffer> }[], fromSummary: boolean): AggregateTask {
  const parts = records.map((r) => (fromSummary ? (r.headers['mplp-span-summary'] as Buffer) : r.value));
  return aggregateTask(parts, { summaries: fromSummary });
}

describe('pane worker from span summaries', () => {
  it('gives the same result as reading the values: groups, counts, histograms, exemplars with ties, late spans, watermark', () => {
    const fx = makeFixture(6000, 3, { slow: true });
    // Equal durations slower than any other span of the series: its exemplars are chosen by trace id alone.
    const ties = Array.from({ length: 300 }, (_, i) => span('search', 'GET /q', Date.parse(fx.spans[0].startTime) + i, 5000, i % 2 === 0));
    const records = spanMessages([...ties, ...fx.spans, ...fx.late], 40, undefined, true);
    expect(records.every((r) => Buffer.isBuffer(r.headers['mplp-span-summary']))).toBe(true);
    const fromValues = run(task(records, false)) as AggregateResult;
    const fromSummaries = run(task(records, true)) as AggregateResult;
    expect(fromValues.spans).toBe(fx.spans.length + ties.length);
    expect(fromValues.late).toBeGreaterThan(0);
    const tied = fromValues.groups.filter((g) => g.key === 'search|GET /q|SERVER' && g.stats.exemplars[0]?.durationNanos === 5e9);
    expect(tied.length).toBeGreaterThan(0);
    expect(fromSummaries).toEqual(fromValues);
  });

  it('counts a record whose summary cannot be read as one bad message, and the others in full', () => {
    const fx = makeFixture(200, 1);
    const records = spanMessages(fx.spans, 50, undefined, true);
    const broken = Buffer.from(records[1].headers['mplp-span-summary'] as Buffer);
    broken[0] = 9; // a version this reader does not know
    records[1] = { ...records[1], headers: { ...records[1].headers, 'mplp-span-summary': broken } };
    const r = run(task(records, true)) as AggregateResult;
    expect(r.badMessages).toBe(1);
    expect(r.spans).toBe(150);
  });
});
