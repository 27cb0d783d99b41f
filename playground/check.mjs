// Optional smoke test of the playground as served by a running server (not part of the build).
// Usage: npm i --no-save playwright-core && node check.mjs http://127.0.0.1:8000/
// Needs Debian's /usr/bin/chromium. Every host but 127.0.0.1 is cut off, so any CDN use fails.
import { chromium } from 'playwright-core';

const base = process.argv[2] || 'http://127.0.0.1:8000/';
const origin = new URL(base).origin;
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
    '--disable-component-update', '--disable-sync', '--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1'],
});
const page = await browser.newPage({ viewport: { width: 1400, height: 900 } });
const requests = [];
const problems = [];
page.on('request', (r) => requests.push(`${r.method()} ${r.url()}`));
page.on('websocket', (ws) => requests.push(`WS ${ws.url()}`));
page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
page.on('requestfailed', (r) => problems.push(`request failed: ${r.url()} ${r.failure()?.errorText}`));
page.on('console', (m) => m.type() === 'error' && problems.push(`console error: ${m.text()}`));

const editorText = (sel) => page.locator(`${sel} .CodeMirror`).first().evaluate((el) => el.CodeMirror.getValue());
const check = (ok, what) => { console.log(`${ok ? 'ok  ' : 'FAIL'} ${what}`); if (!ok) process.exitCode = 1; };

await page.goto(base, { waitUntil: 'networkidle' });
check((await page.title()) === 'cqrs-users · GraphiQL', `title: ${await page.title()}`);
const tabs = await page.locator('.graphiql-tab').allInnerTexts();
check(tabs.join() === 'CreateUser,UpdateUserName,DeleteUser,GetUser,ListUsers', `tabs: ${tabs.join(', ')}`);
check((await editorText('.graphiql-editor-tool')).includes('"input"'), 'first tab has its variables');

for (const [tab, field] of [['ListUsers', 'users'], ['GetUser', 'user']]) {
  await page.locator('.graphiql-tab', { hasText: tab }).first().click();
  await page.locator('.graphiql-execute-button').click();
  await page.waitForFunction(() => {
    const cm = document.querySelector('.result-window .CodeMirror, .graphiql-response .CodeMirror');
    return cm && cm.CodeMirror.getValue().trim().length > 0;
  }, null, { timeout: 10000 });
  const response = await editorText('.graphiql-response');
  // The server may answer with data or with a domain error (e.g. NOT_FOUND for the example id).
  const about = new RegExp(`"data"[\\s\\S]*"${field}"|"path": \\[\\s*"${field}"`).test(response);
  check(about, `${tab}: response ${response.replace(/\s+/g, ' ').slice(0, 100)}`);
}

await page.locator('button[aria-label*="Documentation Explorer"]').first().click();
await page.locator('.graphiql-doc-explorer').getByText('Query', { exact: true }).first().waitFor({ timeout: 10000 });
check(true, 'docs explorer shows the schema (Query)');
await page.screenshot({ path: process.env.SCREENSHOT || '/tmp/playground-check.png' });

await browser.close();
console.log('requests:\n  ' + requests.join('\n  '));
check(requests.every((r) => r.split(' ')[1].replace(/^ws/, 'http').startsWith(origin)), `all requests to ${origin}`);
check(problems.length === 0, `no errors${problems.length ? ':\n  ' + problems.join('\n  ') : ''}`);
