// Auth0 connections: the list (fast for 100 rows), one connection, and the create/edit form.
// The client secret is write-only in the API; here it only ever sits in a password input until the
// form is submitted, and the input is emptied right away.

import * as api from './api.js';
import { link } from './router.js';
import {
  h, time, code, badge, details, dataTable, cell, alertBox, describeError, announce,
  field, formError, clearErrors, setFieldError, showFormError, busy,
} from './dom.js';
import { keysetList } from './list.js';
import * as session from './session.js';
import { auditRows, auditTable as auditTableFor } from './pages-audit.js';
import { rotationStatus } from './pages-rotations.js';

const BASE = '/api/v1/app-connections/auth0';
const enc = encodeURIComponent;

// Known capabilities in a stable order (the API may add others; those go last, by name).
const CAPABILITIES = {
  validate: 'validate',
  listClients: 'list clients',
  rotateClientSecrets: 'rotate secrets',
  readUsers: 'read users',
  createUsers: 'create users',
  updateUsers: 'update users',
  tokenVault: 'token vault',
};
const ORDER = Object.keys(CAPABILITIES);

function capabilityNames(capabilities) {
  const rank = (name) => (ORDER.includes(name) ? ORDER.indexOf(name) : ORDER.length);
  return Object.keys(capabilities).sort((a, b) => rank(a) - rank(b) || a.localeCompare(b));
}

export const capabilityLabel = (name) => CAPABILITIES[name] || name;

/** One compact badge per capability of the last scope check; grey when never checked. */
export function scopeBadges(scopeCheck) {
  const wrap = document.createElement('span');
  wrap.className = 'badges';
  if (!scopeCheck || !scopeCheck.capabilities) {
    wrap.append(badge('not checked', 'muted', 'Keyhold has not checked this connection’s Auth0 scopes yet'));
    return wrap;
  }
  for (const name of capabilityNames(scopeCheck.capabilities)) {
    const missing = scopeCheck.capabilities[name] || [];
    const label = capabilityLabel(name);
    if (missing.length === 0) {
      wrap.append(badge(label, 'ok', `${label}: usable`));
    } else {
      const scopes = missing.length === 1 ? 'scope' : 'scopes';
      wrap.append(badge(`${label}: missing scope`, 'warn', `${label} needs the Auth0 ${scopes} ${missing.join(', ')}`));
    }
  }
  return wrap;
}

function pageHeading(title, ...actions) {
  return h('div', { class: 'page-heading' }, h('h1', { tabindex: '-1', text: title }), actions.length ? h('div', { class: 'actions' }, actions) : null);
}

// ---------------------------------------------------------------------------------------------
// The list

export async function renderConnections(view) {
  const { project } = view;
  const search = h('input', {
    type: 'search', id: 'connection-search', autocomplete: 'off', spellcheck: 'false', maxlength: '64',
    value: view.query.get('search') || '', placeholder: 'Name contains…',
  });
  const table = dataTable({
    id: 'connections-table',
    caption: `Auth0 connections of ${project.name}`,
    columns: ['Name', 'Domain', 'Client ID', 'Audience', 'Version', 'Updated', 'Capabilities'],
  });

  // Plain createElement rather than h(): this list is the one measured at 100 rows a page.
  function connectionRow(c) {
    const tr = document.createElement('tr');
    tr.dataset.connectionId = c.id;
    const th = document.createElement('th');
    th.scope = 'row';
    const a = document.createElement('a');
    a.href = link.connection(project.id, c.id);
    a.textContent = c.name;
    th.append(a);
    tr.append(th);
    cell(tr, c.credentials.domain);
    cell(tr, c.credentials.clientId, 'mono');
    cell(tr, c.credentials.audience, 'mono break');
    cell(tr, c.version, 'num');
    cell(tr, time(c.updatedAt));
    cell(tr, scopeBadges(c.scopeCheck));
    return tr;
  }

  const list = keysetList(view, {
    path: BASE,
    key: 'appConnections',
    query: (cursor) => ({ projectId: project.id, limit: 100, cursor, search: search.value.trim() }),
    table,
    row: connectionRow,
    search,
    // examples/ui_bench.rs times the list from the API's answer to painted rows with these.
    marks: { answered: 'keyhold:api-answered', rendered: 'keyhold:rows-rendered', painted: 'keyhold:rows-painted' },
    empty: ({ search: term, cursor }) => {
      if (term) return `No connection’s name contains “${term}”.`;
      return cursor ? 'No more connections.' : 'No connections in this project yet.';
    },
  });

  // Enter in the search box should search now, not submit anything.
  search.addEventListener('keydown', (event) => {
    if (event.key !== 'Enter') return;
    event.preventDefault();
    list.restart();
  });

  const actions = session.canWrite(project)
    ? [h('a', { id: 'new-connection', class: 'button', href: link.connectionNew(project.id), text: 'New connection' })]
    : [];
  view.main.replaceChildren(pageHeading('Connections', ...actions), ...list.parts);
  // A cursor in the address (a shared link, the benchmark) starts the list there.
  await list.restart(view.query.get('cursor') || null);
}

// ---------------------------------------------------------------------------------------------
// One connection

function diagnosticsView(diagnostics, tokenExpiresIn) {
  const { wrap, tbody } = dataTable({
    id: 'scope-diagnostics-table',
    caption: 'What each capability can do with the granted scopes',
    columns: ['Capability', 'What it does', 'Usable', 'Required scopes', 'Missing scopes'],
  });
  for (const c of diagnostics.capabilities) {
    const tr = document.createElement('tr');
    tr.append(h('th', { scope: 'row', text: capabilityLabel(c.capability) }));
    cell(tr, c.description);
    cell(tr, c.usable ? badge('usable', 'ok') : badge('missing scope', 'warn'));
    cell(tr, c.requiredScopes.join(', '), 'mono');
    cell(tr, c.missingScopes.join(', '), 'mono');
    tbody.append(tr);
  }
  const scopes = (list) => (list.length ? h('span', { class: 'scope-list' }, list.map((s) => code(s))) : 'none');
  return h(
    'div',
    { class: 'diagnostics' },
    details([
      ['Granted scopes', scopes(diagnostics.grantedScopes)],
      ['Scopes no capability needs', scopes(diagnostics.excessScopes)],
      tokenExpiresIn !== undefined ? ['Token lifetime', `${tokenExpiresIn} s`] : null,
    ].filter(Boolean)),
    wrap,
  );
}

function scopeCheckView(scopeCheck) {
  if (!scopeCheck) return h('p', { class: 'muted', text: 'Keyhold has not checked this connection’s scopes yet.' });
  const { wrap, tbody } = dataTable({
    id: 'scope-check-table',
    caption: 'Last scope check by capability',
    columns: ['Capability', 'Status', 'Missing scopes'],
  });
  for (const name of capabilityNames(scopeCheck.capabilities)) {
    const missing = scopeCheck.capabilities[name] || [];
    const tr = document.createElement('tr');
    tr.append(h('th', { scope: 'row', text: capabilityLabel(name) }));
    cell(tr, missing.length ? badge('missing scope', 'warn') : badge('usable', 'ok'));
    cell(tr, missing.join(', '), 'mono');
    tbody.append(tr);
  }
  return h('div', null, h('p', null, 'Last checked ', time(scopeCheck.checkedAt), '.'), wrap);
}

export async function renderConnectionDetail(view) {
  const { project } = view;
  const id = view.params.connectionId;
  const path = `${BASE}/${enc(id)}`;
  const write = session.canWrite(project);
  const admin = session.isAdmin(project);

  const { data } = await api.get(path, { signal: view.signal });
  let connection = data.appConnection;

  // The side panels load together; each failing alone only blanks its own section.
  const [rotations, audit] = await Promise.allSettled([
    api.get('/api/v2/secret-rotations/auth0-client-secret', {
      query: { projectId: project.id, connectionId: id, limit: 100 },
      signal: view.signal,
    }),
    admin
      ? api.get('/api/v1/audit-logs', { query: { projectId: project.id, resourceId: id, limit: 20 }, signal: view.signal })
      : Promise.resolve(null),
  ]);
  for (const settled of [rotations, audit]) {
    if (settled.status === 'rejected' && (api.isAbort(settled.reason) || settled.reason instanceof api.SignedOut)) {
      throw settled.reason;
    }
  }

  const fieldsSlot = h('div');
  const scopeSlot = h('div');
  const diagnosticsSlot = h('div', { id: 'scope-diagnostics', 'aria-live': 'polite' });
  const actionError = h('div', { class: 'form-error', role: 'alert', id: 'detail-error', tabindex: '-1' });

  function showConnection() {
    const c = connection.credentials;
    fieldsSlot.replaceChildren(
      details([
        ['Name', connection.name],
        ['Description', connection.description],
        ['Domain', c.domain],
        ['Client ID', code(c.clientId)],
        ['Audience', code(c.audience)],
        ['Client secret', h('span', { class: 'muted', text: 'Stored encrypted; never shown.' })],
        ['Version', String(connection.version)],
        ['Created', time(connection.createdAt)],
        ['Updated', time(connection.updatedAt)],
        ['ID', code(connection.id)],
      ]),
    );
    scopeSlot.replaceChildren(scopeCheckView(connection.scopeCheck));
  }
  showConnection();

  const actions = [];
  if (write) {
    const check = h('button', { type: 'button', id: 'check-scopes', class: 'button secondary', text: 'Check scopes' });
    check.addEventListener('click', () =>
      busy(check, async () => {
        actionError.textContent = '';
        diagnosticsSlot.replaceChildren(h('p', { class: 'loading', text: 'Asking Auth0 for a fresh token…' }));
        try {
          const { data: result } = await api.post(`${path}/validate`, undefined, { signal: view.signal });
          diagnosticsSlot.replaceChildren(h('h3', { text: 'Fresh check' }), diagnosticsView(result.diagnostics, result.tokenExpiresIn));
          diagnosticsSlot.scrollIntoView({ block: 'nearest' });
          announce('Scopes checked.');
          // The check is stored on the connection; show the stored view as the API now has it.
          const { data: again } = await api.get(path, { signal: view.signal });
          connection = again.appConnection;
          showConnection();
        } catch (err) {
          if (api.isAbort(err) || err instanceof api.SignedOut) return;
          diagnosticsSlot.replaceChildren(alertBox(describeError(err)));
        }
      }, 'Checking…'),
    );
    const remove = h('button', { type: 'button', id: 'delete-connection', class: 'button danger', text: 'Delete' });
    remove.addEventListener('click', async () => {
      const sure = window.confirm(
        `Delete the connection “${connection.name}”? Keyhold forgets its credentials; the Auth0 application itself is not touched.`,
      );
      if (!sure) return;
      await busy(remove, async () => {
        actionError.textContent = '';
        try {
          await api.del(path, { headers: api.ifMatch(connection.version), signal: view.signal });
          session.flash(`Connection “${connection.name}” deleted.`);
          location.assign(link.connections(project.id));
        } catch (err) {
          if (api.isAbort(err) || err instanceof api.SignedOut) return;
          const stale = err.status === 412 ? ' Reload the page to see the current version.' : '';
          actionError.textContent = describeError(err) + stale;
          actionError.focus();
        }
      });
    });
    actions.push(
      h('a', { id: 'edit-connection', class: 'button secondary', href: link.connectionEdit(project.id, id), text: 'Edit' }),
      check,
      h('a', { class: 'button secondary', href: link.rotationNew(project.id, id), text: 'New rotation' }),
      remove,
    );
  }

  // Rotations acting through this connection.
  const rotationTable = dataTable({
    id: 'connection-rotations',
    caption: 'Rotations using this connection',
    columns: ['Name', 'Client', 'Status', 'Last rotated', 'Next rotation'],
  });
  let rotationNote = null;
  if (rotations.status === 'fulfilled') {
    const list = rotations.value.data.secretRotations;
    for (const r of list) {
      const tr = document.createElement('tr');
      tr.dataset.rotationId = r.id;
      tr.append(h('th', { scope: 'row' }, h('a', { href: link.rotation(project.id, r.id), text: r.name })));
      cell(tr, r.parameters.clientId, 'mono');
      cell(tr, rotationStatus(r));
      cell(tr, time(r.lastRotatedAt, 'never'));
      cell(tr, r.isAutoRotationEnabled ? time(r.nextRotationAt) : h('span', { class: 'muted', text: 'manual only' }));
      rotationTable.tbody.append(tr);
    }
    if (!list.length) rotationNote = h('p', { class: 'muted', text: 'No rotation uses this connection.' });
  } else {
    rotationNote = alertBox(describeError(rotations.reason));
  }

  let auditSection = null;
  if (admin) {
    const auditTable = auditTableFor('connection-audit', 'Recent audit events about this connection');
    let note = null;
    if (audit.status === 'fulfilled') {
      const events = audit.value.data.auditLogs;
      auditTable.tbody.append(auditRows(events, { projectId: project.id }));
      if (!events.length) note = h('p', { class: 'muted', text: 'No events yet.' });
    } else {
      note = alertBox(describeError(audit.reason));
    }
    auditSection = h(
      'section',
      { class: 'section', 'aria-labelledby': 'audit-heading' },
      h('h2', { id: 'audit-heading', text: 'Recent activity' }),
      note,
      auditTable.wrap,
      h('p', null, h('a', { href: link.audit(project.id), text: 'Full audit log' })),
    );
  }

  view.main.replaceChildren(
    h('p', { class: 'breadcrumb' }, h('a', { href: link.connections(project.id), text: 'Connections' }), ' / '),
    pageHeading(connection.name, ...actions),
    actionError,
    h(
      'section',
      { id: 'connection-detail', class: 'section', 'aria-labelledby': 'fields-heading' },
      h('h2', { id: 'fields-heading', class: 'sr-only', text: 'Details' }),
      fieldsSlot,
    ),
    h(
      'section',
      { class: 'section', 'aria-labelledby': 'scopes-heading' },
      h('h2', { id: 'scopes-heading', text: 'Management API scopes' }),
      scopeSlot,
      diagnosticsSlot,
    ),
    h(
      'section',
      { class: 'section', 'aria-labelledby': 'rotations-heading' },
      h('h2', { id: 'rotations-heading', text: 'Rotations' }),
      rotationNote,
      rotationTable.wrap,
    ),
    auditSection,
  );
}

// ---------------------------------------------------------------------------------------------
// Create and edit

const SLUG = /^[a-z0-9]+(-[a-z0-9]+)*$/;

export async function renderConnectionForm(view) {
  const { project } = view;
  const editing = view.page === 'connection-edit';
  const id = view.params.connectionId;
  const path = editing ? `${BASE}/${enc(id)}` : BASE;
  let connection = null;
  if (editing) {
    const { data } = await api.get(path, { signal: view.signal });
    connection = data.appConnection;
  }
  const back = editing ? link.connection(project.id, id) : link.connections(project.id);
  const title = editing ? `Edit ${connection.name}` : 'New Auth0 connection';

  if (!session.canWrite(project)) {
    view.main.replaceChildren(
      pageHeading(title),
      alertBox(`Your role in this project (${project.role}) cannot change connections.`, 'info'),
      h('p', null, h('a', { href: back, text: 'Back' })),
    );
    return;
  }

  const current = connection ? connection.credentials : {};
  const name = h('input', { type: 'text', id: 'name', name: 'name', required: true, maxlength: '64', autocomplete: 'off', spellcheck: 'false', value: connection ? connection.name : '' });
  const description = h('textarea', { id: 'description', name: 'description', maxlength: '256', rows: '2' });
  description.value = (connection && connection.description) || '';
  const domain = h('input', { type: 'text', id: 'domain', name: 'domain', required: !editing, autocomplete: 'off', spellcheck: 'false', autocapitalize: 'off', placeholder: 'acme.eu.auth0.com', value: current.domain || '' });
  const clientId = h('input', { type: 'text', id: 'clientId', name: 'clientId', required: !editing, maxlength: '128', autocomplete: 'off', spellcheck: 'false', autocapitalize: 'off', value: current.clientId || '' });
  const clientSecret = h('input', { type: 'password', id: 'clientSecret', name: 'clientSecret', required: !editing, maxlength: '512', autocomplete: 'off' });
  const audience = h('input', { type: 'text', id: 'audience', name: 'audience', maxlength: '600', autocomplete: 'off', spellcheck: 'false', autocapitalize: 'off', value: current.audience || '' });
  const submit = h('button', { type: 'submit', id: 'connection-submit', class: 'button', text: editing ? 'Save changes' : 'Create connection' });

  const form = h(
    'form',
    { id: 'connection-form', class: 'form card', novalidate: true },
    field({ label: 'Name', input: name, errorFor: 'name', hint: 'Lowercase letters, digits and single hyphens; unique in the project.' }),
    field({ label: 'Description', input: description, errorFor: 'description', optional: true }),
    h(
      'fieldset',
      { class: 'credentials' },
      h('legend', { text: 'Auth0 Machine-to-Machine application' }),
      editing
        ? h('p', { class: 'hint', text: 'Credentials are replaced as a whole: to change the domain, client ID or audience, enter the client secret too. Leave the secret empty to keep the current credentials.' })
        : h('p', { class: 'hint', text: 'Keyhold checks these with Auth0 before storing them; the secret is encrypted and never shown again.' }),
      field({ label: 'Domain', input: domain, errorFor: 'credentials.domain', hint: 'The tenant’s Auth0 hostname, without a scheme or path.' }),
      field({ label: 'Client ID', input: clientId, errorFor: 'credentials.clientId' }),
      field({ label: 'Client secret', input: clientSecret, errorFor: 'credentials.clientSecret', optional: editing }),
      field({ label: 'Audience', input: audience, errorFor: 'credentials.audience', optional: true, hint: 'Leave empty for the tenant’s Management API (/api/v2/).' }),
    ),
    formError(),
    h('div', { class: 'actions' }, submit, h('a', { class: 'button secondary', href: back, text: 'Cancel' })),
  );

  // One key per form, kept across retries of the same submission, so a create whose answer got
  // lost on the network is replayed instead of made twice; a refused request frees it anyway.
  let idempotencyKey = api.randomKey();

  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    clearErrors(form);
    const secret = clientSecret.value;
    clientSecret.value = '';
    const values = {
      name: name.value.trim(),
      description: description.value.trim(),
      domain: domain.value.trim(),
      clientId: clientId.value.trim(),
      audience: audience.value.trim(),
    };

    const credentialsChanged = editing && (values.domain !== current.domain || values.clientId !== current.clientId || values.audience !== (current.audience || ''));
    const replacing = !editing || Boolean(secret);
    let invalid = false;
    const fail = (fieldPath, message) => {
      setFieldError(form, fieldPath, message);
      invalid = true;
    };
    if (!values.name) fail('name', 'Enter a name.');
    else if (!SLUG.test(values.name)) fail('name', 'Use lowercase letters, digits and single hyphens only.');
    if (replacing) {
      if (!values.domain) fail('credentials.domain', 'Enter the tenant’s domain.');
      if (!values.clientId) fail('credentials.clientId', 'Enter the application’s client ID.');
      if (!secret) fail('credentials.clientSecret', 'Enter the application’s client secret.');
    } else if (credentialsChanged) {
      fail('credentials.clientSecret', 'Enter the client secret too: credentials are replaced as a whole.');
    }
    if (invalid) {
      form.querySelector('#form-error').textContent = 'Some fields need attention.';
      const first = form.querySelector('[aria-invalid="true"]');
      if (first) first.focus();
      return;
    }

    const credentials = replacing
      ? { domain: values.domain, clientId: values.clientId, clientSecret: secret, audience: values.audience || null }
      : null;
    let body;
    if (editing) {
      body = {};
      if (values.name !== connection.name) body.name = values.name;
      if (values.description !== (connection.description || '')) body.description = values.description || null;
      if (credentials) body.credentials = credentials;
      if (!Object.keys(body).length) {
        session.flash('Nothing changed.');
        location.assign(back);
        return;
      }
    } else {
      body = { name: values.name, description: values.description || null, method: 'client-credentials', projectId: project.id, credentials };
    }

    await busy(submit, async () => {
      try {
        const { data } = editing
          ? await api.patch(path, body, { headers: api.ifMatch(connection.version), signal: view.signal })
          : await api.post(path, body, { headers: { 'Idempotency-Key': idempotencyKey }, signal: view.signal });
        body = null;
        const saved = data.appConnection;
        const lacking = data.diagnostics ? data.diagnostics.capabilities.filter((c) => !c.usable).map((c) => capabilityLabel(c.capability)) : [];
        const scopeNote = lacking.length ? ` Missing Auth0 scopes for: ${lacking.join(', ')}.` : '';
        session.flash(`${editing ? 'Connection saved.' : 'Connection created.'}${scopeNote}`);
        location.assign(link.connection(project.id, saved.id));
      } catch (err) {
        body = null;
        if (api.isAbort(err) || err instanceof api.SignedOut) return;
        if (err.status && err.status < 500) idempotencyKey = api.randomKey();
        showFormError(form, err, { secretPath: 'credentials.clientSecret' });
        if (err.status === 412) {
          const general = form.querySelector('#form-error');
          general.textContent += ' Someone changed this connection since you opened it: reload to edit the current version.';
        }
      }
    }, editing ? 'Saving…' : 'Checking with Auth0…');
  });

  view.main.replaceChildren(
    h('p', { class: 'breadcrumb' }, h('a', { href: link.connections(project.id), text: 'Connections' }), ' / '),
    pageHeading(title),
    form,
  );
}
