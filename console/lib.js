// Shared pieces of the console: the API client (the contract's envelope {code, msg, data}),
// the signed-in session, DOM building without innerHTML (nothing from the API is ever parsed
// as HTML), the notice line that shows every API error's `msg`, and the WebSocket.

const KEY = 'rl-console-session';

export const session = {
  get() {
    try { return JSON.parse(sessionStorage.getItem(KEY) || 'null'); } catch { return null; }
  },
  set(s) { sessionStorage.setItem(KEY, JSON.stringify(s)); },
  clear() { sessionStorage.removeItem(KEY); },
};

export class ApiError extends Error {
  constructor(code, msg, data, status) {
    super(msg);
    this.code = code; this.msg = msg; this.data = data; this.status = status;
  }
}

async function send(method, path, body, token) {
  const headers = {};
  if (token) headers.Authorization = 'Bearer ' + token;
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  let res;
  try {
    res = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  } catch {
    throw new ApiError(-1, '网络连接失败，请检查网络后重试', null, 0);
  }
  let env;
  try { env = await res.json(); } catch { throw new ApiError(-1, `服务器返回异常 (HTTP ${res.status})`, null, res.status); }
  if (env.code !== 0) throw new ApiError(env.code, env.msg, env.data, res.status);
  return env.data;
}

// One refresh at a time, whoever asks.
let refreshing = null;

/** Calls the API as the signed-in user; an expired access token is refreshed once. */
export async function api(method, path, body) {
  const s = session.get();
  try {
    return await send(method, path, body, s && s.token);
  } catch (e) {
    if (!(e instanceof ApiError) || e.code !== 2002 || !s || !s.refresh) throw e;
    refreshing = refreshing || send('POST', '/api/auth/refresh', { refresh_token: s.refresh })
      .then((d) => { session.set({ ...s, token: d.access_token, refresh: d.refresh_token }); })
      .finally(() => { refreshing = null; });
    try { await refreshing; } catch { session.clear(); location.hash = '#/login'; throw e; }
    return send(method, path, body, session.get().token);
  }
}

/** Without the session (sign-in). */
export const publicApi = (method, path, body) => send(method, path, body, null);

/** h('tag', {attrs}, ...children): attributes, `on*` handlers, text and nodes; no HTML parsing. */
export function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
    else if (k === 'class') el.className = v;
    // Through the CSSOM: the page's CSP refuses style attributes.
    else if (k === 'style') el.style.cssText = v;
    else if (k === 'value') el.value = v;
    else if (k === 'checked') el.checked = !!v;
    else el.setAttribute(k, v === true ? '' : String(v));
  }
  for (const c of children.flat(Infinity)) {
    if (c === undefined || c === null || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

const SVGNS = 'http://www.w3.org/2000/svg';
export function s(tag, attrs, ...children) {
  const el = document.createElementNS(SVGNS, tag);
  for (const [k, v] of Object.entries(attrs || {})) el.setAttribute(k, String(v));
  for (const c of children.flat()) el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  return el;
}

let noticeTimer = null;
/** The notice line: an API error's `msg`, or what succeeded. Errors stay until the next action. */
export function notice(text, kind = 'ok') {
  const el = document.getElementById('notice');
  clearTimeout(noticeTimer);
  el.textContent = text;
  el.dataset.kind = kind;
  el.hidden = false;
  el.setAttribute('role', kind === 'error' ? 'alert' : 'status');
  if (kind === 'ok') noticeTimer = setTimeout(() => { el.hidden = true; }, 8000);
}
export function clearNotice() {
  const el = document.getElementById('notice');
  el.hidden = true; el.textContent = ''; delete el.dataset.kind;
}

/** Shows an API error's msg (the contract's words); anything else as a generic failure. */
export function fail(e) {
  if (e instanceof ApiError) notice(e.msg, 'error');
  else { console.error(e); notice('操作失败：' + (e && e.message ? e.message : e), 'error'); }
}

/** Runs `fn` for a button or form, disabling it meanwhile; errors go to the notice line. */
export async function act(button, fn) {
  if (button) button.disabled = true;
  try { return await fn(); } catch (e) { fail(e); return undefined; } finally { if (button) button.disabled = false; }
}

export function field(label, input, hint) {
  return h('label', null, label, input, hint ? h('span', { class: 'muted' }, hint) : null);
}

export function table(headers, rows, caption) {
  return h('div', { class: 'table-wrap' },
    h('table', null, caption ? h('caption', { class: 'muted' }, caption) : null,
      h('thead', null, h('tr', null, headers.map((t) => h('th', { scope: 'col' }, t)))),
      h('tbody', null, rows)));
}

export function fmtTime(t) {
  if (!t) return '—';
  const d = new Date(t);
  if (Number.isNaN(d.getTime())) return String(t);
  return d.toLocaleString('zh-CN', { hour12: false });
}

/** A datetime-local value ("2026-12-01T08:00") as RFC 3339 UTC, or null when empty. */
export function toIso(local) {
  if (!local) return null;
  const d = new Date(local);
  return Number.isNaN(d.getTime()) ? null : d.toISOString();
}
export function toLocalInput(t) {
  if (!t) return '';
  const d = new Date(t);
  if (Number.isNaN(d.getTime())) return '';
  const p = (n) => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())}T${p(d.getHours())}:${p(d.getMinutes())}`;
}

export function pager(pagination, go) {
  if (!pagination || pagination.total_pages <= 1) return null;
  const { page, total_pages: pages, total } = pagination;
  return h('div', { class: 'row' },
    h('button', { type: 'button', class: 'secondary', disabled: page <= 1, onclick: () => go(page - 1) }, '上一页'),
    h('span', { class: 'muted' }, `第 ${page} / ${pages} 页，共 ${total} 条`),
    h('button', { type: 'button', class: 'secondary', disabled: page >= pages, onclick: () => go(page + 1) }, '下一页'));
}

/**
 * The live channel: `/ws?token=…`, reconnecting with the current token after a drop (the
 * server closes a socket whose token expired with 4003). `onMessage` gets every message.
 */
export function liveSocket(onMessage, onState) {
  let ws = null; let stopped = false; let retry = null;
  const open = () => {
    const s = session.get();
    if (!s || stopped) return;
    const proto = location.protocol === 'https:' ? 'wss:' : 'ws:';
    ws = new WebSocket(`${proto}//${location.host}/ws?token=${encodeURIComponent(s.token)}`);
    ws.onopen = () => onState && onState(true);
    ws.onmessage = (ev) => { try { onMessage(JSON.parse(ev.data)); } catch (e) { console.error(e); } };
    ws.onclose = () => {
      onState && onState(false);
      if (!stopped) retry = setTimeout(async () => {
        // A cheap call refreshes an expired token before reconnecting.
        try { await api('GET', '/api/auth/verify-token'); } catch { /* shown elsewhere */ }
        open();
      }, 3000);
    };
  };
  open();
  return () => { stopped = true; clearTimeout(retry); if (ws) ws.close(); };
}
