// The public HTTP API, called through the gateway the console is served by (same origin).
// Every answer is read as JSON when it is JSON; failures become ApiError with what the
// server said: Spring Data REST's `errors` list, its `message`, or Spring Boot's error body.

/** A failed call: `status`, the parsed `body`, and per-field messages when the server gave them. */
export class ApiError extends Error {
  constructor(status, body, fallback) {
    super(describe(status, body, fallback));
    this.status = status;
    this.body = body;
    this.fields = {};
    for (const error of (body && Array.isArray(body.errors)) ? body.errors : []) {
      if (error.property) this.fields[error.property] = error.message;
    }
  }
}

function describe(status, body, fallback) {
  if (status === 401) return 'Sign in to see this: the API asks for a signed-in user';
  if (status === 403) return 'Your role does not allow this';
  if (body && Array.isArray(body.errors) && body.errors.length) {
    return body.errors.map((e) => `${e.property}: ${e.message}`).join('; ');
  }
  if (body && body.message) return body.message;
  if (body && body.error) return `${status} ${body.error}`;
  if (status === 0) return fallback || 'The gateway cannot be reached';
  return fallback || `The server answered ${status}`;
}

/** The signed-in user's token, if any, sent on every API call. */
let bearer = null;
export function setBearer(token) { bearer = token; }

/**
 * One call. `path` is a path or a HAL href; `body` is sent as JSON. Resolves to
 * `{ status, body, etag, location }`; rejects with ApiError for a status ≥ 400 or no answer.
 */
export async function call(path, { method = 'GET', body, ifMatch, headers = {} } = {}) {
  const init = { method, headers: { Accept: 'application/hal+json, application/json', ...headers } };
  if (body !== undefined) {
    init.body = JSON.stringify(body);
    init.headers['Content-Type'] = 'application/json';
  }
  if (ifMatch) init.headers['If-Match'] = ifMatch;
  if (bearer) init.headers.Authorization = `Bearer ${bearer}`;
  let response;
  try {
    response = await fetch(path, init);
  } catch (e) {
    throw new ApiError(0, null, `The gateway cannot be reached (${e.message})`);
  }
  const type = response.headers.get('Content-Type') || '';
  let parsed = null;
  if (type.includes('json')) {
    try { parsed = await response.json(); } catch { parsed = null; }
  }
  if (!response.ok) throw new ApiError(response.status, parsed);
  return {
    status: response.status,
    body: parsed,
    etag: response.headers.get('ETag'),
    location: response.headers.get('Location'),
  };
}

/** `GET` of JSON, the body only. */
export async function get(path) {
  return (await call(path)).body;
}

/** The href of link `rel` in a HAL document, without its template part. */
export function link(document, rel) {
  const found = document && document._links && document._links[rel];
  return found ? found.href.replace(/\{[^}]*\}$/, '') : null;
}

/** The items of a HAL collection page (`_embedded.<rel>`), an empty list when there are none. */
export function embedded(document, rel) {
  return (document && document._embedded && document._embedded[rel]) || [];
}

/** A query string from the defined values of `params`. */
export function query(params) {
  const search = new URLSearchParams();
  for (const [key, value] of Object.entries(params)) {
    if (value === undefined || value === null || value === '') continue;
    for (const one of Array.isArray(value) ? value : [value]) search.append(key, one);
  }
  const text = search.toString();
  return text ? `?${text}` : '';
}

/** The numeric id at the end of an item's self link. */
export function idOf(item) {
  if (item && item.id !== undefined) return item.id;
  const self = link(item, 'self');
  return self ? Number(self.split('/').pop()) : null;
}
