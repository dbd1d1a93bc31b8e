// System: the services and instances of the discovery registry (the gateway's copy, at
// `/console/api/registry`, in Eureka's JSON), each instance's status there and the answer of
// its own health check (`/console/api/health`, asked by the gateway), and the configuration
// version each instance announced (`config-version` metadata, from `config.client.version`).

import { get } from './api.js';
import { h, replace, heading, problem, date } from './ui.js';

/** The registry's applications, sorted by name. */
export async function registry() {
  const body = await get('/console/api/registry');
  const apps = body && body.applications ? body.applications.application || [] : [];
  return apps.map((app) => ({ name: app.name, instances: app.instance || [] }))
    .sort((a, b) => a.name.localeCompare(b.name));
}

/** Each instance's health-check answer by instance id (empty when it cannot be read). */
async function instanceHealth() {
  try {
    const body = await get('/console/api/health');
    return Object.fromEntries((body.instances || []).map((i) => [i.instanceId, i.status]));
  } catch {
    return {};
  }
}

function badge(status) {
  const text = status || 'UNKNOWN';
  return h('span', { class: `badge ${text.toLowerCase().replace(/_/g, '-')}` }, text);
}

/** A service is UP when every instance is, DOWN when none is, else DEGRADED. */
function overall(app, health) {
  const up = app.instances.filter((i) => health[i.instanceId] === 'UP').length;
  if (up === app.instances.length && up > 0) return 'UP';
  return up === 0 ? 'DOWN' : 'DEGRADED';
}

/** One row per service with its overall health and how many instances answer UP. */
export async function serviceHealth() {
  let apps;
  try {
    apps = await registry();
  } catch (e) {
    return problem(`The registry cannot be read: ${e.message}`);
  }
  const health = await instanceHealth();
  return h('table', { class: 'data compact health' },
    h('thead', {}, h('tr', {}, h('th', { scope: 'col' }, 'Service'), h('th', { scope: 'col' }, 'Health'), h('th', { scope: 'col', class: 'num' }, 'Instances UP'))),
    h('tbody', {}, apps.map((app) => h('tr', { dataset: { service: app.name } },
      h('td', {}, h('a', { href: `#/system`, title: 'Instances on the System page' }, app.name)),
      h('td', {}, badge(overall(app, health))),
      h('td', { class: 'num' }, `${app.instances.filter((i) => health[i.instanceId] === 'UP').length} of ${app.instances.length}`)))));
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
  const health = await instanceHealth();
  view.append(h('p', { class: 'muted' }, 'Services and instances as the gateway knows them from discovery. “Registry” is the status an instance announced; “Health” is what its own health check answers now.'));
  for (const app of apps) {
    view.append(h('section', { class: 'card', dataset: { app: app.name } },
      h('h2', {}, app.name, ' ', badge(overall(app, health)), h('span', { class: 'muted' }, ` · ${app.instances.length} instance${app.instances.length === 1 ? '' : 's'}`)),
      h('table', { class: 'data compact' },
        h('thead', {}, h('tr', {}, ['Instance', 'Registry', 'Health', 'Address', 'Last renewal', 'Config version'].map((t) => h('th', { scope: 'col' }, t)))),
        h('tbody', {}, app.instances.map((i) => h('tr', { dataset: { instance: i.instanceId } },
          h('td', { 'data-label': 'Instance' }, i.instanceId),
          h('td', { 'data-label': 'Registry' }, badge(i.status)),
          h('td', { 'data-label': 'Health', class: 'instance-health' }, badge(health[i.instanceId] || 'UNKNOWN')),
          h('td', { 'data-label': 'Address' }, `${i.ipAddr}:${i.port && i.port.$}`),
          h('td', { 'data-label': 'Last renewal' }, i.leaseInfo && i.leaseInfo.lastRenewalTimestamp ? date(new Date(Number(i.leaseInfo.lastRenewalTimestamp)).toISOString()) : '—'),
          h('td', { 'data-label': 'Config version' }, configVersion(i) || '—')))))));
  }
}
