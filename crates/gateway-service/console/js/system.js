// System: the services and instances of the discovery registry (the gateway's copy, at
// `/console/api/registry`, in Eureka's JSON), each instance's status there, each service's
// health through the gateway's discovery routes, and the configuration version each
// instance announced (`config-version` metadata, from `config.client.version`).

import { get, call } from './api.js';
import { h, replace, heading, problem, date } from './ui.js';

/** The registry's applications, or an Error when it cannot be read. */
export async function registry() {
  const body = await get('/console/api/registry');
  const apps = body && body.applications ? body.applications.application || [] : [];
  return apps.map((app) => ({ name: app.name, instances: app.instance || [] }))
    .sort((a, b) => a.name.localeCompare(b.name));
}

/** `UP`/`DOWN` of a service's `/actuator/health` through the gateway, `null` when unreachable. */
async function health(path) {
  try {
    const answer = await call(path);
    return (answer.body && answer.body.status) || 'UP';
  } catch (e) {
    if (e.body && e.body.status && typeof e.body.status === 'string') return e.body.status;
    return e.status === 503 ? 'DOWN' : null;
  }
}

function badge(status) {
  const text = status || 'UNREACHABLE';
  return h('span', { class: `badge ${text.toLowerCase().replace(/_/g, '-')}` }, text);
}

/** Health of the gateway and of each registered service, as a table (for Home and System). */
export async function serviceHealth() {
  let apps;
  try {
    apps = await registry();
  } catch (e) {
    apps = [];
  }
  const rows = [['GATEWAY-SERVICE', '/actuator/health'], ...apps.filter((a) => a.name !== 'GATEWAY-SERVICE').map((a) => [a.name, `/${a.name}/actuator/health`])];
  const statuses = await Promise.all(rows.map(([, path]) => health(path)));
  return h('table', { class: 'data compact health' },
    h('thead', {}, h('tr', {}, h('th', { scope: 'col' }, 'Service'), h('th', { scope: 'col' }, 'Health'), h('th', { scope: 'col', class: 'num' }, 'Instances'))),
    h('tbody', {}, rows.map(([name], i) => {
      const app = apps.find((a) => a.name === name);
      return h('tr', { dataset: { service: name } }, h('td', {}, name), h('td', {}, badge(statuses[i])),
        h('td', { class: 'num' }, app ? app.instances.length : '—'));
    })));
}

/** The `config-version` metadata of an instance (whatever case or dashes its key got). */
function configVersion(instance) {
  const entry = Object.entries(instance.metadata || {})
    .find(([key]) => key.replace(/[-_]/g, '').toLowerCase() === 'configversion');
  return entry ? entry[1] : null;
}

export async function render(view) {
  replace(view, heading('System'));
  let apps;
  try {
    apps = await registry();
  } catch (e) {
    view.append(problem(`The discovery registry cannot be read through the gateway: ${e.message}`));
    return;
  }
  view.append(h('section', { class: 'card' }, h('h2', {}, 'Health through the gateway'), await serviceHealth()));
  for (const app of apps) {
    view.append(h('section', { class: 'card', dataset: { app: app.name } },
      h('h2', {}, app.name, h('span', { class: 'muted' }, ` · ${app.instances.length} instance${app.instances.length === 1 ? '' : 's'}`)),
      h('table', { class: 'data compact' },
        h('thead', {}, h('tr', {}, ['Instance', 'Status', 'Address', 'Last renewal', 'Config version'].map((t) => h('th', { scope: 'col' }, t)))),
        h('tbody', {}, app.instances.map((i) => h('tr', {},
          h('td', { 'data-label': 'Instance' }, i.instanceId),
          h('td', { 'data-label': 'Status' }, badge(i.status)),
          h('td', { 'data-label': 'Address' }, `${i.ipAddr}:${i.port && i.port.$}`),
          h('td', { 'data-label': 'Last renewal' }, i.leaseInfo && i.leaseInfo.lastRenewalTimestamp ? date(new Date(Number(i.leaseInfo.lastRenewalTimestamp)).toISOString()) : '—'),
          h('td', { 'data-label': 'Config version' }, configVersion(i) || '—')))))));
  }
}
