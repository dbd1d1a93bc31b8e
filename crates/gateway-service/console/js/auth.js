// Sign-in, when the gateway announces an identity provider (`/console/api/config`): OIDC
// discovery from that issuer, the authorization-code flow with PKCE (S256) for the public
// client it names, the token kept in memory only (a reload signs out), `Authorization: Bearer`
// on every API call, and the roles in the token deciding which write actions are shown.

import { setBearer } from './api.js';

/** What the console knows about the signed-in user. */
export const session = { issuer: null, clientId: null, user: null, roles: [] };

const PENDING = 'factura-console-sign-in'; // sessionStorage: state and verifier across the redirect

function base64url(bytes) {
  return btoa(String.fromCharCode(...new Uint8Array(bytes))).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}

function randomText() {
  return base64url(crypto.getRandomValues(new Uint8Array(32)));
}

async function discovery() {
  const response = await fetch(`${session.issuer.replace(/\/$/, '')}/.well-known/openid-configuration`);
  if (!response.ok) throw new Error(`the identity provider's discovery answered ${response.status}`);
  return response.json();
}

function redirectUri() {
  return `${location.origin}/console/`;
}

function claims(token) {
  const part = token.split('.')[1].replace(/-/g, '+').replace(/_/g, '/');
  return JSON.parse(decodeURIComponent(escape(atob(part))));
}

function accept(token) {
  const payload = claims(token);
  session.user = payload.preferred_username || payload.sub;
  const realm = (payload.realm_access && payload.realm_access.roles) || [];
  const client = (payload.resource_access && payload.resource_access[session.clientId] && payload.resource_access[session.clientId].roles) || [];
  session.roles = [...realm, ...client];
  setBearer(token);
}

/** Reads the sign-in settings and finishes a sign-in the provider redirected back from. */
export async function start() {
  try {
    const response = await fetch('/console/api/config', { headers: { Accept: 'application/json' } });
    if (response.ok) Object.assign(session, await response.json());
  } catch {
    // No settings: the console works as without security.
  }
  const params = new URLSearchParams(location.search);
  const pending = JSON.parse(sessionStorage.getItem(PENDING) || 'null');
  if (!session.issuer || !params.has('code') || !pending) return null;
  sessionStorage.removeItem(PENDING);
  history.replaceState(null, '', `/console/${pending.hash || ''}`);
  if (params.get('state') !== pending.state) return 'The sign-in answer did not match the request; sign in again.';
  const config = await discovery();
  const body = new URLSearchParams({
    grant_type: 'authorization_code',
    code: params.get('code'),
    redirect_uri: redirectUri(),
    client_id: session.clientId,
    code_verifier: pending.verifier,
  });
  const answer = await fetch(config.token_endpoint, { method: 'POST', body });
  if (!answer.ok) return `The identity provider refused the sign-in (${answer.status}).`;
  accept((await answer.json()).access_token);
  return null;
}

/** Sends the browser to the provider's login page (PKCE S256). */
export async function signIn() {
  const config = await discovery();
  const verifier = randomText();
  const state = randomText();
  const challenge = base64url(await crypto.subtle.digest('SHA-256', new TextEncoder().encode(verifier)));
  sessionStorage.setItem(PENDING, JSON.stringify({ verifier, state, hash: location.hash }));
  const url = new URL(config.authorization_endpoint);
  url.search = new URLSearchParams({
    response_type: 'code',
    client_id: session.clientId,
    redirect_uri: redirectUri(),
    scope: 'openid',
    state,
    code_challenge: challenge,
    code_challenge_method: 'S256',
  }).toString();
  location.assign(url.toString());
}

/** Forgets the token (it lives in memory only). */
export function signOut() {
  session.user = null;
  session.roles = [];
  setBearer(null);
}

/** Whether security is on at all. */
export function secured() {
  return Boolean(session.issuer);
}

/** Whether the user may change data: anyone without security, an ADMIN with it. */
export function canWrite() {
  return !secured() || session.roles.includes('ADMIN');
}
