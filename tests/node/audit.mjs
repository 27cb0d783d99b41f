// The GraphQL-over-HTTP conformance audit of graphql-http, run against a live server:
//   node tests/node/audit.mjs http://127.0.0.1:8000/graphql
// Prints each audit that did not pass and the MUST/SHOULD/MAY counts; exits 1 if a MUST fails.
import { serverAudits } from 'graphql-http';

const url = process.argv[2];
if (!url) {
  console.error('usage: node audit.mjs <graphql url>');
  process.exit(2);
}

const results = await Promise.all(serverAudits({ url }).map(({ fn }) => fn()));
const counts = {};
for (const level of ['MUST', 'SHOULD', 'MAY']) counts[level] = { pass: 0, warn: 0, fail: 0 };
for (const result of results) {
  const level = result.name.split(' ')[0];
  const count = counts[level];
  if (!count) throw new Error(`an audit of no known level: ${result.name}`);
  if (result.status === 'ok') {
    count.pass += 1;
    continue;
  }
  // graphql-http: a failed MUST is an error, a failed SHOULD a warning, a failed MAY a notice.
  if (level === 'MUST') count.fail += 1;
  else count.warn += 1;
  let body = '';
  try {
    body = (await result.response.text()).slice(0, 200);
  } catch {}
  console.log(`${result.status} ${result.id} ${result.name}: ${result.reason} (HTTP ${result.response.status}) ${body}`);
}
for (const [level, { pass, warn, fail }] of Object.entries(counts)) {
  console.log(`${level}: ${pass} pass, ${warn} warn, ${fail} fail`);
}
const passed = results.filter((r) => r.status === 'ok').length;
console.log(`audit: ${passed} of ${results.length} audits pass`);
process.exit(counts.MUST.fail > 0 ? 1 : 0);
