#!/usr/bin/env node
// npm postinstall: installs mplp's fixes of kafkajs 2.2.4 (each file here says what it fixes):
// - filterAbortedMessages.js: the read_committed filter leaked records of aborted transactions;
// - requestQueue.js: every connection ran a 1 ms timer loop for its whole life, idle or not.
// Refuses a kafkajs file it does not know, so an upgrade of kafkajs is reviewed instead of
// silently losing or misapplying a fix.
'use strict';
const { createHash } = require('node:crypto');
const fs = require('node:fs');
const path = require('node:path');

const PATCHES = [
  {
    target: 'kafkajs/src/consumer/filterAbortedMessages.js',
    fixed: 'filterAbortedMessages.js',
    original: '54ce50f2a41ee1686da8b73bf8b502c7dd07c9d7cb0a494cdb36a7fc536ced8e',
    done: 'read_committed filter of aborted transactions fixed',
  },
  {
    target: 'kafkajs/src/network/requestQueue/index.js',
    fixed: 'requestQueue.js',
    original: 'b55986089c14f8f7bfc377922e2e65b3e4c1e7c7af2752d3b10a75dfe9e9260c',
    done: 'request queue timer loop fixed',
  },
];

let failed = false;
for (const p of PATCHES) {
  let target;
  try {
    target = require.resolve(p.target, { paths: [process.cwd()] });
  } catch {
    process.exit(0); // kafkajs not installed (yet): nothing to patch
  }
  const fixed = fs.readFileSync(path.join(__dirname, p.fixed));
  const current = fs.readFileSync(target);
  if (current.equals(fixed)) continue;
  const sha = createHash('sha256').update(current).digest('hex');
  if (sha !== p.original) {
    console.error(`kafkajs: ${target} is not kafkajs 2.2.4's (sha256 ${sha}); review scripts/kafkajs/${p.fixed} against it`);
    failed = true;
    continue;
  }
  fs.writeFileSync(target, fixed);
  console.log(`kafkajs: ${p.done} (scripts/kafkajs/${p.fixed})`);
}
process.exit(failed ? 1 : 0);
