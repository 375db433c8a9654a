/**
 * The closing lines of `npm test` (scripts/test.sh): the broker's release, each failure in a line
 * or two, and "N passed, N failed" (plus the files that failed outside any test: they count no
 * failed test, and a red run must not read as "0 failed"). CI keeps only the head and the tail of
 * a long log, and the failure's cause (a group's state, a worker's last words) sits in the middle
 * of jest's report; the tail is where a reader of a red run looks first.
 *
 * Usage: node dist/scripts/test-summary.js <results dir of jest --json files> <kafka version>
 */
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';

/** The parts of a `jest --json` report read here. */
export interface JestReport {
  numPassedTests: number;
  numFailedTests: number;
  numPendingTests: number;
  testResults: {
    name: string;
    message?: string;
    assertionResults: { fullName: string; status: string; failureMessages?: string[] }[];
  }[];
}

/** Characters of a failure's message quoted: its start (what failed) and its end (a worker's last words). */
const MESSAGE_CHARS = 1600;

// eslint-disable-next-line no-control-regex
const ANSI = /\u001b\[[0-9;]*m/g;

/** A stack frame or a line of a code frame: where jest's report of a failure stops saying why. */
const TRACE_LINE = /\n\s*(at \S.*:\d+:\d+\)?|>? *\d+ \|.*)\s*(?=\n|$)/;

/** A failure message without colours, code frame and stack; its start and end when long. */
export function failureText(message: string, max = MESSAGE_CHARS): string {
  const plain = message.replace(ANSI, '');
  const cut = plain.search(TRACE_LINE);
  const text = (cut === -1 ? plain : plain.slice(0, cut)).trim().replace(/\n\s*\n/g, '\n');
  if (text.length <= max) return text;
  const half = Math.floor(max / 2);
  return `${text.slice(0, half)} … ${text.slice(-half)}`;
}

/** The closing lines for `reports` (one per jest run) on Kafka `kafkaVersion`. */
export function summaryLines(reports: JestReport[], kafkaVersion: string, root = process.cwd()): string[] {
  let passed = 0,
    failed = 0,
    skipped = 0,
    filesFailed = 0;
  const failures: string[] = [];
  for (const r of reports) {
    passed += r.numPassedTests;
    failed += r.numFailedTests;
    skipped += r.numPendingTests;
    for (const file of r.testResults) {
      const where = path.relative(root, file.name);
      const bad = file.assertionResults.filter((a) => a.status === 'failed');
      for (const a of bad) failures.push(`FAILED ${where} › ${a.fullName}\n  ${failureText(a.failureMessages?.[0] ?? '')}`);
      // A file that failed outside any test (it did not load, a hook threw).
      if (!bad.length && file.message) {
        filesFailed++;
        failures.push(`FAILED ${where}\n  ${failureText(file.message)}`);
      }
    }
  }
  return [
    `tests ran on Kafka ${kafkaVersion}`,
    ...failures.map((f) => f.replace(/\n(?! {2})/g, '\n  ')),
    `tests: ${passed} passed, ${failed} failed` +
      (skipped ? `, ${skipped} skipped` : '') +
      (filesFailed ? `, ${filesFailed} file${filesFailed > 1 ? 's' : ''} failed outside any test` : ''),
  ];
}

if (require.main === module) {
  const [dir, version] = process.argv.slice(2);
  const reports = readdirSync(dir)
    .filter((f) => f.endsWith('.json'))
    .map((f) => JSON.parse(readFileSync(path.join(dir, f), 'utf8')) as JestReport);
  console.log(summaryLines(reports, version).join('\n'));
}
