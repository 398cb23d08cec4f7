// The lists page, and the form that creates or edits a list.

import { api } from './api.js';
import { field, fill, h, messageBox, page, table, when } from './dom.js';

export async function lists() {
  const msg = messageBox();
  const body = h('div', {}, h('p', { class: 'note' }, 'Loading…'));
  page('Lists', body, h('h2', {}, 'New list'), listForm(null, msg), msg.el);
  try {
    const { lists } = await api('GET', '/v1/lists');
    fill(body, lists.length === 0
      ? h('p', {}, 'No lists yet: create one below.')
      : table(['Name', 'Kind', 'Revision', 'Updated'], lists.map((l) => h('tr', {},
        h('td', {}, h('a', { href: `#/lists/${l.id}` }, l.name)), h('td', {}, l.kind),
        h('td', {}, l.revision), h('td', {}, when(l.updatedAt))))));
  } catch (e) {
    fill(body);
    msg.error(e);
  }
}

const SAMPLE_CONFIG = {
  name: 'My list',
  sources: [{ source: 'https://example.org/hosts.txt', type: 'hosts' }],
  transformations: ['RemoveComments', 'Compress', 'Validate', 'Deduplicate'],
};

/** The form that creates a list (`list` null) or edits one. */
export function listForm(list, msg) {
  const name = h('input', { type: 'text', id: list ? 'list-name' : 'new-list-name', required: true, value: list ? list.name : '' });
  const kind = h('select', { id: list ? 'list-kind' : 'new-list-kind' },
    h('option', { value: 'rules', selected: !list || list.kind === 'rules' }, 'Rules (adblock or hosts syntax)'),
    h('option', { value: 'config', selected: list && list.kind === 'config' }, 'HostlistCompiler configuration (JSON)'));
  const text = h('textarea', { id: list ? 'list-text' : 'new-list-text', rows: 12, spellcheck: 'false' });
  text.value = list ? (list.kind === 'config' ? JSON.stringify(list.config, null, 2) : list.rules || '') : '';
  const fillSample = () => {
    if (!list && kind.value === 'config' && !text.value.trim()) text.value = JSON.stringify(SAMPLE_CONFIG, null, 2);
  };
  kind.addEventListener('change', fillSample);
  return h('form', {
    onsubmit: async (ev) => {
      ev.preventDefault();
      msg.clear();
      // A PUT replaces the whole list: what this form does not show is sent back as it was.
      const input = { name: name.value };
      if (list && list.description) input.description = list.description;
      if (list && list.refreshIntervalSecs && kind.value === 'config') input.refreshIntervalSecs = list.refreshIntervalSecs;
      if (list && list.webhook) input.webhookUrl = list.webhook.url;
      if (list && list.publishGuard) input.publishGuard = list.publishGuard;
      if (kind.value === 'config') {
        try {
          input.config = JSON.parse(text.value);
        } catch (e) {
          msg.error(`The configuration is not valid JSON: ${e.message}`);
          return;
        }
      } else {
        input.rules = text.value;
      }
      try {
        // An edit applies only to the revision it was made from (If-Match): a change made
        // meanwhile elsewhere is not overwritten.
        const headers = list && list.etag ? { 'If-Match': list.etag } : {};
        const { data: saved, response } = await api(list ? 'PUT' : 'POST', list ? `/v1/lists/${list.id}` : '/v1/lists', input, { full: true, headers });
        if (list) {
          list.etag = response.headers.get('etag');
          Object.assign(list, { revision: saved.revision });
          msg.ok(`Saved: revision ${saved.revision}.`);
        } else {
          location.hash = `#/lists/${saved.id}`;
        }
      } catch (e) {
        msg.error(e);
      }
    },
  }, field('Name', name), field('Kind', kind), field(list ? 'Contents' : 'Rules or configuration', text),
  h('button', { type: 'submit' }, list ? 'Save' : 'Create list'));
}
