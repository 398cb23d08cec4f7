// The admin's page: create a user, issue a token, delete a user.

import { api } from './api.js';
import { copyable, field, fill, h, messageBox, page } from './dom.js';

export function admin() {
  const msg = messageBox();
  const out = h('div', { id: 'admin-output' });
  const showToken = (what, userId, t) => fill(out,
    h('p', {}, what, ' User id: ', h('code', {}, userId), '. The token is shown only now.'), copyable('Token', t));
  const name = h('input', { type: 'text', id: 'user-name', required: true });
  const create = h('form', {
    onsubmit: async (ev) => {
      ev.preventDefault();
      msg.clear();
      try {
        const r = await api('POST', '/v1/users', { name: name.value });
        showToken(`Created ${r.user.name}.`, r.user.id, r.token);
      } catch (e) {
        msg.error(e);
      }
    },
  }, field('Name', name), h('button', { type: 'submit' }, 'Create user'));
  const userId = h('input', { type: 'text', id: 'user-id', required: true, placeholder: 'u_…' });
  const manage = h('form', { onsubmit: (ev) => ev.preventDefault() }, field('User id', userId),
    h('button', {
      type: 'button', onclick: async () => {
        if (!userId.reportValidity()) return;
        try {
          const r = await api('POST', `/v1/users/${encodeURIComponent(userId.value.trim())}/tokens`);
          showToken('Issued a new token.', userId.value.trim(), r.token);
        } catch (e) { msg.error(e); }
      },
    }, 'Issue a token'),
    h('button', {
      type: 'button', class: 'danger', onclick: async () => {
        if (!userId.reportValidity() || !confirm(`Delete user ${userId.value}, with their lists and tokens?`)) return;
        try {
          await api('DELETE', `/v1/users/${encodeURIComponent(userId.value.trim())}`);
          msg.ok('Deleted.');
        } catch (e) { msg.error(e); }
      },
    }, 'Delete user'));
  page('Users', h('h2', {}, 'New user'), create, h('h2', {}, 'A user'), manage, msg.el, out);
}
