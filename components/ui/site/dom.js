// Building the page: elements from the DOM API only (no HTML from strings, so nothing the API
// returns is ever parsed as markup), form fields with labels, messages announced to screen
// readers, copy buttons, tables.

import { ApiError } from './api.js';

const main = document.getElementById('main');

/** Builds an element: h('a', {href: '#'}, 'text', child, …). Attributes starting with `on` are listeners. */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
    else if (k === 'class') el.className = v;
    else if (v === true) el.setAttribute(k, '');
    else el.setAttribute(k, v);
  }
  for (const c of children.flat()) {
    if (c === undefined || c === null || c === false) continue;
    el.append(c instanceof Node ? c : String(c));
  }
  return el;
}

/** Replaces `el`'s children with those of `children` that are not null, false or undefined. */
export function fill(el, ...children) {
  el.replaceChildren(...children.flat().filter((c) => c !== null && c !== undefined && c !== false));
}

/** A labelled form field; `control` gets the id. */
export function field(label, control, note) {
  const id = control.id || `f-${Math.random().toString(36).slice(2)}`;
  control.id = id;
  return h('div', {}, h('label', { for: id }, label), control, note ? h('p', { class: 'note' }, note) : null);
}

/** A box that shows an error or a success message, announced to screen readers. */
export function messageBox(id) {
  const box = h('div', { role: 'status', 'aria-live': 'polite', id });
  return {
    el: box,
    error(e) {
      fill(box, h('p', { class: 'error', role: 'alert' }, e instanceof ApiError && e.code ? `${e.message} (${e.code})` : String(e.message || e)));
    },
    ok(...content) { fill(box, h('p', { class: 'ok' }, ...content)); },
    clear() { fill(box); },
  };
}

/** A read-only field holding a secret or a URL, with a button that copies it. */
export function copyable(label, value) {
  const input = h('input', { type: 'text', readonly: true, value, 'aria-label': label });
  const done = h('span', { role: 'status', 'aria-live': 'polite', class: 'note' });
  const button = h('button', {
    type: 'button', class: 'secondary', onclick: async () => {
      input.select();
      try { await navigator.clipboard.writeText(value); } catch (_) { document.execCommand && document.execCommand('copy'); }
      done.textContent = 'Copied';
    },
  }, `Copy ${label.toLowerCase()}`);
  return h('div', { class: 'secret' }, input, button, done);
}

export const table = (head, rows) => h('div', { class: 'scroll' },
  h('table', {}, h('thead', {}, h('tr', {}, head.map((c) => h('th', { scope: 'col' }, c)))), h('tbody', {}, rows)));

export const when = (t) => (t ? new Date(t).toLocaleString() : '—');

export function page(title, ...content) {
  document.title = `${title} · blocklist-edge`;
  fill(main, h('h1', {}, title), ...content);
  main.focus();
}
