// Loads the dev runtime's GraphiQL page in headless Chromium with every
// host but loopback unresolvable, and uses it as a person would: the
// ready tabs, the demo user's token in the headers, a mutation, a
// subscription that receives pushes over the WebSocket, the docs
// explorer. Prints one JSON line per step on stdout; exits non-zero, with
// the reason on stderr, at the first step that fails.
//
//   node tests/js/graphiql.mjs http://127.0.0.1:8080
//
// CHROMIUM names the browser (default /usr/bin/chromium, Debian's
// package: puppeteer-core downloads none).
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import puppeteer from 'puppeteer-core';

const base = process.argv[2];
if (!base) {
  console.error('usage: node tests/js/graphiql.mjs http://127.0.0.1:PORT');
  process.exit(2);
}
const loopback = new Set(['127.0.0.1', 'localhost', '[::1]']);
const step = (name, extra = {}) => console.log(JSON.stringify({ step: name, ...extra }));
const deadline = 60_000;

const profile = mkdtempSync(join(tmpdir(), 'graphiql-chromium-'));
const browser = await puppeteer.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  headless: true,
  args: [
    '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync',
    `--user-data-dir=${profile}`,
    // No name but loopback resolves: nothing the page needs may come
    // from the internet.
    '--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1',
  ],
});
let failed = false;
try {
  await run(browser);
} catch (err) {
  failed = true;
  console.error(err && err.stack ? err.stack : String(err));
} finally {
  await browser.close();
  rmSync(profile, { recursive: true, force: true });
}
process.exit(failed ? 1 : 0);

async function run(browser) {
  const page = await browser.newPage();
  page.setDefaultTimeout(deadline);
  const problems = [];
  const external = [];
  page.on('pageerror', (err) => problems.push(`page error: ${err.message}`));
  page.on('console', (msg) => {
    if (msg.type() === 'error') problems.push(`console error: ${msg.text()}`);
  });
  // Belt and braces: any request off loopback fails, and is reported.
  await page.setRequestInterception(true);
  page.on('request', (req) => {
    const u = new URL(req.url());
    if ((u.protocol === 'http:' || u.protocol === 'https:' || u.protocol === 'ws:' || u.protocol === 'wss:') && !loopback.has(u.hostname)) {
      external.push(req.url());
      req.abort('namenotresolved');
      return;
    }
    req.continue();
  });
  const check = () => {
    if (problems.length) throw new Error(problems.join('\n'));
    if (external.length) throw new Error(`the page asked the internet for: ${external.join(', ')}`);
  };

  const resp = await page.goto(`${base}/graphiql`, { waitUntil: 'load' });
  if (resp.status() !== 200) throw new Error(`GET /graphiql: ${resp.status()}`);
  const csp = resp.headers()['content-security-policy'] || '';
  await page.waitForSelector('.graphiql-query-editor .CodeMirror');
  check();
  step('rendered', { csp: csp !== '' });

  // The ready tabs.
  const tabs = await page.$$eval('.graphiql-tab', (els) => els.map((e) => e.textContent.trim()));
  for (const want of ['PlaceOrder', 'OrderUpdated', 'PayOrder']) {
    if (!tabs.some((t) => t.includes(want))) throw new Error(`no ${want} tab in ${JSON.stringify(tabs)}`);
  }
  step('tabs', { tabs });

  // The headers hold the demo user's token; introspection used it.
  const headers = JSON.parse(await editorValue(page, 'headers'));
  const auth = headers.Authorization || '';
  if (!/^Bearer [\w-]+\.[\w-]+\.[\w-]+$/.test(auth)) throw new Error(`headers ${JSON.stringify(headers)}: no bearer token`);
  const claims = JSON.parse(Buffer.from(auth.split('.')[1], 'base64url').toString());
  step('token', { sub: claims.sub });

  // The docs explorer shows the schema: Query's fields.
  await page.click('button[aria-label="Show Documentation Explorer"]');
  await page.waitForSelector('.graphiql-doc-explorer a.graphiql-doc-explorer-type-name');
  await page.$$eval('.graphiql-doc-explorer a.graphiql-doc-explorer-type-name', (links) => {
    const q = links.find((a) => a.textContent.trim() === 'Query');
    if (!q) throw new Error('the docs explorer has no Query type');
    q.click();
  });
  await page.waitForFunction(() => document.querySelector('.graphiql-doc-explorer-title')?.textContent.trim() === 'Query');
  const fields = await page.$$eval('.graphiql-doc-explorer a.graphiql-doc-explorer-field-name', (els) => els.map((e) => e.textContent.trim()));
  for (const want of ['restaurants', 'order']) {
    if (!fields.includes(want)) throw new Error(`docs: Query's fields are ${JSON.stringify(fields)}, want ${want}`);
  }
  step('docs', { queryFields: fields });
  await page.click('button[aria-label="Hide Documentation Explorer"]');

  // PlaceOrder, as the tab opens: the result pane shows the new order.
  await openTab(page, 'PlaceOrder');
  const placed = await execute(page, (r) => r.data && r.data.placeOrder);
  if (placed.data.placeOrder.status !== 'PLACED') throw new Error(`placeOrder: ${JSON.stringify(placed)}`);
  const first = placed.data.placeOrder.id;
  step('placeOrder', { id: first });

  // PayOrder once it is VALIDATED, with the tab's variables pointed at it.
  await waitForStatus(auth, first, ['VALIDATED']);
  await openTab(page, 'PayOrder');
  await setEditorValue(page, 'variables', JSON.stringify({ input: { orderId: first, amountCents: 1800 } }));
  const paid = await execute(page, (r) => r.data && r.data.payOrder);
  if (!paid.data.payOrder.paymentIntent) throw new Error(`payOrder: ${JSON.stringify(paid)}`);
  step('payOrder', { id: first, paymentIntent: paid.data.payOrder.paymentIntent.id });

  // OrderUpdated on a second order, placed outside the page: every step
  // arrives in the result pane over the WebSocket, whose connection_init
  // carried the headers' token.
  const second = (await gql(auth, 'mutation { placeOrder(input: {restaurantId: "r-pizza", items: [{menuItemId: "margherita", quantity: 1}]}) { id } }')).placeOrder.id;
  await openTab(page, 'OrderUpdated');
  await setEditorValue(page, 'variables', JSON.stringify({ id: second }));
  await page.click('.graphiql-execute-button');
  await waitForStatus(auth, second, ['VALIDATED']);
  await gql(auth, `mutation { payOrder(input: {orderId: "${second}", amountCents: 900}) { id } }`);
  const pushed = await waitForResult(page, (r) => r.data && r.data.orderUpdated && r.data.orderUpdated.status === 'DRIVER_ASSIGNED');
  if (pushed.data.orderUpdated.id !== second) throw new Error(`orderUpdated: ${JSON.stringify(pushed)}`);
  step('orderUpdated', { id: second, status: pushed.data.orderUpdated.status });
  check();
}

// editorValue is the text of the variables, headers, query or result editor.
async function editorValue(page, which) {
  return page.evaluate((sel) => document.querySelector(sel).CodeMirror.getValue(), selector(which));
}

async function setEditorValue(page, which, text) {
  await page.evaluate((sel, t) => document.querySelector(sel).CodeMirror.setValue(t), selector(which), text);
}

function selector(which) {
  switch (which) {
    case 'query': return '.graphiql-query-editor .CodeMirror';
    case 'variables': return '.graphiql-editor-tool > div:nth-child(1) .CodeMirror';
    case 'headers': return '.graphiql-editor-tool > div:nth-child(2) .CodeMirror';
    case 'result': return '.result-window .CodeMirror';
  }
  throw new Error(`no editor ${which}`);
}

async function openTab(page, title) {
  await page.$$eval('.graphiql-tab', (els, t) => {
    const tab = els.find((e) => e.textContent.trim().includes(t));
    if (!tab) throw new Error(`no tab ${t}`);
    (tab.querySelector('button') || tab).click();
  }, title);
  await page.waitForFunction((t) => document.querySelector('.graphiql-tab-active')?.textContent.includes(t), {}, title);
  // GraphiQL reads the operation's name off the editor 100 ms after it
  // changes; a person takes longer to reach the run button.
  await page.waitForFunction((t) => document.querySelector('.graphiql-query-editor .CodeMirror').CodeMirror.operationName === t, {}, title);
}

// execute runs the active tab and waits for a result that satisfies ok.
async function execute(page, ok) {
  await setEditorValue(page, 'result', '');
  await page.click('.graphiql-execute-button');
  return waitForResult(page, ok);
}

async function waitForResult(page, ok) {
  const start = Date.now();
  let last = '';
  while (Date.now() - start < deadline) {
    last = await editorValue(page, 'result');
    try {
      const r = JSON.parse(last);
      if (r.errors) throw new Error(`GraphQL errors: ${last}`);
      if (ok(r)) return r;
    } catch (err) {
      if (!(err instanceof SyntaxError)) throw err;
    }
    await new Promise((res) => setTimeout(res, 100));
  }
  throw new Error(`no matching result within ${deadline} ms; the result pane shows: ${last}`);
}

async function gql(auth, query) {
  const res = await fetch(`${base}/graphql`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: auth },
    body: JSON.stringify({ query }),
  });
  const body = await res.json();
  if (body.errors || !body.data) throw new Error(`${query}: ${res.status} ${JSON.stringify(body)}`);
  return body.data;
}

async function waitForStatus(auth, id, want) {
  const start = Date.now();
  let status = '';
  while (Date.now() - start < deadline) {
    status = (await gql(auth, `{ order(id: "${id}") { status } }`)).order.status;
    if (want.includes(status)) return status;
    await new Promise((res) => setTimeout(res, 100));
  }
  throw new Error(`order ${id} is ${status}, not ${want.join(' or ')}, after ${deadline} ms`);
}
