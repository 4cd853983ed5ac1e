// The only module that talks to the Keyhold API. Same origin, bearer token from sessionStorage
// (gone when the tab closes, invisible to other tabs, never a cookie, so no CSRF surface).

const TOKEN_KEY = 'keyhold.token';
const PROBLEM_PREFIX = 'urn:keyhold:problem:';

export function getToken() {
  try {
    return sessionStorage.getItem(TOKEN_KEY);
  } catch {
    return null; // storage disabled: behave as signed out rather than crash
  }
}

export function setToken(token) {
  sessionStorage.setItem(TOKEN_KEY, token);
}

export function clearToken() {
  try {
    sessionStorage.removeItem(TOKEN_KEY);
  } catch {
    // nothing stored, nothing to forget
  }
}

/** An RFC 9457 problem answer (or a network failure, status 0). */
export class ApiError extends Error {
  constructor(status, problem, retryAfter) {
    super((problem && problem.detail) || `Keyhold answered ${status}`);
    this.name = 'ApiError';
    this.status = status;
    this.problem = problem || {};
    this.retryAfter = retryAfter ? Number(retryAfter) || null : null;
  }

  /** The problem's slug, e.g. `auth0-rejected`. */
  get type() {
    const type = this.problem.type || '';
    return type.startsWith(PROBLEM_PREFIX) ? type.slice(PROBLEM_PREFIX.length) : type;
  }

  get fieldErrors() {
    return Array.isArray(this.problem.errors) ? this.problem.errors : [];
  }

  get requestId() {
    return this.problem.requestId || null;
  }
}

/** Thrown after a 401 handed the user to the sign-in page: callers just stop. */
export class SignedOut extends Error {
  constructor() {
    super('signed out');
    this.name = 'SignedOut';
  }
}

let unauthorized = () => {};

/** What to do when the token is missing or refused (the app sends the user to sign in). */
export function onUnauthorized(handler) {
  unauthorized = handler;
}

export function isAbort(err) {
  return err && err.name === 'AbortError';
}

function queryString(query) {
  if (!query) return '';
  const params = new URLSearchParams();
  for (const [key, value] of Object.entries(query)) {
    if (value !== undefined && value !== null && value !== '') params.set(key, String(value));
  }
  const text = params.toString();
  return text ? `?${text}` : '';
}

/**
 * One API call. Resolves `{ data, etag, status }` for a 2xx answer, rejects with `ApiError`
 * otherwise. `mark` names a performance mark taken the moment the body is parsed (the benchmark
 * measures rendering from there). `auth: false` is for the logins; `redirectOn401: false` lets
 * sign-out swallow a dead token instead of bouncing to sign-in mid-way.
 */
export async function request(method, path, options = {}) {
  const { query, body, headers = {}, signal, auth = true, mark, redirectOn401 = true } = options;
  const sent = { Accept: 'application/json, application/problem+json', ...headers };
  if (auth) {
    const token = getToken();
    if (!token) {
      if (redirectOn401) unauthorized();
      throw new SignedOut();
    }
    sent.Authorization = `Bearer ${token}`;
  }
  const init = { method, headers: sent, signal, credentials: 'omit', cache: 'no-store' };
  if (body !== undefined) {
    sent['Content-Type'] = 'application/json';
    init.body = JSON.stringify(body);
  }

  let response;
  try {
    response = await fetch(path + queryString(query), init);
  } catch (err) {
    if (isAbort(err)) throw err;
    throw new ApiError(0, { detail: 'Keyhold could not be reached. Check your connection and try again.' });
  }

  let data = null;
  const text = await response.text();
  if (text) {
    try {
      data = JSON.parse(text);
    } catch {
      data = null; // a proxy's HTML error page: treat as no body
    }
  }
  if (mark) performance.mark(mark);

  if (response.status === 401 && auth) {
    clearToken();
    if (redirectOn401) unauthorized();
    throw new SignedOut();
  }
  if (!response.ok) {
    const problem = data && typeof data === 'object' ? data : { detail: `Keyhold answered ${response.status}` };
    throw new ApiError(response.status, problem, response.headers.get('Retry-After'));
  }
  return { data, etag: response.headers.get('ETag'), status: response.status };
}

export const get = (path, options) => request('GET', path, options);
export const post = (path, body, options = {}) => request('POST', path, { ...options, body });
export const patch = (path, body, options = {}) => request('PATCH', path, { ...options, body });
export const del = (path, options) => request('DELETE', path, options);

/** The `If-Match` value for a resource at `version` (its ETag form). */
export function ifMatch(version) {
  return { 'If-Match': `"${version}"` };
}

/** A random key for `Idempotency-Key`; works outside secure contexts too, unlike randomUUID. */
export function randomKey() {
  const bytes = new Uint8Array(16);
  crypto.getRandomValues(bytes);
  return Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');
}

/** Every page of a list, for pickers that need the whole set (bounded so a huge project cannot hang the tab). */
export async function getAll(path, key, { query = {}, signal, maxPages = 10 } = {}) {
  const items = [];
  let cursor = null;
  for (let page = 0; page < maxPages; page += 1) {
    const { data } = await get(path, { query: { ...query, limit: 500, cursor }, signal });
    items.push(...(data[key] || []));
    cursor = data.nextCursor;
    if (!cursor) break;
  }
  return items;
}
