// The organisation's identities (instance admins only: the API refuses everyone else), and making
// a machine identity. Its client secret is shown once: it lives only in the one-time panel's DOM,
// is wiped when the panel is dismissed and on navigation, and is never stored or put in the URL.

import * as api from './api.js';
import {
  h, time, code, badge, dataTable, cell, alertBox, announce, field, formError, clearErrors,
  setFieldError, showFormError, busy,
} from './dom.js';
import { oneTimeSecret } from './once.js';
import * as session from './session.js';

function pageHeading(title, ...actions) {
  return h('div', { class: 'page-heading' }, h('h1', { tabindex: '-1', text: title }), actions.length ? h('div', { class: 'actions' }, actions) : null);
}

function identityRow(i) {
  const tr = document.createElement('tr');
  tr.dataset.identityId = i.id;
  tr.append(h('th', { scope: 'row', text: i.name }));
  cell(tr, i.type);
  cell(tr, i.type === 'user' ? i.email : i.clientId, 'mono');
  const flags = h('span', { class: 'badges' });
  if (i.isInstanceAdmin) flags.append(badge('instance admin', 'info'));
  if (i.disabled) flags.append(badge('disabled', 'danger'));
  cell(tr, flags.childNodes.length ? flags : '');
  cell(tr, code(i.id));
  cell(tr, time(i.createdAt));
  return tr;
}

export async function renderIdentities(view) {
  if (!(await session.isInstanceAdmin(view.signal))) {
    view.main.replaceChildren(
      pageHeading('Identities'),
      alertBox('Only instance admins manage identities. A project admin adds existing identities to a project on its Members page.', 'info'),
    );
    return;
  }
  const identities = await api.getAll('/api/v1/identities', 'identities', { signal: view.signal });
  if (!view.alive()) return;
  const table = dataTable({
    id: 'identities-table',
    caption: 'Identities of this Keyhold',
    columns: ['Name', 'Type', 'Client ID or email', 'Status', 'ID', 'Created'],
  });
  for (const i of identities) table.tbody.append(identityRow(i));

  const name = h('input', { type: 'text', id: 'identity-name', required: true, maxlength: '128', autocomplete: 'off', spellcheck: 'false' });
  const submit = h('button', { type: 'submit', id: 'identity-submit', class: 'button', text: 'Create machine identity' });
  const form = h(
    'form',
    { id: 'identity-form', class: 'form card', novalidate: true, 'aria-labelledby': 'identity-form-heading' },
    h('h2', { id: 'identity-form-heading', text: 'New machine identity' }),
    formError(),
    field({ label: 'Name', input: name, errorFor: 'name', hint: 'What uses it, e.g. ci-deployer. It signs in with a client ID and a generated client secret.' }),
    h('div', { class: 'actions' }, submit),
  );
  const slot = h('div', { id: 'identity-created' });
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    clearErrors(form);
    if (!name.value.trim()) {
      setFieldError(form, 'name', 'Enter a name.');
      name.focus();
      return;
    }
    await busy(submit, async () => {
      try {
        const { data } = await api.post('/api/v1/identities', { type: 'machine', name: name.value.trim() }, { signal: view.signal });
        if (!view.alive()) return;
        name.value = '';
        table.tbody.prepend(identityRow(data.identity));
        showSecret(view, slot, data.identity, data.clientSecret);
      } catch (err) {
        if (api.isAbort(err) || err instanceof api.SignedOut) return;
        showFormError(form, err);
      }
    }, 'Creating…');
  });

  view.main.replaceChildren(
    pageHeading('Identities'),
    h('p', { class: 'hint', text: 'Machine identities and users that can sign in to Keyhold. Add them to projects on each project’s Members page.' }),
    slot,
    form,
    table.wrap,
  );
}

/** The one-time panel: the client ID and the secret, a copy button, and "Done" that wipes it. */
function showSecret(view, slot, identity, secret) {
  const done = h('button', { type: 'button', id: 'client-secret-done', class: 'button', text: 'I have saved it' });
  const { panel, wipe, value } = oneTimeSecret(view, secret, {
    title: `Client secret of ${identity.name}`,
    once: 'Copy it now: you will not see this secret again. Keyhold keeps only a hash of it.',
    explain: [h('p', null, 'Client ID: ', code(identity.clientId))],
    dismiss: done,
    ids: { value: 'client-secret-once', copy: 'copy-client-secret' },
  });
  done.addEventListener('click', () => {
    wipe();
    announce('The client secret is gone from the page.');
  });
  slot.replaceChildren(panel);
  value.focus();
  announce(`${identity.name} created. Its client secret is shown once; copy it now.`);
}
