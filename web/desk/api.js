// Calls to the JSON API with the session cookie and the session's CSRF token
// (docs/api.md: a desk session without its token gets 403).

const meta = document.querySelector('meta[name="csrf-token"]');
export const csrfToken = meta ? meta.content : '';

/**
 * One request; never throws. Returns {status, data, problem} where status is 0
 * when the server could not be reached at all.
 */
export async function api(method, url, body, headers = {}) {
  const init = {
    method,
    credentials: 'same-origin',
    headers: { 'X-CSRF-Token': csrfToken, Accept: 'application/json', ...headers },
  };
  if (body !== undefined) {
    init.headers['Content-Type'] = 'application/json';
    init.body = JSON.stringify(body);
  }
  let response;
  try {
    response = await fetch(url, init);
  } catch {
    return { status: 0, data: null, problem: null };
  }
  let data = null;
  const type = response.headers.get('content-type') || '';
  if (type.includes('json')) {
    try { data = await response.json(); } catch { data = null; }
  }
  const problem = response.ok ? null : (data || { status: response.status, detail: '' });
  return { status: response.status, data: response.ok ? data : null, problem };
}

/** The message key for a failed call, from its status and problem. */
export function failureKey(result) {
  if (result.status === 0) return 'network';
  if (result.status === 401) return 'session';
  if (result.status === 403) return /csrf/i.test(result.problem?.title || '') ? 'csrf' : 'forbidden';
  if (result.status === 404) return 'gone';
  if (result.status === 503 || result.status === 502 || result.status === 504) return 'unavailable';
  return 'failed';
}
