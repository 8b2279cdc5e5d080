// Regenerates schema/job-graph.schema.json from the catalog (run: npm run gen:schema).
import { writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { graphJsonSchema } from '../dist/index.js';

const target = fileURLToPath(new URL('../schema/job-graph.schema.json', import.meta.url));
writeFileSync(target, `${JSON.stringify(graphJsonSchema(), null, 2)}\n`);
console.log(`wrote ${target}`);
