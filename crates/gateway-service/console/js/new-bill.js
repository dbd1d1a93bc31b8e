// A new bill: a customer, lines picked from the products (price and stock shown), quantities
// and discounts, the totals before sending; then `POST /bills` and the invoice it answers,
// or the server's reason (unknown product, not enough stock, a service unreachable).

import { call, get, embedded, idOf, ApiError } from './api.js';
import { h, replace, heading, problem, field, say } from './ui.js';
import { cents, formatCents, lineCents, money } from './money.js';
import { invoice } from './bills.js';
import { canWrite } from './auth.js';

const PICK_SIZE = 1000; // the largest page Spring Data REST serves

/** The form; `?customer=` preselects a customer. */
export async function render(view, params) {
  replace(view, heading('New bill'));
  if (!canWrite()) {
    view.append(problem('Your role cannot create bills: sign in as a user who may.'));
    return;
  }
  const [customers, products] = await Promise.all([
    get(`/customers?size=${PICK_SIZE}&sort=name,asc`).then((d) => embedded(d, 'customers')),
    get(`/products?size=${PICK_SIZE}&sort=name,asc`).then((d) => embedded(d, 'products')),
  ]);
  const byId = new Map(products.map((p) => [String(idOf(p)), p]));
  const customer = field('Customer', 'customer', {
    required: true,
    options: [h('option', { value: '' }, 'Choose a customer…'),
      customers.map((c) => h('option', { value: idOf(c), selected: String(idOf(c)) === params.get('customer') }, `${c.name} (${c.email || 'no e-mail'})`))],
  });
  const lines = h('tbody', {});
  const totals = h('tfoot', {});
  const message = h('div', { class: 'form-message' });

  const update = () => {
    let sum = 0;
    let complete = true;
    for (const row of lines.rows) {
      const product = byId.get(row.querySelector('select').value);
      const quantity = Number(row.querySelector('input[name=quantity]').value);
      const discount = Number(row.querySelector('input[name=discount]').value || 0) / 100;
      const stock = row.querySelector('.stock');
      const price = row.querySelector('.price');
      const amount = row.querySelector('.amount');
      if (!product) {
        stock.textContent = price.textContent = amount.textContent = '—';
        complete = false;
        continue;
      }
      price.textContent = money(product.price);
      stock.textContent = String(product.quantity);
      stock.classList.toggle('short', Number.isInteger(quantity) && quantity > product.quantity);
      if (Number.isInteger(quantity) && quantity > 0 && discount >= 0 && discount <= 1) {
        const line = lineCents(cents(product.price), quantity, discount);
        amount.textContent = formatCents(line);
        sum += line;
      } else {
        amount.textContent = '—';
        complete = false;
      }
    }
    replace(totals, h('tr', { class: 'sum' }, h('th', { scope: 'row', colspan: 5 }, complete ? 'Total before tax' : 'Total before tax (some lines incomplete)'),
      h('td', { class: 'num', 'data-total': 'preview' }, formatCents(sum)), h('td', {})));
  };

  const addLine = () => {
    const row = h('tr', {},
      h('td', { 'data-label': 'Product' }, h('select', { name: 'product', 'aria-label': 'Product', onchange: update },
        h('option', { value: '' }, 'Choose a product…'),
        products.map((p) => h('option', { value: idOf(p) }, `${p.name} — ${money(p.price)} (stock ${p.quantity})`)))),
      h('td', { class: 'num price', 'data-label': 'Unit price' }, '—'),
      h('td', { class: 'num stock', 'data-label': 'Stock' }, '—'),
      h('td', { 'data-label': 'Quantity' }, h('input', { name: 'quantity', type: 'number', min: 1, step: 1, value: 1, 'aria-label': 'Quantity', oninput: update })),
      h('td', { 'data-label': 'Discount %' }, h('input', { name: 'discount', type: 'number', min: 0, max: 100, step: 'any', value: 0, 'aria-label': 'Discount in percent', oninput: update })),
      h('td', { class: 'num amount', 'data-label': 'Amount' }, '—'),
      h('td', { class: 'actions' }, h('button', { type: 'button', 'aria-label': 'Remove this line', onclick: () => { row.remove(); update(); } }, 'Remove')));
    lines.append(row);
    update();
    row.querySelector('select').focus();
  };

  const form = h('form', { class: 'card', novalidate: true, 'aria-label': 'New bill' },
    customer.element,
    h('table', { class: 'data bill-lines' },
      h('caption', {}, 'Lines'),
      h('thead', {}, h('tr', {}, ['Product', 'Unit price', 'Stock', 'Quantity', 'Discount %', 'Amount', ''].map((t, i) => h('th', { scope: 'col', class: i === 1 || i === 2 || i === 5 ? 'num' : null }, t)))),
      lines, totals),
    h('p', {}, h('button', { type: 'button', onclick: addLine }, 'Add a line')),
    message,
    h('div', { class: 'buttons' }, h('button', { type: 'submit', class: 'primary' }, 'Create the bill')));

  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    replace(message);
    customer.setError(null);
    if (!customer.input.value) {
      customer.setError('Choose the customer to bill.');
      customer.input.focus();
      return;
    }
    const productItems = [...lines.rows].map((row) => ({
      productId: Number(row.querySelector('select').value),
      quantity: Number(row.querySelector('input[name=quantity]').value),
      discount: Number(row.querySelector('input[name=discount]').value || 0) / 100,
    }));
    if (!productItems.length || productItems.some((l) => !l.productId)) {
      replace(message, problem('Every line needs a product, and a bill needs at least one line.'));
      return;
    }
    const submit = form.querySelector('button[type=submit]');
    submit.disabled = true;
    try {
      const answer = await call('/bills', {
        method: 'POST',
        body: { customerId: Number(customer.input.value), productItems },
        headers: { 'Idempotency-Key': crypto.randomUUID ? crypto.randomUUID() : String(Date.now()) },
      });
      const id = answer.body && answer.body.id;
      say(`Bill ${id} created.`);
      // The invoice as any reader sees it from now on.
      history.replaceState(null, '', `#/bills/${id}`);
      const full = await get(`/fullBill/${id}`);
      replace(view, heading(`Bill ${id}`), h('p', { class: 'success' }, `Bill ${id} was created.`), invoice(full));
      view.querySelector('h1').focus();
    } catch (error) {
      submit.disabled = false;
      if (!(error instanceof ApiError)) throw error;
      const reason = error.status === 503
        ? `A service needed to make the bill is unreachable, nothing was stored: ${error.message}`
        : error.status === 409
          ? `Not billed: ${error.message}`
          : `The bill was not created: ${error.message}`;
      replace(message, problem(reason));
    }
  });

  view.append(products.length ? form : problem('There are no products to bill yet.'));
  addLine();
  customer.input.focus();
}
