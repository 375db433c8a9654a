#!/usr/bin/env node
// npm postinstall: installs mplp's fix of kafkajs' read_committed filter (see
// filterAbortedMessages.js here for the bug). Refuses a kafkajs file it does not know, so an
// upgrade of kafkajs is reviewed instead of silently losing or misapplying the fix.
'use strict';
const { createHash } = require('node:crypto');
const fs = require('node:fs');
const path = require('node:path');

const ORIGINAL_2_2_4 = '54ce50f2a41ee1686da8b73bf8b502c7dd07c9d7cb0a494cdb36a7fc536ced8e';
const fixed = fs.readFileSync(path.join(__dirname, 'filterAbortedMessages.js'));

let target;
try {
  target = require.resolve('kafkajs/src/consumer/filterAbortedMessages.js', { paths: [process.cwd()] });
} catch {
  process.exit(0); // kafkajs not installed (yet): nothing to patch
}
const current = fs.readFileSync(target);
if (current.equals(fixed)) process.exit(0);
const sha = createHash('sha256').update(current).digest('hex');
if (sha !== ORIGINAL_2_2_4) {
  console.error(`kafkajs: ${target} is not kafkajs 2.2.4's (sha256 ${sha}); review scripts/kafkajs/filterAbortedMessages.js against it`);
  process.exit(1);
}
fs.writeFileSync(target, fixed);
console.log('kafkajs: read_committed filter of aborted transactions fixed (scripts/kafkajs)');
