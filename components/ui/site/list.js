// A list's page: compile with the job followed live, versions and their diff, subscriptions,
// lookup and explain, edit, delete.

import { api } from './api.js';
import { copyable, field, fill, h, messageBox, page, table, when } from './dom.js';
import { listForm } from './lists.js';

const FORMATS = ['adblock', 'hosts', 'domains', 'wildcard', 'dnsmasq', 'dnsmasq-legacy', 'unbound', 'rpz', 'allowlist'];
const FINISHED = ['done', 'dead', 'unchanged', 'held', 'discarded'];

/** Draws the current page anew (the router listens for this). */
const redraw = () => window.dispatchEvent(new HashChangeEvent('hashchange'));

export async function listPage(id) {
  const msg = messageBox('list-message');
  let list;
  try {
    const { data, response } = await api('GET', `/v1/lists/${id}`, undefined, { full: true });
    list = { ...data, etag: response.headers.get('etag') };
  } catch (e) {
    page('List', msg.el);
    msg.error(e);
    return;
  }
  const facts = h('p', {}, `${list.kind === 'config' ? 'Configuration' : 'Rules'} list, revision ${list.revision}`,
    list.version ? `, published version ${list.version}` : ', not compiled yet', `. Id: `, h('code', {}, list.id));
  page(list.name, facts,
    h('h2', {}, 'Compile'), compileSection(list),
    h('h2', {}, 'Versions'), await versionsSection(list),
    h('h2', {}, 'Subscriptions'), await subscriptionsSection(list),
    h('h2', {}, 'Look a name up'), lookupSection(list),
    h('h2', {}, 'Edit'), listForm(list, msg), msg.el,
    h('h2', {}, 'Delete'), deleteSection(list));
}

/** The last job watched (shown again when the page is drawn anew after it ended). */
let lastJob = null;

function compileSection(list) {
  const out = h('div', { role: 'status', 'aria-live': 'polite', id: 'job' });
  if (lastJob && lastJob.listId === list.id) showJob(lastJob, out);
  const button = h('button', {
    type: 'button', id: 'compile', onclick: async () => {
      button.disabled = true;
      try {
        const queued = await api('POST', `/v1/lists/${list.id}/compile`);
        await watchJob(queued.jobId, out);
      } catch (e) {
        fill(out, h('p', { class: 'error', role: 'alert' }, e.message));
      } finally {
        button.disabled = false;
      }
    },
  }, 'Compile now');
  return h('section', {}, h('p', { class: 'note' }, 'Compiles the list in the background; the job is shown here until it ends.'), button, out);
}

/** Shows `job`'s state in `out`. */
function showJob(job, out) {
  const last = job.history && job.history.length ? job.history[job.history.length - 1] : null;
  fill(out, h('p', {}, 'Job ', h('code', {}, job.id), ': ',
      h('span', { class: `status ${job.status}`, id: 'job-status' }, job.status),
      `, attempt ${job.attempts} of ${job.maxAttempts}`,
      job.nextAttemptAt ? `, next attempt ${when(job.nextAttemptAt)}` : '',
      job.artifact ? `, ${job.artifact.rules} rules` : '', '.'),
    job.lastError || (last && last.error) ? h('p', { class: 'error' }, job.lastError || last.error) : null);
}

/** Polls job `id` until it ends, showing its state in `out`; then draws the page anew. */
async function watchJob(id, out) {
  for (;;) {
    const job = await api('GET', `/v1/jobs/${id}`);
    lastJob = job;
    showJob(job, out);
    if (FINISHED.includes(job.status)) {
      if (job.status === 'done' || job.status === 'unchanged') redraw();
      return job;
    }
    await new Promise((r) => setTimeout(r, 500));
  }
}

async function versionsSection(list) {
  let data;
  try {
    data = await api('GET', `/v1/lists/${list.id}/versions`);
  } catch (e) {
    return h('p', { class: 'note' }, e.code === 'not_compiled' ? 'No version yet: compile the list.' : e.message);
  }
  const options = () => data.versions.map((v) => h('option', { value: v.version }, `version ${v.version}${v.current ? ' (current)' : ''}`));
  const from = h('select', { id: 'diff-from' }, options());
  const to = h('select', { id: 'diff-to' }, options());
  if (data.versions.length > 1) from.value = data.versions[1].version;
  const out = h('div', { id: 'diff' });
  const diff = h('form', {
    onsubmit: async (ev) => {
      ev.preventDefault();
      try {
        const d = await api('GET', `/v1/lists/${list.id}/diff?from=${from.value}&to=${to.value}`);
        fill(out, h('p', {}, `${d.removed} removed, ${d.added} added.`),
          d.lines.length ? h('pre', {}, d.lines.map((l) => h('span', { class: l.startsWith('+') ? 'diff-add' : 'diff-del' }, l + '\n'))) : null);
      } catch (e) {
        fill(out, h('p', { class: 'error', role: 'alert' }, e.message));
      }
    },
  }, h('div', { class: 'row' }, field('From', from), field('To', to)), h('button', { type: 'submit' }, 'Show the difference'));
  return h('section', {},
    table(['Version', 'Published', 'Rules', 'Bytes', 'Cause'], data.versions.map((v) => h('tr', {},
      h('td', {}, v.version, v.current ? ' (current)' : ''), h('td', {}, when(v.publishedAt)), h('td', {}, v.rules),
      h('td', {}, v.bytes), h('td', {}, v.cause)))),
    data.held ? h('p', { class: 'error' }, `A compile is held: ${data.held.message}`) : null,
    data.versions.length > 1 ? diff : null, out);
}

async function subscriptionsSection(list) {
  const msg = messageBox();
  const created = h('div', { id: 'subscription-created' });
  const rows = h('div', { id: 'subscriptions' });
  const load = async () => {
    try {
      const { subscriptions } = await api('GET', `/v1/lists/${list.id}/subscriptions`);
      fill(rows, subscriptions.length === 0 ? h('p', {}, 'No subscriptions yet.')
        : table(['Name', 'Format', 'Published', 'Actions'], subscriptions.map((s) => h('tr', {},
          h('td', {}, s.name), h('td', {}, s.format),
          h('td', {}, s.published ? `${s.published.entries} entries` : 'not compiled'),
          h('td', {},
            h('button', { type: 'button', class: 'secondary', onclick: () => rotate(s) }, 'Rotate'),
            h('button', { type: 'button', class: 'danger', onclick: () => revoke(s) }, 'Revoke'))))));
    } catch (e) {
      msg.error(e);
    }
  };
  const showUrl = (what, c) => {
    const url = c.url || location.origin + c.path;
    fill(created, h('p', {}, `${what} Give this URL to the resolver or ad blocker; it is shown only now.`),
      copyable('Subscription URL', url));
  };
  const rotate = async (s) => {
    try {
      showUrl(`New URL for “${s.name}”; the old one no longer works.`, await api('POST', `/v1/lists/${list.id}/subscriptions/${s.id}/rotate`));
    } catch (e) { msg.error(e); }
  };
  const revoke = async (s) => {
    if (!confirm(`Revoke the subscription “${s.name}”? Its URL stops working.`)) return;
    try {
      await api('DELETE', `/v1/lists/${list.id}/subscriptions/${s.id}`);
      fill(created);
      msg.ok(`Revoked “${s.name}”.`);
      await load();
    } catch (e) { msg.error(e); }
  };
  const name = h('input', { type: 'text', id: 'sub-name', required: true, value: 'my resolver' });
  const format = h('select', { id: 'sub-format' }, FORMATS.map((f) => h('option', { value: f }, f)));
  const lookup = h('input', { type: 'checkbox', id: 'sub-lookup' });
  const form = h('form', {
    onsubmit: async (ev) => {
      ev.preventDefault();
      msg.clear();
      try {
        showUrl('Created.', await api('POST', `/v1/lists/${list.id}/subscriptions`, { name: name.value, format: format.value, lookup: lookup.checked }));
        await load();
      } catch (e) {
        msg.error(e);
      }
    },
  }, h('div', { class: 'row' }, field('Name', name), field('Format', format)),
  h('label', { class: 'inline', for: 'sub-lookup' }, lookup, 'Also answers lookups of names'),
  h('div', {}, h('button', { type: 'submit' }, 'Create a subscription URL')));
  await load();
  return h('section', {}, rows, form, created, msg.el);
}

function lookupSection(list) {
  const name = h('input', { type: 'text', id: 'lookup-name', required: true, placeholder: 'ads.example.com' });
  const type = h('select', { id: 'lookup-type' }, ['', 'A', 'AAAA', 'CNAME', 'HTTPS', 'TXT'].map((t) => h('option', { value: t }, t || 'any')));
  const out = h('div', { id: 'lookup-result', role: 'status', 'aria-live': 'polite' });
  const q = () => `name=${encodeURIComponent(name.value.trim())}`;
  const lookupName = async (ev) => {
    ev.preventDefault();
    try {
      const r = await api('GET', `/v1/lists/${list.id}/lookup?${q()}${type.value ? `&type=${type.value}` : ''}`);
      fill(out,
        h('p', { class: r.blocked ? 'error' : 'ok' }, r.blocked ? 'Blocked' : r.decidedBy ? 'Allowed' : 'Not blocked',
          r.decidedBy ? [' by ', h('code', {}, r.decidedBy.text), ` (line ${r.decidedBy.line})`] : '', '.'),
        r.matches.length ? table(['Rule', 'Line', 'Role'], r.matches.map((m) => h('tr', {},
          h('td', {}, h('code', {}, m.text)), h('td', {}, m.line), h('td', {}, m.role)))) : null);
    } catch (e) {
      fill(out, h('p', { class: 'error', role: 'alert' }, e.message));
    }
  };
  const explain = async () => {
    if (!name.value.trim()) return name.reportValidity();
    try {
      const r = await api('GET', `/v1/lists/${list.id}/explain?${q()}`);
      fill(out, h('p', {}, 'How the compile treated this name:'), h('pre', {}, JSON.stringify(r, null, 2)));
    } catch (e) {
      fill(out, h('p', { class: 'error', role: 'alert' }, e.message));
    }
  };
  return h('form', { onsubmit: lookupName },
    h('div', { class: 'row' }, field('Name', name), field('Query type', type)),
    h('button', { type: 'submit' }, 'Look up'),
    h('button', { type: 'button', class: 'secondary', onclick: explain }, 'Explain'), out);
}

function deleteSection(list) {
  const msg = messageBox();
  return h('section', {}, h('button', {
    type: 'button', class: 'danger', id: 'delete-list', onclick: async () => {
      if (!confirm(`Delete the list “${list.name}”, its versions and its subscriptions?`)) return;
      try {
        await api('DELETE', `/v1/lists/${list.id}`);
        location.hash = '#/lists';
      } catch (e) {
        msg.error(e);
      }
    },
  }, 'Delete this list'), msg.el);
}
