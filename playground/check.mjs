// Optional smoke test of the playground as served by a running server (not part of the build).
// Usage: npm i --no-save playwright-core && node check.mjs http://127.0.0.1:8000/
// Needs Debian's /usr/bin/chromium. Every host but 127.0.0.1 is cut off, so any CDN use fails.
// It runs the example tabs in order (CreateUser, GetUser, UpdateUserName, ListUsers, DeleteUser,
// then the UserEvents subscription): each must answer with data and no error, without pasting.
// With TOKEN=<jwt> (a server started with --jwt-*; the token needs users:read and users:write),
// it also types {"Authorization": "Bearer <jwt>"} into each tab's headers pane, checks every POST
// carried it and that the subscription's connection_init did, and that no token reached localStorage.
import { chromium } from 'playwright-core';

const base = process.argv[2] || 'http://127.0.0.1:8000/';
const origin = new URL(base).origin;
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
    '--disable-component-update', '--disable-sync', '--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1'],
});
const page = await browser.newPage({ viewport: { width: 1400, height: 900 } });
const token = process.env.TOKEN;
const authorization = token && `Bearer ${token}`;
const requests = [];
const problems = [];
const sockets = []; // { url, sent: [frame payload], closed }
const posts = []; // headers of POST /graphql requests
const encodings = {}; // asset path -> Content-Encoding it came with
page.on('response', (r) => {
  const path = new URL(r.url()).pathname;
  if (path.startsWith('/playground/')) encodings[path] = r.headers()['content-encoding'] ?? 'none';
});
page.on('request', (r) => {
  requests.push(`${r.method()} ${r.url()}`);
  if (r.method() === 'POST' && new URL(r.url()).pathname === '/graphql') posts.push(r.headers());
});
page.on('websocket', (ws) => {
  requests.push(`WS ${ws.url()}`);
  const socket = { url: ws.url(), sent: [], closed: false };
  sockets.push(socket);
  ws.on('framesent', (f) => socket.sent.push(f.payload));
  ws.on('close', () => { socket.closed = true; });
});
// CSP violations also reach the console as errors; record them from the page's own event too.
await page.addInitScript(() => {
  window.__csp = [];
  document.addEventListener('securitypolicyviolation', (e) =>
    window.__csp.push(`${e.effectiveDirective} blocked ${e.blockedURI || '(inline)'}`));
});
page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
page.on('requestfailed', (r) => problems.push(`request failed: ${r.url()} ${r.failure()?.errorText}`));
page.on('console', (m) => m.type() === 'error' && problems.push(`console error: ${m.text()}`));

const editorText = (sel) => page.locator(`${sel} .CodeMirror`).first().evaluate((el) => el.CodeMirror.getValue());
const check = (ok, what) => { console.log(`${ok ? 'ok  ' : 'FAIL'} ${what}`); if (!ok) process.exitCode = 1; };
const oneLine = (text) => text.replace(/\s+/g, ' ').slice(0, 100);
// Replaces a CodeMirror editor's text as a paste would (insertText: no auto-closed brackets).
const typeInto = async (editor, text) => {
  await editor.locator('.CodeMirror-lines').click();
  await page.keyboard.press('Control+A');
  await page.keyboard.insertText(text);
};
// Headers are per tab in GraphiQL 4: fill the pane of the active tab.
const headersJson = authorization && JSON.stringify({ Authorization: authorization });
const typeHeaders = async () => {
  await page.locator('.graphiql-editor-tools button[data-name="headers"]').click();
  const pane = page.locator('.graphiql-editor-tool .graphiql-editor:not(.hidden)');
  await typeInto(pane, headersJson);
  // Pause as a person would: GraphiQL copies the editors into the tab's state after a debounce,
  // and only then does a run's history entry hold the headers.
  await page.waitForTimeout(1000);
  return pane.locator('.CodeMirror').evaluate((el) => el.CodeMirror.getValue());
};
const waitForResponse = (timeout = 10000) => page.waitForFunction(() => {
  const cm = document.querySelector('.result-window .CodeMirror, .graphiql-response .CodeMirror');
  return cm && cm.CodeMirror.getValue().trim().length > 0;
}, null, { timeout });

const page_response = await page.goto(base, { waitUntil: 'networkidle' });
check(/connect-src 'self'/.test(page_response.headers()['content-security-policy'] ?? ''),
  `page served with a CSP: ${page_response.headers()['content-security-policy'] ?? '(none)'}`);
check((await page.title()) === 'cqrs-users · GraphiQL', `title: ${await page.title()}`);
// Chromium offers br on HTTPS and localhost (gzip elsewhere): either is a compressed copy.
check(['gzip', 'br'].includes(encodings['/playground/assets/playground.js']),
  `assets sent compressed: ${Object.entries(encodings).map(([p, e]) => `${p} ${e}`).join(', ')}`);
const tabs = await page.locator('.graphiql-tab').allInnerTexts();
const order = ['CreateUser', 'GetUser', 'UpdateUserName', 'ListUsers', 'DeleteUser', 'UserEvents'];
check(tabs.join() === order.join(), `tabs: ${tabs.join(', ')}`);
check((await editorText('.graphiql-editor-tool')).includes('"input"'), 'first tab has its variables');

// The tabs in order, as they are: after CreateUser, the page fills in the id, version and token
// of the last write, so each answers with data and no error.
let created; // the id CreateUser answered with
for (const [tab, field] of [['CreateUser', 'createUser'], ['GetUser', 'user'], ['UpdateUserName', 'updateUserName'],
  ['ListUsers', 'users'], ['DeleteUser', 'deleteUser']]) {
  await page.locator('.graphiql-tab', { hasText: tab }).first().click();
  if (token) {
    check((await typeHeaders()) === headersJson, `${tab}: headers pane holds the Authorization header`);
  }
  const variables = await editorText('.graphiql-editor-tool');
  // ListUsers has no id: it takes the last write's token.
  const carried = tab === 'ListUsers' ? /"consistencyToken": "\d+"/.test(variables) : variables.includes(`"${created}"`);
  if (created) check(carried, `${tab}: variables carry the last write: ${oneLine(variables)}`);
  const sentBefore = posts.length;
  await page.locator('.graphiql-execute-button').click();
  await waitForResponse();
  const response = await editorText('.graphiql-response');
  let body = null;
  try { body = JSON.parse(response); } catch { /* reported below */ }
  check(body?.data?.[field] != null && body.errors === undefined, `${tab}: data, no errors ${oneLine(response)}`);
  if (tab === 'CreateUser') created = body?.data?.createUser?.user?.id;
  if (token) {
    const sent = posts.slice(sentBefore);
    check(sent.length > 0 && sent.every((h) => h.authorization === authorization), `${tab}: POST /graphql carried the token`);
  }
}

// The subscription tab: replay from the log's start yields the events so far.
await page.locator('.graphiql-tab', { hasText: 'UserEvents' }).first().click();
if (token) check((await typeHeaders()) === headersJson, 'UserEvents: headers pane holds the Authorization header');
const socketsBefore = sockets.length;
await page.locator('.graphiql-execute-button').click();
let response = '';
try {
  await page.waitForFunction(() => {
    const cm = document.querySelector('.graphiql-response .CodeMirror');
    return cm && /"userEvents"|"errors"|Socket closed/.test(cm.CodeMirror.getValue());
  }, null, { timeout: 15000 });
  response = await editorText('.graphiql-response');
} catch (e) {
  response = `(nothing after 15 s: ${await editorText('.graphiql-response')})`;
}
check(/"userEvents"[\s\S]*"position"/.test(response) && !/"errors"/.test(response),
  `UserEvents: an event ${oneLine(response)}`);
const socket = sockets[socketsBefore];
if (token) {
  const init = socket?.sent.map((p) => { try { return JSON.parse(p); } catch { return null; } })
    .find((m) => m?.type === 'connection_init');
  check(init?.payload?.authorization === authorization && Object.keys(init.payload).length === 1,
    `UserEvents: connection_init payload is { authorization } (${socket ? socket.url : 'no WebSocket'})`);
}
// Stop it: the execute button is a stop button while subscribed; the lazy client then closes.
await page.locator('.graphiql-execute-button').click();
const deadline = Date.now() + 5000;
while (socket && !socket.closed && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
check(socket?.closed === true, 'subscription stopped: WebSocket closed');

// Variables edited into invalid JSON are left as they are by the next write (and nothing breaks).
await page.locator('.graphiql-tab', { hasText: 'GetUser' }).first().click();
const broken = '{ "id": "half-typed", ';
await page.locator('.graphiql-editor-tools button[data-name="variables"]').click();
await typeInto(page.locator('.graphiql-editor-tool .graphiql-editor:not(.hidden)').first(), broken);
await page.waitForTimeout(300);
await page.locator('.graphiql-tab', { hasText: 'CreateUser' }).first().click();
await page.locator('.graphiql-execute-button').click();
await page.waitForFunction(() => /"createUser"|"errors"/.test(
  document.querySelector('.graphiql-response .CodeMirror')?.CodeMirror.getValue() ?? ''), null, { timeout: 10000 });
await page.locator('.graphiql-tab', { hasText: 'GetUser' }).first().click();
await page.waitForTimeout(300);
const kept = await editorText('.graphiql-editor-tool');
check(kept === broken, `invalid variables left alone after a write: ${oneLine(kept)}`);

if (token) {
  // shouldPersistHeaders: false keeps headers out of the tabs' state; main.js keeps them out of
  // the history too. (Data of this page only: every run starts with a fresh browser profile.)
  const [kept, history] = await page.evaluate((t) => [
    Object.keys(localStorage).filter((k) => localStorage.getItem(k).includes(t)),
    JSON.parse(localStorage.getItem('cqrs-users:graphiql:queries') ?? '{"queries":[]}').queries,
  ], token);
  check(kept.length === 0 && history.length > 0,
    `token not kept in localStorage (${history.length} runs in its history)${kept.length ? ': in ' + kept.join(', ') : ''}`);
}

await page.locator('button[aria-label*="Documentation Explorer"]').first().click();
await page.locator('.graphiql-doc-explorer').getByText('Query', { exact: true }).first().waitFor({ timeout: 10000 });
check(true, 'docs explorer shows the schema (Query)');
await page.screenshot({ path: process.env.SCREENSHOT || '/tmp/playground-check.png' });

const csp = await page.evaluate(() => window.__csp);
await browser.close();
console.log('requests:\n  ' + requests.join('\n  '));
check(requests.every((r) => r.split(' ')[1].replace(/^ws/, 'http').startsWith(origin)), `all requests to ${origin}`);
check(csp.length === 0, `no CSP violations${csp.length ? ':\n  ' + csp.join('\n  ') : ''}`);
check(problems.length === 0, `no errors${problems.length ? ':\n  ' + problems.join('\n  ') : ''}`);
