// Loads the dev runtime's console in headless Chromium with every host
// but loopback unresolvable, and uses it as a person debugging an order
// would: the recent events as the page opens, a change arriving live, an
// event's deliveries (a dead-lettered one among them), the request's
// trace, the order's history, and the dead-letter queue emptied with its
// Redrive button. Prints one JSON line per step on stdout; exits
// non-zero, with the reason on stderr, at the first step that fails.
//
//   node tests/js/console.mjs http://127.0.0.1:8080 ORDER_ID DROP_ID [SCREENSHOT_DIR]
//
// ORDER_ID and DROP_ID are orders whose assign-driver messages are
// dead-lettered (the fault already fixed): the page drops DROP_ID's and
// redrives ORDER_ID's. After the step "waiting", the script reads one
// line on stdin: the id of an order placed then, which must show live.
// CHROMIUM names the browser (default /usr/bin/chromium).
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import puppeteer from 'puppeteer-core';

const [base, orderId, dropId, shots] = process.argv.slice(2);
if (!base || !orderId || !dropId) {
  console.error('usage: node tests/js/console.mjs http://127.0.0.1:PORT ORDER_ID DROP_ID [SCREENSHOT_DIR]');
  process.exit(2);
}
const loopback = new Set(['127.0.0.1', 'localhost', '[::1]']);
const step = (name, extra = {}) => console.log(JSON.stringify({ step: name, ...extra }));
const deadline = 60_000;
const item = `orders/${orderId}`;
const stdin = createInterface({ input: process.stdin });
const nextLine = () => new Promise((resolve) => stdin.once('line', (l) => resolve(l.trim())));

const profile = mkdtempSync(join(tmpdir(), 'console-chromium-'));
const browser = await puppeteer.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  headless: true,
  args: [
    '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync',
    `--user-data-dir=${profile}`,
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
  stdin.close();
  await browser.close();
  rmSync(profile, { recursive: true, force: true });
}
process.exit(failed ? 1 : 0);

async function run(browser) {
  const page = await browser.newPage();
  await page.setViewport({ width: 1400, height: 860 });
  page.setDefaultTimeout(deadline);
  const problems = [];
  const external = [];
  page.on('pageerror', (err) => problems.push(`page error: ${err.message}`));
  page.on('console', (msg) => {
    // A failed load is reported with its address below.
    if (msg.type() === 'error' && !msg.text().startsWith('Failed to load resource')) problems.push(`console error: ${msg.text()}`);
  });
  page.on('response', (r) => {
    if (r.status() >= 400) problems.push(`${r.request().method()} ${r.url()}: ${r.status()}`);
  });
  await page.setRequestInterception(true);
  page.on('request', (req) => {
    const u = new URL(req.url());
    if (u.protocol.startsWith('http') && !loopback.has(u.hostname)) {
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
  const shot = async (name) => {
    if (shots) await page.screenshot({ path: join(shots, `console-${name}.png`) });
  };

  // What happened before the page opened shows at once.
  // /console, as make dev's banner names it, leads to the page.
  const resp = await page.goto(`${base}/console`, { waitUntil: 'load' });
  if (resp.status() !== 200 || !page.url().endsWith('/console/')) throw new Error(`GET /console: ${resp.status()} at ${page.url()}`);
  const csp = resp.headers()['content-security-policy'] || '';
  if (!csp.includes("script-src 'self'")) throw new Error(`CSP ${csp}`);
  const rowsOf = (key) => page.$$eval('#events-body tr', (trs, key) => trs
    .filter((tr) => tr.children[1].textContent === key)
    .map((tr) => ({ id: tr.dataset.event, op: tr.children[2].textContent, summary: tr.children[3].textContent, fresh: tr.classList.contains('fresh') })), key);
  await page.waitForFunction((key) => [...document.querySelectorAll('#events-body tr td:nth-child(2)')].filter((td) => td.textContent === key).length >= 4, {}, item);
  const history = await rowsOf(item);
  check();
  step('recent', { rows: history.length, summaries: history.map((r) => r.summary) });

  // A change committed while the page is open arrives over the stream.
  await page.waitForSelector('#live.on');
  step('waiting');
  const live = `orders/${await nextLine()}`;
  await page.waitForFunction((key) => [...document.querySelectorAll('#events-body tr.fresh td:nth-child(2)')].some((td) => td.textContent === key), {}, live);
  step('live', { item: live });

  // The APPROVED change: assign-driver dead-lettered it, with the reason.
  const approved = (await rowsOf(item)).find((r) => r.summary.endsWith('→ "APPROVED"'));
  if (!approved) throw new Error(`no APPROVED change of ${item}: ${JSON.stringify(await rowsOf(item))}`);
  await page.click(`#events-body tr[data-event="${approved.id}"] td.summary`);
  await page.waitForSelector('#event-detail table.deliveries');
  const deliveries = await page.$$eval('#event-detail table.deliveries tbody.delivery', (bs) => bs.map((b) => ({
    route: b.querySelector('td.route').textContent, outcome: b.querySelector('td.outcome').textContent, error: b.querySelector('td.err')?.textContent || '',
  })));
  const dl = deliveries.find((d) => d.route === 'assign-driver');
  if (!dl || dl.outcome !== 'dead-lettered' || !dl.error.includes('dispatch zone')) throw new Error(`deliveries ${JSON.stringify(deliveries)}`);
  // The subscriber of the order was pushed the change.
  await page.waitForFunction(() => [...document.querySelectorAll('#event-detail h3')].some((h) => /^Realtime pushes \([1-9]/.test(h.textContent)));
  const pushes = await page.$$eval('#event-detail table.pushes tbody tr', (trs) => trs.map((tr) => ({ topic: tr.children[1].textContent, outcome: tr.children[4].textContent })));
  check();
  await shot('events');
  step('event', { deliveries, pushes });

  // Its correlation id opens the request's trace: the changes it caused
  // and each function run, from the order's placement on.
  await page.click('#event-detail dd a[href^="#/trace/"]');
  await page.waitForSelector('#trace-out .timeline .tl-row');
  const trace = await page.$$eval('#trace-out .tl-row', (rows) => rows.map((r) => ({ kind: r.dataset.kind, what: r.querySelector('.what').textContent })));
  const changes = trace.filter((r) => r.kind === 'change');
  if (!changes.length || !changes[0].what.includes('INSERT') || !trace.some((r) => r.kind === 'delivery' && r.what.includes('dead-lettered')) ||
      !trace.some((r) => r.kind === 'push')) {
    throw new Error(`trace ${JSON.stringify(trace)}`);
  }
  check();
  await shot('trace');
  step('trace', {
    changes: changes.length, deliveries: trace.filter((r) => r.kind === 'delivery').length, pushes: trace.filter((r) => r.kind === 'push').length,
    first: changes[0].what, last: trace[trace.length - 1].kind,
  });

  // The order's history, oldest first.
  await page.goto(`${base}/console/#/item/${item}`, { waitUntil: 'load' });
  await page.waitForSelector('#item-out .item-change');
  const statuses = await page.$$eval('#item-out .item-change .head', (hs) => hs.map((h) => h.children[3].textContent));
  if (!statuses[0].includes('PLACED') || !statuses[statuses.length - 1].includes('APPROVED')) throw new Error(`history ${JSON.stringify(statuses)}`);
  check();
  await shot('history');
  step('history', { statuses });

  // The dead letters, with their reason; Drop deletes one (after the
  // question), Redrive all sends the other back.
  await page.click('nav a[data-view="dlq"]');
  const card = '#dlq-out .dlq-route[data-route="assign-driver"]';
  const messages = () => page.$$eval(`${card} tbody tr[data-message]`, (trs) => trs.map((tr) => ({
    id: tr.dataset.message, item: tr.children[2].textContent, reason: tr.querySelector('td.err').textContent,
  })));
  await page.waitForFunction((card) => document.querySelectorAll(`${card} tbody tr[data-message]`).length === 2, {}, card);
  const listed = await messages();
  for (const m of listed) {
    if (!m.reason.includes('dispatch zone')) throw new Error(`messages ${JSON.stringify(listed)}`);
  }
  const badge = await page.$eval('#dlq-badge', (b) => b.textContent);
  await shot('dlq');
  const victim = listed.find((m) => m.item === `orders/${dropId}`);
  if (!victim) throw new Error(`no message of orders/${dropId}: ${JSON.stringify(listed)}`);
  let question = '';
  page.once('dialog', (d) => { question = d.message(); d.accept(); });
  await page.click(`${card} tr[data-message="${victim.id}"] button.danger`);
  await page.waitForFunction((card) => document.querySelector(`${card} .count`)?.textContent === '1 message(s)', {}, card);
  await page.waitForFunction((card) => document.querySelectorAll(`${card} tbody tr[data-message]`).length === 1, {}, card);
  const left = await messages();
  if (left[0].item !== item || !question.includes('deleted for good')) throw new Error(`after the drop: ${JSON.stringify(left)}, asked ${question}`);
  step('drop', { badge, question });
  await page.click(`${card} button[data-action="redrive-all"]`);
  await page.waitForFunction((card) => document.querySelector(`${card} .count`)?.textContent === '0 message(s)', {}, card);
  step('redrive', { reason: left[0].reason });

  // The redriven message runs: the driver assignment shows live.
  await page.click('nav a[data-view="events"]');
  await page.waitForFunction((key) => [...document.querySelectorAll('#events-body tr')]
    .some((tr) => tr.children[1].textContent === key && tr.children[3].textContent.endsWith('→ "DRIVER_ASSIGNED"')), {}, item);
  check();
  step('assigned');
}
