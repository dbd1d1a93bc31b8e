// Sign-in in a real browser against a real Keycloak (tests/console.rs starts both): the
// authorization-code flow with PKCE from the console, a clerk (USER) who sees no write action,
// an admin (ADMIN) who sees them and creates a customer with the token on the call.
//
// Environment: CONSOLE_BASE, SCREENSHOTS, CHROMIUM (as for console.cjs).

const { chromium } = require('playwright-core');
const assert = require('node:assert/strict');
const path = require('node:path');

const BASE = process.env.CONSOLE_BASE;
const FLAGS = ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync'];

let current = null;

async function signIn(browser, user, password) {
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  context.setDefaultTimeout(30000);
  const page = await context.newPage();
  current = page;
  const problems = [];
  page.on('pageerror', (e) => problems.push(`uncaught: ${e.message}`));
  page.on('console', (m) => {
    // The customers page asks before the sign-in: its 401 is expected.
    if (m.type() === 'error' && !/status of 401/.test(m.text())) problems.push(m.text());
  });
  await page.goto(`${BASE}/console/#/customers`);
  await page.getByRole('alert').filter({ hasText: 'Sign in' }).waitFor();
  await page.getByRole('button', { name: 'Sign in' }).click();
  // Keycloak's own login page.
  await page.locator('#username').fill(user);
  await page.locator('#password').fill(password);
  await page.locator('#kc-login').click();
  await page.waitForURL(`${BASE}/console/#/customers`);
  await page.getByRole('cell', { name: 'Hassan', exact: true }).waitFor();
  assert.match(await page.locator('#account .user').textContent(), new RegExp(`^${user} `));
  return { context, page, problems };
}

(async () => {
  const browser = await chromium.launch({ executablePath: process.env.CHROMIUM || '/usr/bin/chromium', headless: true, args: FLAGS });
  try {
    const clerk = await signIn(browser, 'clerk', 'clerk');
    assert.equal(await clerk.page.getByRole('button', { name: 'New customer' }).count(), 0, 'a clerk cannot create');
    assert.equal(await clerk.page.getByRole('button', { name: /^Edit/ }).count(), 0, 'a clerk cannot edit');
    assert.equal(await clerk.page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'New bill' }).count(), 0);
    await clerk.page.screenshot({ path: path.join(process.env.SCREENSHOTS, 'signed-in-clerk.png'), fullPage: true });
    assert.deepEqual(clerk.problems, []);
    console.log('ok clerk');

    const admin = await signIn(browser, 'admin', 'admin');
    await admin.page.getByRole('button', { name: 'New customer' }).click();
    const form = admin.page.locator('.form-area form');
    await form.locator('[name=name]').fill('Signed In');
    await form.locator('[name=email]').fill('signed@example.com');
    await form.locator('button[type=submit]').click();
    await admin.page.getByRole('cell', { name: 'Signed In', exact: true }).waitFor();
    await admin.page.screenshot({ path: path.join(process.env.SCREENSHOTS, 'signed-in-admin.png'), fullPage: true });
    // Signing out drops the token: the next read is refused again.
    await admin.page.getByRole('button', { name: 'Sign out' }).click();
    await admin.page.getByRole('button', { name: 'Sign in' }).waitFor();
    assert.deepEqual(admin.problems, []);
    console.log('ok admin');
  } catch (error) {
    console.log(`FAILED: ${error.stack || error}`);
    if (current) await current.screenshot({ path: path.join(process.env.SCREENSHOTS, 'failed-signin.png'), fullPage: true }).catch(() => {});
    await browser.close();
    process.exit(1);
  }
  await browser.close();
  process.exit(0);
})();
