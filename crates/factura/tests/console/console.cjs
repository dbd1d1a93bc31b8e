// The console in a real browser: Debian's chromium driven by playwright-core, against a
// fleet the Rust test (tests/console.rs) started. Each case is a function; the first failure
// ends the run with exit code 1 and says which case and why.
//
// Environment: CONSOLE_BASE (the gateway, http://127.0.0.1:port), SCREENSHOTS (a folder),
// CHROMIUM (the browser). The Rust side reads `ASK <what>` lines on stdout, does it (kills
// customer-service) and answers `done` on stdin.

const { chromium } = require('playwright-core');
const assert = require('node:assert/strict');
const path = require('node:path');
const readline = require('node:readline');

const BASE = process.env.CONSOLE_BASE;
const SHOTS = process.env.SCREENSHOTS;
const FLAGS = ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync'];

const answers = readline.createInterface({ input: process.stdin });
const pending = [];
answers.on('line', (line) => { const next = pending.shift(); if (next) next(line); });
/** Asks the Rust test to do something to the fleet and waits until it is done. */
function ask(what) {
  return new Promise((resolve) => { pending.push(resolve); console.log(`ASK ${what}`); });
}

/** Console errors and uncaught exceptions, with the statuses the current case expects. */
const problems = [];
let expectedStatuses = [];
function watch(page) {
  page.on('pageerror', (e) => problems.push(`uncaught: ${e.message}`));
  page.on('console', (message) => {
    if (message.type() !== 'error') return;
    const text = message.text();
    // Chromium logs every 4xx/5xx answer to fetch; a case that provokes one says so.
    const status = /status of (\d{3})/.exec(text);
    if (status && expectedStatuses.includes(Number(status[1]))) return;
    problems.push(`console: ${text}`);
  });
}

async function shot(page, name) {
  const file = path.join(SHOTS, `${name}.png`);
  await page.screenshot({ path: file, fullPage: true });
}

async function api(method, url, body, headers = {}) {
  const response = await fetch(`${BASE}${url}`, {
    method,
    headers: { 'Content-Type': 'application/json', Accept: 'application/json', ...headers },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await response.text();
  return { status: response.status, etag: response.headers.get('ETag'), body: text ? JSON.parse(text) : null };
}

/** Waits until the console's address (its hash route) contains `text`. */
const hashHas = (page, text) => page.waitForFunction((t) => decodeURIComponent(location.hash).includes(t), text);

/** The main menu's link `name`. */
const menu = (page, name) => page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name, exact: true });

const fieldError = (form, name) => form.locator(`[name=${name}] ~ .field-error`);

/** Fills the open create/edit form and submits it. */
async function submitForm(page, values) {
  const form = page.locator('.form-area form');
  for (const [name, value] of Object.entries(values)) await form.locator(`[name=${name}]`).fill(value);
  await form.locator('button[type=submit]').click();
  return form;
}

const cases = {
  async home(page) {
    await page.goto(`${BASE}/`);
    assert.match(page.url(), /\/console\/$/, '/ leads to the console');
    await page.locator('[data-tile=customers] .value').filter({ hasText: /^\d+$/ }).waitFor();
    assert.equal(await page.locator('[data-tile=customers] .value').textContent(), '3');
    assert.equal(await page.locator('[data-tile=products] .value').textContent(), '3');
    assert.equal(await page.locator('[data-tile=revenue-total] .value').textContent(), '2,450.00');
    await page.locator('svg.chart rect.bar:not(.empty)').first().waitFor();
    await page.locator('table.health tr[data-service=CUSTOMER-SERVICE] .badge.up').waitFor();
    await page.getByRole('cell', { name: 'Computer Desk', exact: true }).waitFor();
    await shot(page, 'home');
  },

  async journey(page) {
    // A customer…
    await menu(page, 'Customers').click();
    await page.getByRole('button', { name: 'New customer' }).click();
    await submitForm(page, { name: 'Zoé Martin', email: 'zoe@example.com' });
    await page.getByRole('cell', { name: 'Zoé Martin', exact: true }).waitFor();
    await page.getByRole('searchbox').fill('zoé');
    await page.getByRole('button', { name: 'Search', exact: true }).click();
    await page.locator('text=Page 1 of 1 · 1 customers').waitFor();
    await shot(page, 'customers');
    // …a product, priced to the cent…
    await menu(page, 'Products').click();
    await page.getByRole('button', { name: 'New product' }).click();
    await submitForm(page, { name: 'Desk Lamp', price: '19.99', quantity: '10' });
    await page.getByRole('cell', { name: 'Desk Lamp', exact: true }).waitFor();
    await page.getByRole('button', { name: /^Unit price/ }).click();
    await hashHas(page, 'sort=price,asc');
    const first = page.locator('table.data tbody tr').first();
    await first.getByRole('cell', { name: 'Desk Lamp', exact: true }).waitFor();
    assert.equal(await first.locator('td[data-label="Unit price"]').textContent(), '19.99');
    await shot(page, 'products');
    // …billed: three lamps at 10 % off and one printer.
    await menu(page, 'New bill').click();
    const form = page.getByRole('form', { name: 'New bill' });
    await form.getByLabel('Customer').selectOption({ label: 'Zoé Martin (zoe@example.com)' });
    const line = form.locator('tbody tr').nth(0);
    await line.getByLabel('Product').selectOption({ label: 'Desk Lamp — 19.99 (stock 10)' });
    assert.equal(await line.locator('.stock').textContent(), '10');
    await line.getByLabel('Quantity').fill('3');
    await line.getByLabel('Discount in percent').fill('10');
    await form.getByRole('button', { name: 'Add a line' }).click();
    const second = form.locator('tbody tr').nth(1);
    await second.getByLabel('Product').selectOption({ label: 'Printer — 420.00 (stock 8)' });
    // 3 × 19.99 × 0.9 = 53.973 → 53.97; + 420.00
    assert.equal(await form.locator('[data-total=preview]').textContent(), '473.97');
    await shot(page, 'new-bill');
    await form.getByRole('button', { name: 'Create the bill' }).click();
    const invoice = page.locator('article.invoice');
    await invoice.waitFor();
    assert.match(page.url(), /#\/bills\/\d+$/);
    assert.equal(await invoice.locator('.customer-name').textContent(), 'Zoé Martin');
    assert.equal(await invoice.locator('[data-total=total]').textContent(), '473.97');
    const lamp = invoice.locator('tbody tr', { hasText: 'Desk Lamp' });
    assert.equal(await lamp.locator('td[data-label=Amount]').textContent(), '53.97');
    assert.equal(await lamp.locator('td[data-label=Discount]').textContent(), '10 %');
    await shot(page, 'invoice');
    await page.emulateMedia({ media: 'print' });
    assert.equal(await page.locator('header.top').isVisible(), false, 'print hides the menu');
    await shot(page, 'invoice-print');
    await page.emulateMedia({ media: 'screen' });
    // The customer's bills list it; the stock went down.
    await invoice.getByRole('link', { name: 'This customer’s bills' }).click();
    await page.getByRole('heading', { name: 'Bills of Zoé Martin' }).waitFor();
    await page.locator('table.data tbody tr').first().waitFor();
    assert.equal(await page.locator('table.data tbody tr').count(), 1);
    await shot(page, 'bills');
    const lamps = (await api('GET', '/products/search/byName?name=Desk%20Lamp')).body._embedded.products;
    assert.equal(lamps[0].quantity, 7, 'the bill reserved three lamps');
  },

  async validation(page) {
    expectedStatuses = [400, 409];
    await page.goto(`${BASE}/console/#/customers`);
    await page.getByRole('button', { name: 'New customer' }).click();
    let form = await submitForm(page, { name: '', email: 'not an e-mail' });
    await fieldError(form, 'name').filter({ hasText: /./ }).waitFor();
    await fieldError(form, 'email').filter({ hasText: /./ }).waitFor();
    assert.equal(await form.locator('[name=name]').getAttribute('aria-invalid'), 'true');
    await shot(page, 'validation');
    form = await submitForm(page, { name: 'Another Hassan', email: 'hassan@mail.com' });
    await fieldError(form, 'email').filter({ hasText: /hassan@mail.com|e-?mail/i }).waitFor();
    assert.equal(await fieldError(form, 'name').isVisible(), false);
    await menu(page, 'Products').click();
    await page.getByRole('button', { name: 'New product' }).click();
    form = await submitForm(page, { name: 'Odd price', price: '1.234', quantity: '1' });
    await fieldError(form, 'price').filter({ hasText: /./ }).waitFor();
    // Nothing was stored.
    assert.equal((await api('GET', '/customers/search/byName?name=Another')).body.page.totalElements, 0);
    assert.equal((await api('GET', '/products/search/byName?name=Odd')).body.page.totalElements, 0);
    // A bill the server refuses: more lamps than there are.
    expectedStatuses = [409];
    await menu(page, 'New bill').click();
    const bill = page.getByRole('form', { name: 'New bill' });
    await bill.getByLabel('Customer').selectOption({ label: 'Ali (ali@mail.com)' });
    await bill.getByLabel('Product').selectOption({ label: 'Desk Lamp — 19.99 (stock 7)' });
    await bill.getByLabel('Quantity').fill('50');
    assert.equal(await bill.locator('.stock.short').count(), 1, 'short stock is marked before sending');
    await bill.getByRole('button', { name: 'Create the bill' }).click();
    await bill.getByRole('alert').filter({ hasText: /not enough stock of product \d+ \(Desk Lamp\): 50 requested, 7 available/ }).waitFor();
    await shot(page, 'new-bill-refused');
    expectedStatuses = [];
  },

  async staleEdit(page) {
    expectedStatuses = [412];
    await page.goto(`${BASE}/console/#/customers?name=Mohamed`);
    await page.getByRole('button', { name: 'Edit Mohamed' }).click();
    const form = page.locator('.form-area form');
    await form.locator('[name=name]').waitFor();
    await page.waitForFunction(() => document.querySelector('.form-area [name=name]').value === 'Mohamed');
    // Another writer changes the customer meanwhile.
    const current = await api('GET', '/customers/2');
    const changed = await api('PUT', '/customers/2', { name: 'Mohamed Ali', email: 'mohamed@mail.com' }, { 'If-Match': current.etag });
    assert.equal(changed.status, 200);
    await submitForm(page, { name: 'Mohamed B.' });
    await form.getByRole('alert').filter({ hasText: 'changed by someone else' }).waitFor();
    await shot(page, 'stale-edit');
    await form.getByRole('button', { name: 'Reload' }).click();
    await page.waitForFunction(() => document.querySelector('.form-area [name=name]').value === 'Mohamed Ali');
    await submitForm(page, { name: 'Mohamed B.' });
    await page.getByRole('cell', { name: 'Mohamed B.', exact: true }).waitFor();
    assert.equal((await api('GET', '/customers/2')).body.name, 'Mohamed B.');
    expectedStatuses = [];
  },

  async keyboard(page) {
    await page.goto(`${BASE}/console/#/`);
    await page.reload(); // a fresh document: the focus starts at its top
    await page.locator('[data-tile=customers] .value').filter({ hasText: /^\d+$/ }).waitFor();
    await page.keyboard.press('Tab');
    assert.equal(await page.evaluate(() => document.activeElement.textContent), 'Skip to content');
    const focusedText = () => page.evaluate(() => document.activeElement.textContent.trim());
    for (let i = 0; i < 10 && (await focusedText()) !== 'Customers'; i++) await page.keyboard.press('Tab');
    assert.equal(await focusedText(), 'Customers');
    await page.keyboard.press('Enter');
    await page.getByRole('heading', { name: 'Customers', level: 1 }).waitFor();
    await page.waitForFunction(() => document.activeElement.tagName === 'H1');
    for (let i = 0; i < 10 && (await focusedText()) !== 'New customer'; i++) await page.keyboard.press('Tab');
    assert.equal(await focusedText(), 'New customer');
    await page.keyboard.press('Enter');
    await page.waitForFunction(() => document.activeElement.name === 'name');
    await page.keyboard.type('Keyboard User');
    await page.keyboard.press('Tab');
    await page.keyboard.type('keys@example.com');
    await page.keyboard.press('Enter');
    await page.getByRole('cell', { name: 'Keyboard User', exact: true }).waitFor();
    // Sorting from the keyboard.
    await page.getByRole('button', { name: /^Name/ }).focus();
    await page.keyboard.press('Enter');
    await hashHas(page, 'sort=name,asc');
    assert.equal(await page.locator('th[aria-sort=ascending]').textContent(), 'Name ▲');
  },

  async system(page) {
    await page.goto(`${BASE}/console/#/system`);
    for (const app of ['BILLING-SERVICE', 'CONFIG-SERVICE', 'CUSTOMER-SERVICE', 'INVENTORY-SERVICE', 'GATEWAY-SERVICE']) {
      await page.locator(`section[data-app=${app}] tbody tr`).first().waitFor();
    }
    await page.locator('section[data-app=CUSTOMER-SERVICE] td[data-label="Config version"]', { hasText: process.env.CONFIG_VERSION }).waitFor();
    await page.locator('section[data-app=BILLING-SERVICE] .instance-health .badge.up').waitFor();
    await shot(page, 'system');
  },

  async phone(page) {
    await page.setViewportSize({ width: 390, height: 844 });
    for (const [name, hash, ready] of [
      ['phone-home', '#/', '[data-tile=bills] .value'],
      ['phone-customers', '#/customers', 'table.data tbody tr'],
      ['phone-invoice', '#/bills/1', 'article.invoice'],
      ['phone-new-bill', '#/new-bill', 'form[aria-label="New bill"]'],
    ]) {
      await page.goto(`${BASE}/console/${hash}`);
      await page.locator(ready).first().waitFor();
      await page.waitForLoadState('networkidle');
      const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
      assert.ok(overflow <= 0, `${hash} is ${overflow}px wider than a phone`);
      await shot(page, name);
    }
    await page.setViewportSize({ width: 1280, height: 900 });
  },

  async degraded(page) {
    // A session under way when customer-service dies: a bill being written…
    await page.goto(`${BASE}/console/#/new-bill`);
    const form = page.getByRole('form', { name: 'New bill' });
    await form.getByLabel('Customer').selectOption({ label: 'Ali (ali@mail.com)' });
    await form.getByLabel('Product').selectOption({ label: 'Printer — 420.00 (stock 7)' });
    await ask('kill customer-service');
    expectedStatuses = [502, 503, 504];
    await form.getByRole('button', { name: 'Create the bill' }).click();
    await form.getByRole('alert').filter({ hasText: /unreachable, nothing was stored: .*customer-service/i }).waitFor();
    await shot(page, 'new-bill-unreachable');
    // …and an invoice read again.
    await page.goto(`${BASE}/console/#/bills/1`);
    const invoice = page.locator('article.invoice');
    await invoice.waitFor();
    await invoice.locator('.degraded-banner').filter({ hasText: /customer/ }).waitFor();
    await invoice.locator('.bill-to .degraded').waitFor();
    assert.equal(await invoice.locator('[data-total=total]').textContent(), '2,450.00', 'amounts stay exact');
    assert.equal(await invoice.locator('tbody tr', { hasText: 'Computer Desk' }).count(), 1, 'products still named');
    await shot(page, 'invoice-degraded');
    // The System page shows the dead instance as such, the others UP.
    await page.goto(`${BASE}/console/#/system`);
    await page.locator('section[data-app=CUSTOMER-SERVICE] .instance-health .badge.unreachable').waitFor();
    await page.locator('section[data-app=BILLING-SERVICE] .instance-health .badge.up').waitFor();
    await shot(page, 'system-degraded');
    await page.goto(`${BASE}/console/#/`);
    await page.locator('table.health tr[data-service=CUSTOMER-SERVICE] .badge.down').waitFor();
    await page.locator('table.health tr[data-service=INVENTORY-SERVICE] .badge.up').waitFor();
    await shot(page, 'home-degraded');
    expectedStatuses = [];
  },
};

(async () => {
  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    headless: true,
    args: FLAGS,
  });
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  context.setDefaultTimeout(15000);
  const page = await context.newPage();
  watch(page);
  page.on('dialog', (dialog) => dialog.accept());
  let failed = false;
  for (const [name, run] of Object.entries(cases)) {
    const before = problems.length;
    try {
      await run(page);
      assert.deepEqual(problems.slice(before), [], 'no console errors');
      console.log(`ok ${name}`);
    } catch (error) {
      failed = true;
      console.log(`FAILED ${name}: ${error.stack || error}`);
      await shot(page, `failed-${name}`).catch(() => {});
      break;
    }
  }
  await browser.close();
  answers.close();
  process.exit(failed ? 1 : 0);
})();
