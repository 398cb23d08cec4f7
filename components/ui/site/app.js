// The blocklist-edge dashboard: a client of the public API (/v1/…), nothing more. The bearer
// token the user signs in with stays in this tab's session storage and goes only into the
// Authorization header of same-origin API calls. Pages are views of the URL's fragment
// (#/lists, #/lists/{id}, #/preview, #/admin); every element is built with the DOM API (no
// HTML from strings), so nothing the API returns is ever parsed as markup.

import { TOKEN_KEY, api, token } from './api.js';
import { field, h, messageBox, page } from './dom.js';
import { admin } from './admin.js';
import { listPage } from './list.js';
import { lists } from './lists.js';
import { preview } from './preview.js';

// ---- Sign in ------------------------------------------------------------------------------

let me = null;

async function whoAmI() {
  if (!token()) return null;
  try {
    me = await api('GET', '/v1/me');
  } catch (e) {
    if (e.status === 401) sessionStorage.removeItem(TOKEN_KEY);
    me = null;
    throw e;
  }
  return me;
}

function showNav() {
  document.getElementById('nav').hidden = !me;
  document.getElementById('nav-admin').hidden = !(me && me.role === 'admin');
  document.getElementById('who').textContent = me ? (me.role === 'admin' ? 'Signed in as the admin' : `Signed in as ${me.user.name}`) : '';
}

function signIn(reason) {
  const msg = messageBox();
  const input = h('input', { type: 'password', id: 'token', autocomplete: 'off', spellcheck: 'false', required: true });
  const form = h('form', {
    onsubmit: async (ev) => {
      ev.preventDefault();
      sessionStorage.setItem(TOKEN_KEY, input.value.trim());
      try {
        await whoAmI();
        showNav();
        location.hash = me.role === 'admin' ? '#/admin' : '#/lists';
      } catch (e) {
        sessionStorage.removeItem(TOKEN_KEY);
        msg.error(e);
      }
    },
  }, field('API token', input, 'Your token (ble_…), or the admin token. It is kept in this tab only.'),
  h('button', { type: 'submit' }, 'Sign in'), msg.el);
  page('Sign in', form);
  if (reason) msg.error(reason);
  input.focus();
}

document.getElementById('sign-out').addEventListener('click', () => {
  sessionStorage.removeItem(TOKEN_KEY);
  me = null;
  showNav();
  location.hash = '#/signin';
});

// ---- Routing ------------------------------------------------------------------------------

async function route() {
  const path = location.hash.replace(/^#/, '') || '/lists';
  if (!token()) return signIn();
  if (!me) {
    try {
      await whoAmI();
    } catch (e) {
      return signIn(e);
    }
    showNav();
  }
  const m = path.match(/^\/lists\/(l_[0-9a-f]+)$/);
  if (path === '/signin') return signIn();
  if (m) return listPage(m[1]);
  if (path === '/preview') return preview();
  if (path === '/admin') return admin();
  return lists();
}

window.addEventListener('hashchange', route);
route();
