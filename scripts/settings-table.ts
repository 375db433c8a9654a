/** Prints the Markdown settings table of the shared schema (and any schema modules given as arguments) for the README. */
import path from 'node:path';
import { Schema, settingsTable, sharedSchema } from '../shared/src';

const header = '| variable | default | meaning |\n| --- | --- | --- |';
console.log(`### shared (every process)\n\n${header}\n${settingsTable(sharedSchema)}\n`);
for (const mod of process.argv.slice(2)) {
  const exported = require(path.resolve(mod)) as Record<string, unknown>;
  for (const [name, value] of Object.entries(exported)) {
    if (name.endsWith('Schema') && value && typeof value === 'object') {
      console.log(`### ${path.basename(path.dirname(path.dirname(mod)))} (${name})\n\n${header}\n${settingsTable(value as Schema)}\n`);
    }
  }
}
