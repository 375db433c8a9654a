// Tests are compiled by `tsc -b` and run from dist/, so piscina workers and child processes
// run exactly the JavaScript that ships. Unit tests need nothing running; integration tests
// talk to the real local cluster (scripts/cluster/start.sh).
/** @type {import('jest').Config} */
module.exports = {
  projects: [
    {
      displayName: 'unit',
      testEnvironment: 'node',
      roots: ['<rootDir>/dist'],
      testMatch: ['**/test/**/*.test.js'],
      testPathIgnorePatterns: ['\\.int\\.test\\.js$'],
    },
    {
      displayName: 'integration',
      testEnvironment: 'node',
      roots: ['<rootDir>/dist'],
      testMatch: ['**/test/**/*.int.test.js'],
    },
  ],
  testTimeout: 120000,
};
