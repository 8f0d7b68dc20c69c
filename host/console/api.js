// The console's HTTP helpers: the session cookie rides along (same origin);
// mutating requests carry the CSRF token read from GET /auth/session.

let csrf = null;

/** An API error with the daemon's JSON error shape. */
export class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

async function decode(res) {
  const text = await res.text();
  let body = null;
  try { body = text ? JSON.parse(text) : null; } catch { body = text; }
  if (!res.ok) {
    throw new ApiError(res.status, body?.code ?? 'http_' + res.status, body?.error ?? String(res.status));
  }
  return body;
}

/** Exchange a one-time login code for the cookie. */
export async function signIn(code) {
  const res = await fetch('/auth/session', {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ code }),
  });
  const body = await decode(res);
  csrf = body.csrf;
  return body;
}

/** Whether this browser is signed in (and learn the CSRF token). */
export async function whoami() {
  try {
    const body = await decode(await fetch('/auth/session'));
    csrf = body.csrf ?? null;
    return body.via === 'browser';
  } catch (e) {
    if (e.status === 401) return false;
    throw e;
  }
}

/** Call the API: `api('POST', '/sessions', {...})`. */
export async function api(method, path, body) {
  const headers = {};
  if (method !== 'GET') headers['x-csrf-token'] = csrf ?? '';
  if (body !== undefined) headers['content-type'] = 'application/json';
  const res = await fetch(path, {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  return decode(res);
}

/** Follow a session's events after `after`; `onEvent(event)` per event.
 * `terminal-output` events are left out: the terminal shows those bytes from
 * the stream, and a shell pane's flood would otherwise cross twice. */
export function follow(name, after, onEvent) {
  const es = new EventSource(`/sessions/${encodeURIComponent(name)}/events?after=${after}&exclude=terminal-output`);
  es.onmessage = (m) => {
    try { onEvent(JSON.parse(m.data)); } catch (e) { console.warn('bad event', e); }
  };
  es.addEventListener('gap', (m) => onEvent(JSON.parse(m.data)));
  return es;
}

/** Show a browser notification when the tab is in the background. */
export function notify(title, body, tag) {
  if (!document.hidden || !('Notification' in window) || Notification.permission !== 'granted') return;
  try { new Notification(title, { body, tag }); } catch (e) { console.warn(e); }
}

/** `el('div', {class: 'x', onclick}, child, 'text')`. */
export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith('on')) node.addEventListener(k.slice(2), v);
    else if (k === 'class') node.className = v;
    else node.setAttribute(k, v === true ? '' : v);
  }
  for (const c of children.flat()) {
    if (c === null || c === undefined || c === false) continue;
    node.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return node;
}

/** Run `fn`, reporting a failure in the page's toast. */
export async function attempt(fn) {
  try { return await fn(); } catch (e) { toast(e.message); throw e; }
}

/** A short message at the bottom of the screen. */
export function toast(text) {
  const t = el('div', { class: 'toast', role: 'alert' }, text);
  document.body.append(t);
  setTimeout(() => t.remove(), 6000);
}
