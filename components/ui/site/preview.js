// Preview a compile: a configuration and pasted rules, compiled by the server now.

import { api } from './api.js';
import { field, fill, h, messageBox, page } from './dom.js';

export function preview() {
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
