/**
 * The pipeline bench's pure logic: reading /proc and Prometheus histograms, judging a step,
 * reading the stage benches' ceilings, and drawing the report. The run itself is `npm run bench`.
 */
import net from 'node:net';
import { mkdtempSync, mkdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { buckets, cpuSeconds, memoryMiB, quantileBetween, countBetween, Scrape } from '../probes';
import { clusterPid, listenerPid } from '../processes';
import { slope, stepLimit, StepResult } from '../steps';
import { Ceilings, fromIndexer, fromIngest, StageBench } from '../ceilings';
import { lineChart, niceTicks } from '../charts';
import { BenchResult, markdown } from '../report';

const hist = (counts: Record<string, number>): Scrape =>
  new Map([['h_bucket', Object.entries(counts).map(([le, value]) => ({ labels: `{le="${le}"}`, value }))]]);

describe('probes', () => {
  it('reads the quantile of the observations between two scrapes as histogram_quantile does', () => {
    const before = buckets(hist({ '0.05': 2, '0.1': 3, '+Inf': 3 }), 'h');
    const after = buckets(hist({ '0.05': 12, '0.1': 23, '+Inf': 24 }), 'h');
    expect(countBetween(before, after)).toBe(21);
    // 10 in (0, 0.05], 10 in (0.05, 0.1], 1 above: rank 10.5 lies halfway into the 10 of the second bucket's first twentieth.
    expect(quantileBetween(before, after, 0.5)).toBeCloseTo(0.0525, 6);
    // The top observation is in +Inf: the highest finite bound, as Prometheus answers.
    expect(quantileBetween(before, after, 0.99)).toBe(0.1);
    expect(quantileBetween(after, after, 0.5)).toBeUndefined();
  });

  it('reads CPU seconds and peak memory of a process from /proc, and nothing for a pid that is gone', () => {
    const t0 = cpuSeconds(process.pid)!;
    const c0 = process.cpuUsage();
    // Burn 200 ms of this process's CPU (by CPU time: the machine may be busy with others).
    while (process.cpuUsage(c0).user < 200_000);
    expect(cpuSeconds(process.pid)! - t0).toBeGreaterThan(0.15);
    const mem = memoryMiB(process.pid)!;
    expect(mem.peak).toBeGreaterThanOrEqual(mem.rss);
    expect(cpuSeconds(2 ** 22 + 1)).toBeUndefined();
  });

  it('finds a cluster server by its pid file, else by the port it listens on', async () => {
    const srv = net.createServer();
    await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
    const port = (srv.address() as net.AddressInfo).port;
    try {
      expect(listenerPid(port)).toBe(process.pid);
      const dir = mkdtempSync(path.join(os.tmpdir(), 'bench-cluster-'));
      mkdirSync(path.join(dir, 'kafka'));
      writeFileSync(path.join(dir, 'kafka', 'pid'), `${2 ** 22 + 1}\n`); // a stale pid file
      expect(clusterPid(dir, 'kafka', port)).toBe(process.pid);
      writeFileSync(path.join(dir, 'kafka', 'pid'), `${process.ppid}\n`);
      expect(clusterPid(dir, 'kafka', port)).toBe(process.ppid);
    } finally {
      srv.close();
    }
  });
});

describe('steps', () => {
  const steady = { slope: 0, end: 100 };
  it('ends the run at a stage whose backlog grows by more than 5 % of the offered rate past 2 s of traffic, naming it', () => {
    expect(stepLimit(10_000, 10_000, { ingest: steady, aggregator: { slope: 400, end: 30_000 }, indexer: steady })).toBeUndefined();
    // The sawtooth of batches in flight fitted over a short step: steep, but under 2 s of traffic.
    expect(stepLimit(2_000, 2_000, { ingest: steady, aggregator: { slope: 151, end: 1500 }, indexer: steady })).toBeUndefined();
    expect(stepLimit(10_000, 10_000, { ingest: steady, aggregator: steady, indexer: { slope: 600, end: 25_000 } })).toBe(
      'backlog growing at indexer +600 spans/s',
    );
  });

  it('ends the run when the load generators could not produce the offered rate', () => {
    expect(stepLimit(10_000, 8_000, { ingest: steady, aggregator: steady, indexer: steady })).toMatch(/produced 8000 of 10000/);
  });

  it('fits the slope of a backlog per second, through sawtooth noise', () => {
    const pts = Array.from({ length: 30 }, (_, i) => ({ t: i * 1000, y: 500 * i + (i % 2 ? 300 : -300) }));
    expect(slope(pts)).toBeGreaterThan(450);
    expect(slope(pts)).toBeLessThan(550);
  });
});

describe('ceilings', () => {
  const run = (lines: string[]): StageBench => ({ command: 'x', seconds: 1, exitCode: 0, lines });
  it("takes the best protobuf passthrough from bench:ingest and the bulk-load ceiling from bench:indexer's summary", () => {
    const c: Ceilings = { runs: [] };
    fromIngest(
      run([
        'protobuf  librdkafka 104,999 spans: ingest 12,442 spans/s (chunk fetched → acknowledged p50 3.9 ms) | passthrough ceiling 276,745 spans/s | ratio 0.04',
        'protobuf  kafkajs    104,999 spans: ingest 11,352 spans/s (p50 3.9 ms) | passthrough ceiling 117,722 spans/s | ratio 0.10',
        'json      librdkafka 104,987 spans: ingest 9,849 spans/s | passthrough ceiling 370,990 spans/s | ratio 0.14',
      ]),
      c,
    );
    fromIndexer(run(['indexer 5,692 docs/s | ceiling (bulk 2000 × 4) 14,534 docs/s | ratio 0.39 (medians of 1 rounds)']), c);
    expect(c).toMatchObject({ passthrough: 276_745, ingestAlone: 12_442, bulkLoad: 14_534, indexerAlone: 5_692 });
  });

  it('leaves a figure out, not the run, when a bench printed no line it recognises', () => {
    const c: Ceilings = { runs: [] };
    fromIngest(run(['Error: something else']), c);
    fromIndexer(run([]), c);
    expect(c.passthrough).toBeUndefined();
    expect(c.bulkLoad).toBeUndefined();
  });
});

describe('report', () => {
  const step = (n: number, offered: number, limit?: string): StepResult => ({
    step: n,
    offered,
    seconds: 60,
    startedAt: 0,
    endedAt: 60_000,
    spansPerSecond: { produced: offered, ingest: offered, aggregator: offered, indexer: limit ? offered / 2 : offered },
    backlog: { ingest: { slope: 0, end: 0 }, aggregator: { slope: 0, end: 0 }, indexer: { slope: limit ? offered / 2 : 0, end: 0 } },
    lagGrows: !!limit,
    limit,
    searchable: { samples: 600, p50: 900, p99: 1500, missing: 0, pending: 0 },
    closeToPublish: { windows: 12, p50: 20, p99: 60 },
    cpuSeconds: { ingest: 6, elasticsearch: 12, 'load generator': 3 },
    cpuPer10k: { ingest: 0.1, elasticsearch: 0.2, 'load generator': 0.05 },
    machineBusy: 0.5,
  });
  const result: BenchResult = {
    startedAt: '2026-01-01T00:00:00.000Z',
    finishedAt: '2026-01-01T00:12:00.000Z',
    example: false,
    machine: { cpuModel: 'CPU', cores: 2, memoryGiB: 8, kernel: '6', node: 'v20' },
    cluster: { kafka: { version: '4.4.0' }, elasticsearch: { version: '8.19.21' } },
    plan: { steps: 8, stepSeconds: 60, startRate: 2000, growth: 1.5, warmupSeconds: 15, loadProcesses: 1 },
    steps: [step(1, 2000), step(2, 3000), step(3, 4500, 'backlog growing at indexer +2250 spans/s')],
    stopReason: 'step 3 (4500 spans/s): backlog growing at indexer +2250 spans/s',
    sustainedStep: 2,
    peakRssMiB: { ingest: 200 },
    drain: { seconds: 3, complete: true },
    ceilings: { passthrough: 100_000, bulkLoad: 20_000, runs: [] },
  };

  it('quotes the sustained step, the pipeline CPU without the load generator, the ceilings and the machine', () => {
    const md = markdown(result);
    expect(md).toContain('**3,000 spans/s** (step 2, offered 3,000)');
    expect(md).toContain('0.300 CPU-s (0.350)');
    expect(md).toContain('3,000 vs 20,000 docs/s (ratio 0.15)');
    expect(md).toContain('CPU, 2 cores, 8 GiB RAM');
    expect(md).not.toContain('Example output only');
    expect(markdown({ ...result, example: true })).toContain('Example output only');
  });

  it('draws each measured series as a line and a ceiling far above them only in the legend', () => {
    const svg = lineChart({
      title: 't',
      xLabel: 'x',
      yLabel: 'y',
      series: [
        {
          name: 'a',
          points: [
            [1, 10],
            [2, 20],
          ],
        },
        { name: 'near ceiling', points: [], level: 30 },
        { name: 'far ceiling', points: [], level: 1000 },
      ],
    });
    expect(svg.match(/<polyline/g)).toHaveLength(1);
    expect(svg.match(/stroke-dasharray/g)).toHaveLength(1 + 2); // the near level, and both legend swatches
    expect(svg).toContain('far ceiling 1000 (off scale)');
    expect(niceTicks(0, 34_172)).toEqual([0, 10_000, 20_000, 30_000, 40_000]);
  });
});
