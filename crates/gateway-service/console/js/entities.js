// Customers and products: a paged, sortable list with a search by name, and a form to
// create, edit (with If-Match, so a stale edit is caught) and delete — all through the
// Spring Data REST resources and the links they return.

import { call, get, link, embedded, query, idOf, ApiError } from './api.js';
import { h, replace, say, problem, heading, field } from './ui.js';
import { money } from './money.js';
import { canWrite } from './auth.js';

export const CUSTOMERS = {
  title: 'Customers',
  one: 'customer',
  collection: 'customers',
  fields: [
    { name: 'name', label: 'Name', input: { required: true, autocomplete: 'off' } },
    { name: 'email', label: 'E-mail', input: { type: 'email', autocomplete: 'off' } },
  ],
  columns: [
    { name: 'id', label: 'Id', sortable: true },
    { name: 'name', label: 'Name', sortable: true },
    { name: 'email', label: 'E-mail', sortable: true },
  ],
};

export const PRODUCTS = {
  title: 'Products',
  one: 'product',
  collection: 'products',
  fields: [
    { name: 'name', label: 'Name', input: { required: true, autocomplete: 'off' } },
    { name: 'price', label: 'Unit price', input: { inputmode: 'decimal', required: true }, money: true },
    { name: 'quantity', label: 'Stock', input: { type: 'number', min: 0, step: 1, required: true }, integer: true },
  ],
  columns: [
    { name: 'id', label: 'Id', sortable: true },
    { name: 'name', label: 'Name', sortable: true },
    { name: 'price', label: 'Unit price', sortable: true, numeric: true, show: money },
    { name: 'quantity', label: 'Stock', sortable: true, numeric: true },
  ],
};

const PAGE_SIZE = 10;

/** The list page of `kind`; `params` carries page, sort and the name searched for. */
export async function render(view, kind, params) {
  const state = {
    page: Number(params.get('page') || 0),
    sort: params.get('sort') || 'id,asc',
    name: params.get('name') || '',
  };
  const search = h('input', { type: 'search', name: 'name', value: state.name, 'aria-label': `Search ${kind.title.toLowerCase()} by name`, placeholder: 'Search by name' });
  const searchForm = h('form', { class: 'toolbar', role: 'search', onsubmit: (e) => {
    e.preventDefault();
    go(kind, { ...state, page: 0, name: search.value.trim() });
  } }, search, h('button', { type: 'submit' }, 'Search'),
  state.name ? h('button', { type: 'button', onclick: () => go(kind, { ...state, page: 0, name: '' }) }, 'Clear') : null,
  h('span', { class: 'grow' }),
  canWrite() ? h('button', { type: 'button', class: 'primary', onclick: () => openForm(view, kind, null) }, `New ${kind.one}`) : null);
  const listArea = h('div', { class: 'list-area' });
  const formArea = h('div', { class: 'form-area' });
  replace(view, heading(kind.title), searchForm, formArea, listArea);
  view.reloadList = () => loadList(listArea, view, kind, state);
  await view.reloadList();
}

function go(kind, state) {
  location.hash = `#/${kind.collection}${query({ page: state.page || undefined, sort: state.sort === 'id,asc' ? undefined : state.sort, name: state.name })}`;
}

async function loadList(area, view, kind, state) {
  const params = { page: state.page, size: PAGE_SIZE, sort: state.sort };
  let path = `/${kind.collection}`;
  if (state.name) {
    // The search link the collection advertises (`…/search/byName{?name,page,size,sort}`).
    const searches = await get(`/${kind.collection}/search`);
    path = link(searches, 'byName');
    params.name = state.name;
  }
  const document = await get(path + query(params));
  const items = embedded(document, kind.collection);
  const page = document.page || { number: 0, totalPages: 1, totalElements: items.length };
  const [sortField, sortDirection] = state.sort.split(',');
  const header = h('tr', {}, kind.columns.map((column) => {
    if (!column.sortable) return h('th', { scope: 'col' }, column.label);
    const active = sortField === column.name;
    const next = active && sortDirection === 'asc' ? 'desc' : 'asc';
    return h('th', { scope: 'col', class: column.numeric ? 'num' : null, 'aria-sort': active ? (sortDirection === 'asc' ? 'ascending' : 'descending') : 'none' },
      h('button', { type: 'button', class: 'sort', onclick: () => go(kind, { ...state, page: 0, sort: `${column.name},${next}` }) },
        column.label, h('span', { 'aria-hidden': 'true' }, active ? (sortDirection === 'asc' ? ' ▲' : ' ▼') : '')));
  }), h('th', { scope: 'col' }, h('span', { class: 'visually-hidden' }, 'Actions')));
  const rows = items.map((item) => h('tr', {},
    kind.columns.map((column) => {
      const value = column.name === 'id' ? idOf(item) : item[column.name];
      return h('td', { class: column.numeric ? 'num' : null, 'data-label': column.label }, column.show ? column.show(value) : value ?? '—');
    }),
    h('td', { class: 'actions' },
      kind === CUSTOMERS ? h('a', { href: `#/bills?customer=${idOf(item)}` }, 'Bills') : null,
      canWrite() ? [
        h('button', { type: 'button', onclick: () => openForm(view, kind, link(item, 'self')) }, 'Edit', h('span', { class: 'visually-hidden' }, ` ${item.name}`)),
        h('button', { type: 'button', class: 'danger', onclick: () => remove(view, kind, item) }, 'Delete', h('span', { class: 'visually-hidden' }, ` ${item.name}`))] : null)));
  const table = items.length
    ? h('table', { class: 'data' }, h('caption', { class: 'visually-hidden' }, `${kind.title}, sortable by column`), h('thead', {}, header), h('tbody', {}, rows))
    : h('p', { class: 'muted' }, state.name ? `No ${kind.collection} named like “${state.name}”.` : `No ${kind.collection} yet.`);
  const pager = h('nav', { class: 'pager', 'aria-label': 'Pages' },
    h('button', { type: 'button', disabled: !link(document, 'prev'), onclick: () => go(kind, { ...state, page: page.number - 1 }) }, '← Previous'),
    h('span', {}, `Page ${page.totalPages ? page.number + 1 : 0} of ${page.totalPages} · ${page.totalElements} ${kind.collection}`),
    h('button', { type: 'button', disabled: !link(document, 'next'), onclick: () => go(kind, { ...state, page: page.number + 1 }) }, 'Next →'));
  replace(area, table, pager);
}

/** The create form (`href` null) or the edit form of the item at `href`. */
async function openForm(view, kind, href) {
  const area = view.querySelector('.form-area');
  const inputs = Object.fromEntries(kind.fields.map((f) => [f.name, field(f.label, f.name, f.input)]));
  const message = h('div', { class: 'form-message' });
  let etag = null;
  const fill = async () => {
    const answer = await call(href);
    etag = answer.etag;
    for (const f of kind.fields) {
      const value = answer.body[f.name];
      inputs[f.name].input.value = value === null || value === undefined ? '' : (f.money ? money(value).replace(/,/g, '') : value);
      inputs[f.name].setError(null);
    }
  };
  const form = h('form', { class: 'card', novalidate: true, 'aria-label': href ? `Edit ${kind.one}` : `New ${kind.one}` },
    h('h2', {}, href ? `Edit ${kind.one}` : `New ${kind.one}`),
    kind.fields.map((f) => inputs[f.name].element),
    message,
    h('div', { class: 'buttons' },
      h('button', { type: 'submit', class: 'primary' }, href ? 'Save' : 'Create'),
      h('button', { type: 'button', onclick: () => replace(area) }, 'Cancel')));
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    replace(message);
    const body = {};
    for (const f of kind.fields) {
      const text = inputs[f.name].input.value.trim();
      inputs[f.name].setError(null);
      // Sent as typed: the server validates and answers on the field (a blank name, a bad
      // e-mail, a price with three decimals).
      body[f.name] = text === '' ? null : (f.money || f.integer) && !Number.isNaN(Number(text)) ? Number(text) : text;
    }
    try {
      const answer = href
        ? await call(href, { method: 'PUT', body, ifMatch: etag })
        : await call(`/${kind.collection}`, { method: 'POST', body });
      say(href ? `Saved ${body.name}.` : `Created ${body.name}.`);
      replace(area);
      if (answer.etag) etag = answer.etag;
      await view.reloadList();
    } catch (error) {
      showError(error, kind, inputs, message, href ? async () => { await fill(); replace(message); say('Reloaded the current version.'); } : null);
    }
  });
  replace(area, form);
  if (href) {
    try { await fill(); } catch (error) { replace(area, problem(error.message)); return; }
  }
  inputs[kind.fields[0].name].input.focus();
}

function showError(error, kind, inputs, message, reload) {
  if (!(error instanceof ApiError)) throw error;
  let onField = false;
  for (const [name, text] of Object.entries(error.fields)) {
    if (inputs[name]) { inputs[name].setError(text); onField = true; }
  }
  if (error.status === 409 && kind === CUSTOMERS && /e-?mail/i.test(error.message)) {
    inputs.email.setError(error.message);
    onField = true;
  }
  if (error.status === 412 && reload) {
    replace(message, problem(`This ${kind.one} was changed by someone else since you opened it. Reload it to see the current version, then make your change again.`,
      h('button', { type: 'button', class: 'primary', onclick: reload }, 'Reload')));
    message.querySelector('button').focus();
    return;
  }
  if (onField) {
    replace(message, problem(`The ${kind.one} was not saved: see the marked fields.`));
    const first = Object.values(inputs).find((i) => i.input.getAttribute('aria-invalid'));
    if (first) first.input.focus();
  } else {
    replace(message, problem(`The ${kind.one} was not saved: ${error.message}`));
  }
}

async function remove(view, kind, item) {
  if (!window.confirm(`Delete ${kind.one} ${item.name}?`)) return;
  try {
    await call(link(item, 'self'), { method: 'DELETE' });
    say(`Deleted ${item.name}.`);
    await view.reloadList();
  } catch (error) {
    say(`${item.name} was not deleted: ${error.message}`, 'error');
  }
}
