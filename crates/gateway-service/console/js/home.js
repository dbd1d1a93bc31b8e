// Home: how many customers, products and bills there are (each collection's page metadata),
// revenue this month and overall with a chart by month and the top products (billing's
// `/bills/revenue`), and whether every service answers its health check.

import { get } from './api.js';
import { h, replace, heading, problem } from './ui.js';
import { cents, formatCents, money } from './money.js';
import { serviceHealth } from './system.js';

export async function render(view) {
  const counts = h('section', { class: 'tiles', 'aria-label': 'At a glance' });
  const revenue = h('section', { class: 'card', 'aria-labelledby': 'revenue-h' }, h('h2', { id: 'revenue-h' }, 'Revenue by month'));
  const top = h('section', { class: 'card', 'aria-labelledby': 'top-h' }, h('h2', { id: 'top-h' }, 'Top products'));
  const health = h('section', { class: 'card', 'aria-labelledby': 'health-h' }, h('h2', { id: 'health-h' }, 'Services'));
  replace(view, heading('Home'), counts, h('div', { class: 'columns' }, revenue, top), health);
  const count = (collection) => get(`/${collection}?size=1`).then((d) => d.page.totalElements, () => null);
  const [customers, products, bills, summary] = await Promise.all([
    count('customers'), count('products'), count('bills'),
    get('/bills/revenue').catch((e) => e),
  ]);
  const tile = (label, value, href, name) => h('a', { class: 'tile', href, dataset: { tile: name } }, h('span', { class: 'value' }, value ?? '—'), h('span', { class: 'label' }, label));
  const revenueOk = !(summary instanceof Error);
  counts.append(
    tile('Customers', customers, '#/customers', 'customers'),
    tile('Products', products, '#/products', 'products'),
    tile('Bills', bills, '#/bills', 'bills'),
    tile('Revenue this month', revenueOk ? money(summary.thisMonth) : '—', '#/bills', 'revenue-month'),
    tile('Revenue overall', revenueOk ? money(summary.total) : '—', '#/bills', 'revenue-total'));
  if (revenueOk) {
    revenue.append(chart(summary.months || []));
    await topProducts(top, summary.products || []);
  } else {
    revenue.append(problem(`Revenue is unavailable: ${summary.message}`));
    top.append(problem('Top products are unavailable.'));
  }
  health.append(await serviceHealth());
}

/** The last twelve months as an SVG bar chart (months without bills shown as zero). */
function chart(months) {
  const now = new Date();
  const slots = [];
  for (let i = 11; i >= 0; i--) {
    const d = new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth() - i, 1));
    slots.push(d.toISOString().slice(0, 7));
  }
  const byMonth = Object.fromEntries(months.map((m) => [m.month, cents(m.total)]));
  const values = slots.map((m) => byMonth[m] || 0);
  const max = Math.max(1, ...values);
  const width = 600, height = 200, bar = width / slots.length;
  const svg = h('svg:svg', { viewBox: `0 0 ${width} ${height + 40}`, role: 'img', 'aria-label': `Revenue per month over the last twelve months; highest ${formatCents(max)}`, class: 'chart' });
  slots.forEach((month, i) => {
    const barHeight = Math.round((values[i] / max) * height);
    const x = i * bar + 6;
    const rect = h('svg:rect', { x, y: height - barHeight, width: bar - 12, height: Math.max(barHeight, 1), class: values[i] ? 'bar' : 'bar empty' });
    rect.append(h('svg:title', {}, `${month}: ${formatCents(values[i])}`));
    svg.append(rect,
      h('svg:text', { x: x + (bar - 12) / 2, y: height + 16, 'text-anchor': 'middle', class: 'axis' }, month.slice(5)),
      values[i] ? h('svg:text', { x: x + (bar - 12) / 2, y: height - barHeight - 4, 'text-anchor': 'middle', class: 'amount' }, short(values[i])) : null);
  });
  svg.append(h('svg:text', { x: 0, y: height + 34, class: 'axis' }, `${slots[0]} – ${slots[11]}`));
  return svg;
}

function short(valueCents) {
  const units = valueCents / 100;
  return units >= 1000 ? `${(units / 1000).toFixed(1)}k` : String(Math.round(units));
}

async function topProducts(section, products) {
  if (!products.length) {
    section.append(h('p', { class: 'muted' }, 'Nothing billed yet.'));
    return;
  }
  const names = await Promise.all(products.map((p) => get(`/products/${p.productId}`).then((d) => d.name, () => `Product ${p.productId}`)));
  section.append(h('table', { class: 'data compact' },
    h('thead', {}, h('tr', {}, h('th', { scope: 'col' }, 'Product'), h('th', { scope: 'col', class: 'num' }, 'Units'), h('th', { scope: 'col', class: 'num' }, 'Revenue'))),
    h('tbody', {}, products.map((p, i) => h('tr', {}, h('td', {}, names[i]), h('td', { class: 'num' }, p.quantity), h('td', { class: 'num' }, money(p.amount)))))));
}
