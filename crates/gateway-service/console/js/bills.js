// Bills: every bill or one customer's (the `byCustomerId` search), and the full invoice from
// `/fullBill/{id}` — with the parts a down service could not fill in flagged, and a print
// stylesheet that turns the page into a paper invoice.

import { get, link, embedded, query, idOf, ApiError } from './api.js';
import { h, replace, heading, problem, date } from './ui.js';
import { money, percent } from './money.js';
import { canWrite } from './auth.js';

const PAGE_SIZE = 20;

/** The bills list; `?customer=` limits it to one customer's bills. */
export async function renderList(view, params) {
  const customerId = params.get('customer');
  const page = Number(params.get('page') || 0);
  const title = heading(customerId ? 'Bills of a customer' : 'Bills');
  replace(view, title, canWrite() ? h('p', {}, h('a', { class: 'button primary', href: customerId ? `#/new-bill?customer=${customerId}` : '#/new-bill' }, 'New bill')) : null);
  let customer = null;
  let path;
  const paging = { page, size: PAGE_SIZE, sort: 'billingDate,desc' };
  if (customerId) {
    customer = await get(`/customers/${customerId}`).catch(() => null);
    title.textContent = customer ? `Bills of ${customer.name}` : `Bills of customer ${customerId}`;
    path = link(await get('/bills/search'), 'byCustomerId') + query({ customerId, ...paging });
  } else {
    path = `/bills${query(paging)}`;
  }
  const document = await get(path);
  const bills = embedded(document, 'bills');
  const names = await customerNames(bills.map((b) => b.customerId));
  if (!bills.length) {
    view.append(h('p', { class: 'muted' }, 'No bills yet.'));
    return;
  }
  view.append(h('table', { class: 'data' },
    h('caption', { class: 'visually-hidden' }, 'Bills, newest first'),
    h('thead', {}, h('tr', {}, ['Bill', 'Date', 'Customer'].map((t) => h('th', { scope: 'col' }, t)))),
    h('tbody', {}, bills.map((bill) => h('tr', {},
      h('td', { 'data-label': 'Bill' }, h('a', { href: `#/bills/${idOf(bill)}` }, `Bill ${idOf(bill)}`)),
      h('td', { 'data-label': 'Date' }, date(bill.billingDate)),
      h('td', { 'data-label': 'Customer' }, customerId ? names[bill.customerId] : h('a', { href: `#/bills?customer=${bill.customerId}` }, names[bill.customerId])))))));
  const current = document.page || { number: 0, totalPages: 1 };
  const base = customerId ? `#/bills?customer=${customerId}&` : '#/bills?';
  view.append(h('nav', { class: 'pager', 'aria-label': 'Pages' },
    h('a', { class: 'button', href: `${base}page=${current.number - 1}`, hidden: !link(document, 'prev') }, '← Newer'),
    h('span', {}, `Page ${current.number + 1} of ${current.totalPages}`),
    h('a', { class: 'button', href: `${base}page=${current.number + 1}`, hidden: !link(document, 'next') }, 'Older →')));
}

/** The names of these customers (one call each, concurrently); a placeholder for the unreadable. */
export async function customerNames(ids) {
  const unique = [...new Set(ids)];
  const found = await Promise.all(unique.map((id) => get(`/customers/${id}`).then((c) => c.name, () => `customer ${id}`)));
  return Object.fromEntries(unique.map((id, i) => [id, found[i]]));
}

/** The full invoice of bill `id`. */
export async function renderInvoice(view, id) {
  replace(view, heading(`Bill ${id}`));
  let bill;
  try {
    bill = await get(`/fullBill/${id}`);
  } catch (error) {
    if (error instanceof ApiError && error.status === 404) {
      view.append(problem(`There is no bill ${id}.`));
      return;
    }
    throw error;
  }
  view.append(invoice(bill));
}

/** The invoice document of a full bill (also shown after a bill is created). */
export function invoice(bill) {
  const unavailable = (what) => h('span', { class: 'degraded', title: `${what} could not be read` }, 'unavailable');
  const customer = bill.customer;
  const missing = bill.missing || [];
  const number = bill.invoiceNumber ? `Invoice ${bill.invoiceNumber}` : `Draft bill ${bill.id}`;
  return h('article', { class: 'invoice', 'aria-label': number },
    h('header', { class: 'invoice-head' },
      h('div', {},
        h('p', { class: 'seller' }, 'factura'),
        h('h2', {}, number),
        h('p', {}, `Date: ${date(bill.billingDate)}`),
        bill.issuedAt ? h('p', {}, `Issued: ${date(bill.issuedAt)}`) : null,
        h('p', {}, 'Status: ', h('span', { class: `badge ${String(bill.status).toLowerCase()}` }, bill.status)),
        bill.creditNoteNumber ? h('p', {}, `Cancelled by credit note ${bill.creditNoteNumber}`) : null),
      h('div', { class: 'bill-to' },
        h('p', { class: 'label' }, 'Bill to'),
        customer
          ? [h('p', { class: 'customer-name' }, customer.name), h('p', {}, customer.email || '')]
          : [h('p', {}, `Customer ${bill.customerId}`), h('p', {}, unavailable('The customer'))])),
    bill.complete === false
      ? h('div', { class: 'problem degraded-banner', role: 'alert' },
        h('p', {}, h('strong', {}, 'Incomplete invoice: '), 'some parts could not be read because a service did not answer. Amounts are exact; names may be missing.'),
        h('ul', {}, missing.map((m) => h('li', {}, `${m.part}: ${m.reason}`))))
      : null,
    h('table', { class: 'data lines' },
      h('caption', { class: 'visually-hidden' }, 'Invoice lines'),
      h('thead', {}, h('tr', {},
        h('th', { scope: 'col' }, 'Product'), h('th', { scope: 'col', class: 'num' }, 'Unit price'),
        h('th', { scope: 'col', class: 'num' }, 'Quantity'), h('th', { scope: 'col', class: 'num' }, 'Discount'),
        h('th', { scope: 'col', class: 'num' }, 'VAT'), h('th', { scope: 'col', class: 'num' }, 'Amount'))),
      h('tbody', {}, (bill.productItems || []).map((item) => h('tr', {},
        h('td', { 'data-label': 'Product' }, item.product ? item.product.name : [`Product ${item.productId} `, unavailable(`Product ${item.productId}`)]),
        h('td', { class: 'num', 'data-label': 'Unit price' }, money(item.price)),
        h('td', { class: 'num', 'data-label': 'Quantity' }, item.quantity),
        h('td', { class: 'num', 'data-label': 'Discount' }, percent(item.discount)),
        h('td', { class: 'num', 'data-label': 'VAT' }, percent(item.vatRate)),
        h('td', { class: 'num', 'data-label': 'Amount' }, money(item.amount))))),
      h('tfoot', {},
        totalRow('Total before tax', bill.totalBeforeTax ?? bill.total, 'total-before-tax'),
        (bill.taxes || []).filter((t) => Number(t.rate) > 0).map((t) => totalRow(`VAT ${percent(t.rate)} on ${money(t.base)}`, t.tax)),
        totalRow('Total', bill.totalAfterTax ?? bill.total, 'total'),
        Number(bill.amountPaid) ? totalRow('Paid', bill.amountPaid) : null,
        bill.amountDue !== undefined ? totalRow('Amount due', bill.amountDue, 'amount-due') : null)),
    h('p', { class: 'no-print' },
      h('button', { type: 'button', onclick: () => window.print() }, 'Print'), ' ',
      h('a', { class: 'button', href: `#/bills?customer=${bill.customerId}` }, 'This customer’s bills')));
}

function totalRow(label, amount, name) {
  return h('tr', { class: name ? `sum ${name}` : 'sum' }, h('th', { scope: 'row', colspan: 5 }, label), h('td', { class: 'num', 'data-total': name || null }, money(amount)));
}
