// `npm run bench [-- name…]`: runs every benchmark, or the named ones, in sequence.
import { readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const dir = fileURLToPath(new URL('.', import.meta.url));
const all = readdirSync(dir)
  .filter((f) => f.endsWith('.js') && !['run.js', 'lib.js'].includes(f))
  .map((f) => f.slice(0, -3))
  .sort();
// Long side-by-side comparisons with other engines run only when named (`npm run bench -- nexmark`).
const ON_REQUEST = ['nexmark'];
const wanted = process.argv.slice(2);
const unknown = wanted.filter((w) => !all.includes(w));
if (unknown.length > 0) {
  console.error(`unknown benchmark ${unknown.join(', ')}; available: ${all.join(', ')}`);
  process.exit(2);
}
for (const name of wanted.length > 0 ? wanted : all.filter((n) => !ON_REQUEST.includes(n))) {
  const module = await import(`./${name}.js`);
  await module.run();
}
