// Drives the real eureka-js-client (npm) against a factura discovery node.
//
// Usage: node js_client.js <eureka-port> <own-port>
//
// Registers JS-SVC through the default /eureka/v2/apps/ path with the minimal body the library
// sends (no instanceId, no leaseInfo), checks its heartbeats, discovers PY-SVC and
// CUSTOMER-SERVICE (JSON full fetches: the library's default, its delta merge mishandles
// MODIFIED entries) and calls customer-service through it; prints DISCOVERED
// and waits for GO on stdin; follows a status override of its own instance and its removal
// (heartbeat 404 → re-registration); stops (cancel) and prints CANCELLED.
'use strict';

const http = require('http');
const readline = require('readline');
const { Eureka } = require('eureka-js-client');

const EUREKA_PORT = Number(process.argv[2]);
const PORT = Number(process.argv[3]);
const ID = '127.0.0.1';

function say(line) { process.stdout.write(line + '\n'); }
function fail(why) { say('FAILED: ' + why); process.exit(1); }

function request(method, path) {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port: EUREKA_PORT, method, path,
      headers: { Accept: 'application/json' } }, (res) => {
      let body = '';
      res.on('data', (c) => { body += c; });
      res.on('end', () => resolve({ status: res.statusCode, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

function getJson(url) {
  return new Promise((resolve, reject) => {
    http.get(url, (res) => {
      let body = '';
      res.on('data', (c) => { body += c; });
      res.on('end', () => { try { resolve(JSON.parse(body)); } catch (e) { reject(e); } });
    }).on('error', reject);
  });
}

async function waitFor(what, check, timeoutMs = 40000) {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    try {
      const value = await check();
      if (value) return value;
    } catch (e) { /* not yet */ }
    await new Promise((r) => setTimeout(r, 200));
  }
  fail(what + ' within ' + timeoutMs + ' ms');
  return undefined;
}

async function remoteLease() {
  const res = await request('GET', '/eureka/apps/JS-SVC/' + ID);
  if (res.status !== 200) return null;
  return JSON.parse(res.body).instance.leaseInfo;
}

async function main() {
  const client = new Eureka({
    logger: { debug() {}, info() {}, warn() {}, error(...a) { process.stderr.write(a.join(' ') + '\n'); } },
    instance: {
      app: 'js-svc',
      hostName: ID,
      ipAddr: '127.0.0.1',
      port: { $: PORT, '@enabled': true },
      vipAddress: 'js-svc',
      statusPageUrl: 'http://127.0.0.1:' + PORT + '/info',
      dataCenterInfo: { name: 'MyOwn' },
    },
    eureka: {
      host: '127.0.0.1',
      port: EUREKA_PORT,
      heartbeatInterval: 1000,
      registryFetchInterval: 1000,
    },
  });
  let registrations = 0;
  client.on('registered', () => { registrations += 1; });
  await new Promise((resolve, reject) => client.start((err) => (err ? reject(err) : resolve())));
  say('REGISTERED');

  const first = await waitFor('the registration to be readable', remoteLease);
  await waitFor('a heartbeat to renew the lease', async () => {
    const lease = await remoteLease();
    return lease && lease.lastRenewalTimestamp > first.lastRenewalTimestamp;
  });
  say('HEARTBEAT');

  await waitFor('PY-SVC to be UP in js\'s view', () => client.getInstancesByAppId('PY-SVC').length === 1);
  const customers = await waitFor('CUSTOMER-SERVICE in js\'s view', () => {
    const list = client.getInstancesByAppId('CUSTOMER-SERVICE');
    return list.length > 0 ? list : null;
  });
  const target = customers[0];
  const health = await getJson('http://' + target.hostName + ':' + target.port.$ + '/actuator/health');
  if (health.status !== 'UP') fail('customer-service health through discovery: ' + JSON.stringify(health));
  if (client.getInstancesByVipAddress('customer-service').length < 1) fail('lookup by VIP address');
  say('DISCOVERED');

  const rl = readline.createInterface({ input: process.stdin });
  const go = await new Promise((resolve) => rl.once('line', resolve));
  rl.close();
  if (go.trim() !== 'GO') fail('no GO from the test');

  // The library has no status API: an operator's override, made over the protocol.
  const put = await request('PUT', '/eureka/v2/apps/JS-SVC/' + ID + '/status?value=OUT_OF_SERVICE');
  if (put.status !== 200) fail('status override answered ' + put.status);
  await waitFor('js\'s view to drop its OUT_OF_SERVICE self', () => client.getInstancesByAppId('JS-SVC').length === 0);
  const before = registrations;
  const del = await request('DELETE', '/eureka/v2/apps/JS-SVC/' + ID + '/status');
  if (del.status !== 200) fail('override removal answered ' + del.status);
  await waitFor('a re-registration after a heartbeat 404', () => registrations > before);
  await waitFor('js\'s view to show itself UP again', () => client.getInstancesByAppId('JS-SVC').length === 1);
  say('OVERRIDE FOLLOWED');

  await new Promise((resolve) => client.stop(resolve));
  const after = await request('GET', '/eureka/apps/JS-SVC/' + ID);
  if (after.status !== 404) fail('still registered after stop: ' + after.status);
  say('CANCELLED');
  process.exit(0);
}

main().catch((e) => fail(e && e.stack ? e.stack : String(e)));
