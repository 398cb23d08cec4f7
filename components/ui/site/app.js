// The blocklist-edge dashboard: a client of the public API (/v1/…), nothing more. The bearer
// token the user signs in with stays in this tab's session storage and goes only into the
// Authorization header of same-origin API calls. Pages are views of the URL's fragment
// (#/lists, #/lists/{id}, #/preview, #/admin); every element is built with the DOM API (no
// HTML from strings), so nothing the API returns is ever parsed as markup.

const TOKEN_KEY = 'blocklist-edge.token';
const FORMATS = ['adblock', 'hosts', 'domains', 'wildcard', 'dnsmasq', 'dnsmasq-legacy', 'unbound', 'rpz', 'allowlist'];
const FINISHED = ['done', 'dead', 'unchanged', 'held', 'discarded'];
const main = document.getElementById('main');

/** An error the API answered: its status, code and message. */
class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

const token = () => sessionStorage.getItem(TOKEN_KEY);

/**
 * Calls the API. `body` is sent as JSON, with `headers` besides the token; answers JSON (or,
 * with `text`, the body as text and the response; with `full`, the JSON and the response).
 * Throws an ApiError with the API's own message for any status >= 400.
 */
async function api(method, path, body, { text = false, full = false, headers: extra = {} } = {}) {
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

/** Builds an element: h('a', {href: '#'}, 'text', child, …). Attributes starting with `on` are listeners. */
function h(tag, attrs = {}, ...children) {
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
function fill(el, ...children) {
  el.replaceChildren(...children.flat().filter((c) => c !== null && c !== undefined && c !== false));
}

/** A labelled form field; `control` gets the id. */
function field(label, control, note) {
  const id = control.id || `f-${Math.random().toString(36).slice(2)}`;
  control.id = id;
  return h('div', {}, h('label', { for: id }, label), control, note ? h('p', { class: 'note' }, note) : null);
}

/** A box that shows an error or a success message, announced to screen readers. */
function messageBox(id) {
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
function copyable(label, value) {
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

const table = (head, rows) => h('div', { class: 'scroll' },
  h('table', {}, h('thead', {}, h('tr', {}, head.map((c) => h('th', { scope: 'col' }, c)))), h('tbody', {}, rows)));

const when = (t) => (t ? new Date(t).toLocaleString() : '—');

function page(title, ...content) {
  document.title = `${title} · blocklist-edge`;
  fill(main, h('h1', {}, title), ...content);
  main.focus();
}

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

// ---- Lists --------------------------------------------------------------------------------

async function lists() {
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
function listForm(list, msg) {
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

async function listPage(id) {
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
      if (job.status === 'done' || job.status === 'unchanged') route();
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

// ---- Preview ------------------------------------------------------------------------------

function preview() {
  const msg = messageBox();
  const config = h('textarea', { id: 'preview-config', rows: 10, spellcheck: 'false' });
  config.value = JSON.stringify({ name: 'Preview', sources: [{ source: 'rules.txt' }], transformations: ['RemoveComments', 'Deduplicate', 'Validate'] }, null, 2);
  const rules = h('textarea', { id: 'preview-rules', rows: 6, spellcheck: 'false' });
  rules.value = '! pasted rules\n||ads.example^\n||ads.example^\n0.0.0.0 tracker.example\n';
  const out = h('div', { id: 'preview-output' });
  const form = h('form', {
    onsubmit: async (ev) => {
      ev.preventDefault();
      msg.clear();
      fill(out);
      let parsed;
      try {
        parsed = JSON.parse(config.value);
      } catch (e) {
        msg.error(`The configuration is not valid JSON: ${e.message}`);
        return;
      }
      try {
        const { text, response } = await api('POST', '/v1/preview', { config: parsed, sources: { 'rules.txt': rules.value } }, { text: true });
        fill(out, h('p', { class: 'ok' }, `${response.headers.get('x-rule-count') ?? '?'} rules in the result.`), h('pre', {}, text));
      } catch (e) {
        msg.error(e);
      }
    },
  }, field('Configuration (HostlistCompiler JSON)', config, 'A source named rules.txt reads the rules below; URL sources are fetched by the server.'),
  field('rules.txt', rules), h('button', { type: 'submit' }, 'Preview the compile'));
  page('Preview a compile', form, msg.el, out);
}

// ---- Admin --------------------------------------------------------------------------------

function admin() {
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
