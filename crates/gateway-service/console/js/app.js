// The console's shell: a hash router (`#/customers`, `#/bills/5`…) that renders one page
// at a time into <main>, marks the current menu entry and moves the focus to the page's
// heading, so the whole console works from the keyboard.

import { h, replace, problem, say } from './ui.js';
import * as home from './home.js';
import * as entities from './entities.js';
import * as bills from './bills.js';
import * as newBill from './new-bill.js';
import * as system from './system.js';
import * as auth from './auth.js';

const routes = [
  [/^\/$/, (view) => home.render(view)],
  [/^\/customers$/, (view, _, params) => entities.render(view, entities.CUSTOMERS, params)],
  [/^\/products$/, (view, _, params) => entities.render(view, entities.PRODUCTS, params)],
  [/^\/bills$/, (view, _, params) => bills.renderList(view, params)],
  [/^\/bills\/(\d+)$/, (view, match) => bills.renderInvoice(view, Number(match[1]))],
  [/^\/new-bill$/, (view, _, params) => newBill.render(view, params)],
  [/^\/system$/, (view) => system.render(view)],
];

let rendering = 0;
// The first page leaves the focus at the top of the document (the skip link comes first);
// every later one moves it to the new page's heading.
let first = true;

async function show() {
  const [path, search = ''] = (location.hash.slice(1) || '/').split('?');
  const params = new URLSearchParams(search);
  const view = document.getElementById('view');
  const turn = ++rendering;
  const initial = first;
  first = false;
  say(''); // a message belongs to the page it was said on
  for (const a of document.querySelectorAll('header nav a')) {
    const target = a.getAttribute('href').slice(1);
    const current = target === '/' ? path === '/' : path === target || path.startsWith(`${target}/`);
    if (current) a.setAttribute('aria-current', 'page'); else a.removeAttribute('aria-current');
  }
  const route = routes.find(([pattern]) => pattern.test(path));
  if (!route) {
    replace(view, h('h1', { tabindex: '-1' }, 'Not found'), problem(`There is no page at ${path}.`));
    if (!initial) focusHeading(view);
    return;
  }
  const container = h('div', { class: 'page' });
  replace(view, container);
  try {
    await route[1](container, path.match(route[0]), params);
  } catch (e) {
    if (turn === rendering) container.append(problem(e.message));
  }
  if (turn === rendering) {
    const name = container.querySelector('h1');
    document.title = name ? `${name.textContent} — factura` : 'factura';
    if (!initial) focusHeading(view);
  }
}

function focusHeading(view) {
  const heading = view.querySelector('h1');
  if (heading && !view.contains(document.activeElement)) heading.focus({ preventScroll: true });
}

/** The sign-in area of the header, and the menu entries the user's roles allow. */
function renderAccount() {
  const area = document.getElementById('account');
  for (const link of document.querySelectorAll('[data-writes]')) link.parentElement.hidden = !auth.canWrite();
  if (!auth.secured()) {
    replace(area);
    return;
  }
  if (auth.session.user) {
    replace(area, h('span', { class: 'user' }, `${auth.session.user} (${auth.canWrite() ? 'can edit' : 'read only'})`),
      h('button', { type: 'button', onclick: () => { auth.signOut(); renderAccount(); show(); } }, 'Sign out'));
  } else {
    replace(area, h('button', { type: 'button', class: 'sign-in', onclick: () => auth.signIn().catch((e) => say(`Cannot sign in: ${e.message}`, 'error')) }, 'Sign in'));
  }
}

window.addEventListener('hashchange', show);
auth.start().then((message) => {
  renderAccount();
  show();
  if (message) say(message, 'error');
}, (error) => {
  renderAccount();
  show();
  say(`Sign-in failed: ${error.message}`, 'error');
});
