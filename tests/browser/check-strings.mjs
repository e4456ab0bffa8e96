// Every string the shell uses is in its table, in both languages:
//   node check-strings.mjs
import { readFileSync, readdirSync } from 'node:fs';

const dir = new URL('../../host/shell/', import.meta.url).pathname;
const { strings } = await import(dir + 'strings.js');
const files = readdirSync(dir).filter((f) => f.endsWith('.js')).concat(readdirSync(dir + 'screens').map((f) => 'screens/' + f));
const used = new Set();
for (const f of files) {
  const text = readFileSync(dir + f, 'utf8');
  for (const m of text.matchAll(/\bt\('([a-z_]+)'/g)) used.add(m[1]);
  for (const m of text.matchAll(/'((?:error|kind|cp|scope|state|outcome|tab|toast|unread|pending)_[a-z_]+)'/g)) used.add(m[1]);
}
const problems = [];
for (const key of used) if (!key.endsWith('_') && !(key in strings.en)) problems.push(`no English string \`${key}\``);
for (const lang of Object.keys(strings)) {
  for (const key of Object.keys(strings.en)) if (!(key in strings[lang])) problems.push(`${lang} lacks \`${key}\``);
  for (const key of Object.keys(strings[lang])) if (!(key in strings.en)) problems.push(`${lang} has an extra \`${key}\``);
}
console.log(problems.length ? problems.join('\n') : `${used.size} keys used, ${Object.keys(strings.en).length} in each language: fine`);
process.exit(problems.length ? 1 : 0);
