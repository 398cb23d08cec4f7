// The API client of the dashboard: the signed-in token (this tab's session storage only) and
// calls to the public API (/v1/…) with it.

export const TOKEN_KEY = 'blocklist-edge.token';

/** An error the API answered: its status, code and message. */
export class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

export const token = () => sessionStorage.getItem(TOKEN_KEY);

/**
 * Calls the API. `body` is sent as JSON, with `headers` besides the token; answers JSON (or,
 * with `text`, the body as text and the response; with `full`, the JSON and the response).
 * Throws an ApiError with the API's own message for any status >= 400.
 */
export async function api(method, path, body, { text = false, full = false, headers: extra = {} } = {}) {
  const headers = { Authorization: `Bearer ${token()}`, ...extra };
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  let response;
  try {
    response = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  } catch (e) {
    throw new ApiError(0, 'network', `The server could not be reached: ${e.message}`);
  }
  if (response.status >= 400) {
    let code = 'http_' + response.status;
    let message = `${response.status} ${response.statusText}`;
    try {
      const e = await response.json();
      if (e && e.error) ({ code, message } = e.error);
    } catch (_) { /* not JSON: keep the status line */ }
    if (response.status === 401 && path === '/v1/me') sessionStorage.removeItem(TOKEN_KEY);
    throw new ApiError(response.status, code, message);
  }
  if (text) return { text: await response.text(), response };
  const data = response.status === 204 ? null : await response.json();
  return full ? { data, response } : data;
}
