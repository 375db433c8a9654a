import { failureText, summaryLines, type JestReport } from '../test-summary';

const red = (s: string) => `\u001b[31m${s}\u001b[39m`;

/** What jest --json writes for a waitFor timeout: message, a blank line, the stack. */
const groupsTimeout = [
  `Error: timed out after 90000 ms waiting for every worker in its group: ${red('g-agg-merge')}: PreparingRebalance with 1 of 2 members`,
  'ingest-1 exited 1:',
  '{"level":50,"msg":"start failed","err":{"message":"The coordinator is loading"}}',
  '',
  '    at waitFor (/work/ci/shared/testing/index.ts:45:13)',
  '    at waitForGroups (/work/ci/shared/testing/processes.ts:105:3)',
].join('\n');

const report = (over: Partial<JestReport> = {}): JestReport => ({
  numPassedTests: 3,
  numFailedTests: 1,
  numPendingTests: 0,
  testResults: [
    {
      name: '/repo/dist/scripts/test/churn.int.test.js',
      message: '',
      assertionResults: [
        { fullName: 'the pipeline under churn loses nothing', status: 'failed', failureMessages: [groupsTimeout] },
        { fullName: 'another', status: 'passed', failureMessages: [] },
      ],
    },
  ],
  ...over,
});

describe('test summary (the tail CI keeps of a red run)', () => {
  it('keeps the cause of a failure and drops colours and the stack', () => {
    expect(failureText(groupsTimeout)).toBe(
      [
        'Error: timed out after 90000 ms waiting for every worker in its group: g-agg-merge: PreparingRebalance with 1 of 2 members',
        'ingest-1 exited 1:',
        '{"level":50,"msg":"start failed","err":{"message":"The coordinator is loading"}}',
      ].join('\n'),
    );
  });

  it("cuts at a code frame too, and keeps both ends of a long message (a worker's last words are at the end)", () => {
    expect(failureText('expect(received).toBeLessThan(expected)\n\nExpected: < 1000\n  > 128 |     expect(x)')).toBe(
      'expect(received).toBeLessThan(expected)\nExpected: < 1000',
    );
    const long = `first line\n${'x'.repeat(5000)}\nlast words`;
    const text = failureText(long, 100);
    expect(text.startsWith('first line')).toBe(true);
    expect(text.endsWith('last words')).toBe(true);
    expect(text.length).toBeLessThanOrEqual(103);
  });

  it('names each failed test with its file, between the release and the totals', () => {
    const lines = summaryLines(
      [report(), report({ numFailedTests: 0, numPassedTests: 2, numPendingTests: 1, testResults: [] })],
      '3.9.2',
      '/repo',
    );
    expect(lines[0]).toBe('tests ran on Kafka 3.9.2');
    expect(lines[1]).toMatch(
      /^FAILED dist\/scripts\/test\/churn.int.test.js › the pipeline under churn loses nothing\n {2}Error: timed out/,
    );
    expect(lines[1]).toContain('\n  ingest-1 exited 1:');
    expect(lines.at(-1)).toBe('tests: 5 passed, 1 failed, 1 skipped');
    expect(lines).toHaveLength(3);
  });

  it('reports a file that failed outside any test', () => {
    const lines = summaryLines(
      [
        report({
          testResults: [
            {
              name: '/repo/dist/x.int.test.js',
              message: 'Cannot find module ../y\n    at Object.<anonymous> (/repo/x.js:1:1)',
              assertionResults: [],
            },
          ],
        }),
      ],
      '4.4.0',
      '/repo',
    );
    expect(lines[1]).toBe('FAILED dist/x.int.test.js\n  Cannot find module ../y');
    expect(lines.at(-1)).toBe('tests: 3 passed, 1 failed, 1 file failed outside any test');
  });
});
