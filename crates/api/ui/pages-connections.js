// Auth0 connections: the list (fast for 100 rows), one connection, and the create/edit form.
// The client secret is write-only in the API; here it only ever sits in a password input. It stays
// there after a refusal that is not about it (a taken name, a bad domain) so it need not be pasted
// again, and is emptied when the secret is at fault or the form is done with. A Private Key JWT
// connection has no secret: Keyhold generates its key pair and the page only ever gets the public
// key (PEM and kid), to copy into Auth0.

import * as api from './api.js';
import { link } from './router.js';
import {
  h, time, code, badge, details, dataTable, cell, alertBox, describeError, announce,
  field, formError, clearErrors, labelCells, setFieldError, showFormError, showFieldsInvalid, busy,
} from './dom.js';
import { keysetList } from './list.js';
import * as session from './session.js';
import { auditRows, auditTable as auditTableFor } from './pages-audit.js';
import { rotationStatus, typeLabel } from './pages-rotations.js';

const BASE = '/api/v1/app-connections/auth0';
const KEY_METHOD = 'private-key-jwt';
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

/**
 * One line for a list row: "6/7 · missing: token vault" (usable of checked capabilities, then
 * the ones lacking a scope), from the list's per-row `scopeSummary`; the connection's page has
 * the scopes each one lacks. Grey when never checked.
 */
export function scopeSummary(summary) {
  if (!summary) {
    return badge('not checked', 'muted', 'Keyhold has not checked this connection’s Auth0 scopes yet');
  }
  const lacking = capabilityNames(Object.fromEntries(summary.lacking.map((name) => [name, true])));
  const checked = summary.usable.length + lacking.length;
  if (!lacking.length) return badge(`${checked}/${checked} · all usable`, 'ok', 'Every capability has the Auth0 scopes it needs');
  const el = badge(
    `${summary.usable.length}/${checked} · missing: ${lacking.map(capabilityLabel).join(', ')}`,
    'warn',
    `${lacking.map(capabilityLabel).join(', ')} lack Auth0 scopes; the connection’s page lists which`,
  );
  el.classList.add('summary');
  return el;
}

// The API's capability → scopes table (from /api/v1/app-connections/options), fetched once.
let catalogue = null;

/**
 * The empty connections page: what a connection is, the Management API scopes each capability
 * needs (the API's own table, so the two cannot disagree) and a copyable Auth0 CLI command that
 * grants them all.
 */
function onboarding(view) {
  const { project } = view;
  const write = session.canWrite(project);
  const slot = h('div', { id: 'onboarding-scopes', 'aria-live': 'polite' }, h('p', { class: 'loading', text: 'Loading the scopes each capability needs…' }));
  const box = h(
    'div',
    { id: 'onboarding', class: 'card onboarding' },
    h('p', null, h('strong', { text: 'No connections in this project yet. ' }),
      'A connection is an Auth0 Machine-to-Machine application Keyhold acts through. In Auth0, authorize it for the tenant’s Management API with the scopes of the capabilities you want, then ',
      write ? h('a', { href: link.connectionNew(project.id), text: 'add it here' }) : 'ask a project member who can write to add it here',
      '.'),
    slot,
  );
  (async () => {
    try {
      if (!catalogue) {
        const { data } = await api.get('/api/v1/app-connections/options', { signal: view.signal });
        const auth0 = (data.appConnectionOptions || []).find((o) => o.app === 'auth0');
        catalogue = (auth0 && auth0.capabilities) || [];
      }
      if (!view.alive()) return;
      slot.replaceChildren(scopeGuide(catalogue));
    } catch (err) {
      if (api.isAbort(err) || err instanceof api.SignedOut) return;
      slot.replaceChildren(h('p', { text: `The scope table could not be loaded: ${describeError(err)}` }));
    }
  })();
  return box;
}

function scopeGuide(capabilities) {
  const { wrap, tbody } = dataTable({
    id: 'scope-guide',
    caption: 'Management API scopes each capability needs',
    columns: ['Capability', 'What it does', 'Scopes to grant'],
  });
  const all = [];
  for (const c of capabilities) {
    const tr = document.createElement('tr');
    tr.append(h('th', { scope: 'row', text: capabilityLabel(c.capability) }));
    cell(tr, c.description);
    cell(tr, c.requiredScopes.length ? h('span', { class: 'scope-list' }, c.requiredScopes.map((s) => code(s))) : 'none (the token request itself)');
    tbody.append(tr);
    for (const s of c.requiredScopes) if (!all.includes(s)) all.push(s);
  }
  const command = `auth0 api post client-grants --data '${JSON.stringify({
    client_id: 'YOUR_M2M_CLIENT_ID',
    audience: 'YOUR_MANAGEMENT_API_AUDIENCE',
    scope: all,
  })}'`;
  const hint = h('code', { id: 'grant-hint', class: 'secret', text: command });
  const copy = h('button', { type: 'button', id: 'copy-grant-hint', class: 'button secondary', text: 'Copy command' });
  const copied = h('p', { class: 'hint', role: 'status', id: 'grant-hint-status' });
  copy.addEventListener('click', async () => {
    try {
      await navigator.clipboard.writeText(command);
      copied.textContent = 'Copied.';
    } catch {
      copied.textContent = 'This browser does not let the page copy: select the command and copy it by hand.';
    }
  });
  return h(
    'div',
    null,
    wrap,
    h('p', null, 'To grant every scope with the Auth0 CLI (', code('auth0 api'), '): replace the client ID, and the audience with the Management API’s identifier (your tenant’s domain followed by /api/v2/); leave out the scopes of capabilities you do not need.'),
    hint,
    h('div', { class: 'actions' }, copy),
    copied,
    h('p', { class: 'hint', text: 'Or in the Auth0 Dashboard: Applications → APIs → Auth0 Management API → Machine to Machine Applications: authorize the application and tick the scopes.' }),
  );
}

/**
 * A connection's public key to register in Auth0: the PEM (selectable, with a copy button) and
 * its kid. Only the public half exists in the API's answers.
 */
function publicKeyView(key) {
  const pem = h('pre', { id: 'public-key-pem', class: 'secret public-key', text: key.pem });
  const copy = h('button', { type: 'button', id: 'copy-public-key', class: 'button secondary', text: 'Copy public key' });
  const status = h('p', { class: 'hint', role: 'status', id: 'copy-public-key-status' });
  copy.addEventListener('click', async () => {
    try {
      await navigator.clipboard.writeText(key.pem);
      status.textContent = 'Copied.';
      status.dataset.copied = 'true';
    } catch {
      status.textContent = 'This browser does not let the page copy: select the key and copy it by hand.';
    }
  });
  return h(
    'div',
    { id: 'public-key', class: 'public-key-view' },
    details([
      ['Key ID (kid)', code(key.kid)],
      ['Algorithm', key.alg],
      ['Registered', key.registeredAt ? time(key.registeredAt) : h('span', { class: 'muted', text: 'not yet: Keyhold has not obtained a token with it' })],
    ]),
    pem,
    h('div', { class: 'actions' }, copy),
    status,
  );
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
  // Only connections whose last scope check found a capability lacking a scope.
  const missing = h('input', { type: 'checkbox', id: 'connection-missing-scope', checked: view.query.get('missingScope') === 'true' });
  const columns = ['Name', 'Domain', 'Client ID', 'Audience', 'Version', 'Updated', 'Capabilities'];
  const table = dataTable({ id: 'connections-table', caption: `Auth0 connections of ${project.name}`, columns, cards: true });

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
    cell(tr, scopeSummary(c.scopeSummary));
    labelCells(tr, columns);
    return tr;
  }

  const list = keysetList(view, {
    path: BASE,
    key: 'appConnections',
    query: (cursor) => ({ projectId: project.id, limit: 100, cursor, search: search.value.trim(), missingScope: missing.checked || null }),
    table,
    row: connectionRow,
    search,
    filters: () => ({ search: search.value.trim(), missingScope: missing.checked ? 'true' : null }),
    controls: [h('span', { class: 'toolbar-check' }, missing, h('label', { for: missing.id, text: 'Missing a scope' }))],
    countKey: 'totalCount',
    noun: 'connections',
    // examples/ui_bench.rs times the list from the API's answer to painted rows with these.
    marks: { answered: 'keyhold:api-answered', rendered: 'keyhold:rows-rendered', painted: 'keyhold:rows-painted' },
    empty: ({ search: term, cursor, missingScope }) => {
      if (missingScope) return term ? `No connection whose name contains “${term}” lacks a scope.` : 'No connection lacked a scope at its last check.';
      if (term) return `No connection’s name contains “${term}”.`;
      return cursor ? 'No more connections.' : onboarding(view);
    },
  });

  missing.addEventListener('change', () => list.restart());

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
  // The address names the page (a reload, Back, a shared link, the benchmark's cursor).
  await list.resume();
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
    api.get('/api/v2/secret-rotations', {
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
  const keySlot = h('div');
  const keySection = h(
    'section',
    { class: 'section', 'aria-labelledby': 'public-key-heading', hidden: true },
    h('h2', { id: 'public-key-heading', text: 'Public key' }),
    h('p', { class: 'hint', text: 'Register this key in Auth0 as the application’s Private Key JWT credential. Keyhold keeps the private key; no one can see it.' }),
    keySlot,
  );
  const diagnosticsSlot = h('div', { id: 'scope-diagnostics', 'aria-live': 'polite' });
  const actionError = h('div', { class: 'form-error', role: 'alert', id: 'detail-error', tabindex: '-1' });

  function showConnection() {
    const c = connection.credentials;
    const keyed = connection.method === KEY_METHOD;
    fieldsSlot.replaceChildren(
      details([
        ['Name', connection.name],
        ['Description', connection.description],
        ['Method', keyed ? 'Private Key JWT' : 'Client credentials (client secret)'],
        keyed ? ['Status', connection.status === 'active' ? badge('active', 'ok') : badge('pending registration', 'warn', 'Register the public key in Auth0, then check scopes to validate it')] : null,
        ['Domain', c.domain],
        ['Client ID', code(c.clientId)],
        ['Audience', code(c.audience)],
        keyed
          ? ['Private key', h('span', { class: 'muted', text: 'Generated and kept sealed by Keyhold; never shown.' })]
          : ['Client secret', h('span', { class: 'muted', text: 'Stored encrypted; never shown.' })],
        ['Version', String(connection.version)],
        ['Created', time(connection.createdAt)],
        ['Updated', time(connection.updatedAt)],
        ['ID', code(connection.id)],
      ].filter(Boolean)),
    );
    keySlot.replaceChildren(keyed && connection.publicKey ? publicKeyView(connection.publicKey) : '');
    keySection.hidden = !(keyed && connection.publicKey);
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
    columns: ['Name', 'Type', 'Client', 'Status', 'Last rotated', 'Next rotation'],
  });
  let rotationNote = null;
  if (rotations.status === 'fulfilled') {
    const list = rotations.value.data.secretRotations;
    for (const r of list) {
      const tr = document.createElement('tr');
      tr.dataset.rotationId = r.id;
      tr.append(h('th', { scope: 'row' }, h('a', { href: link.rotation(project.id, r.id), text: r.name })));
      cell(tr, typeLabel(r.type));
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
    keySection,
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
  // The method is chosen once, at creation; a key connection's credentials are not edited here.
  const keyedConnection = Boolean(connection && connection.method === KEY_METHOD);
  const method = h('select', { id: 'method', name: 'method' });
  for (const [value, text] of [['client-credentials', 'Client credentials (client ID and secret)'], [KEY_METHOD, 'Private Key JWT (Keyhold generates a key pair)']]) {
    const el = document.createElement('option');
    el.value = value;
    el.textContent = text;
    el.selected = value === (view.query.get('method') === KEY_METHOD ? KEY_METHOD : 'client-credentials');
    method.append(el);
  }
  // Another connection of the project that may register the new key in Auth0 for it.
  const registerWith = h('select', { id: 'registerWith', name: 'registerWith' });
  const none = document.createElement('option');
  none.value = '';
  none.textContent = 'None: I register the public key in Auth0 myself';
  registerWith.append(none);
  if (!editing) {
    const others = await api.getAll(BASE, 'appConnections', { query: { projectId: project.id }, signal: view.signal });
    for (const c of others) {
      const el = document.createElement('option');
      el.value = c.id;
      el.textContent = `${c.name} (${c.credentials.domain})`;
      registerWith.append(el);
    }
  }
  const name = h('input', { type: 'text', id: 'name', name: 'name', required: true, maxlength: '64', autocomplete: 'off', spellcheck: 'false', value: connection ? connection.name : '' });
  const description = h('textarea', { id: 'description', name: 'description', maxlength: '256', rows: '2' });
  description.value = (connection && connection.description) || '';
  const domain = h('input', { type: 'text', id: 'domain', name: 'domain', required: !editing, autocomplete: 'off', spellcheck: 'false', autocapitalize: 'off', placeholder: 'acme.eu.auth0.com', value: current.domain || '' });
  const clientId = h('input', { type: 'text', id: 'clientId', name: 'clientId', required: !editing, maxlength: '128', autocomplete: 'off', spellcheck: 'false', autocapitalize: 'off', value: current.clientId || '' });
  const clientSecret = h('input', { type: 'password', id: 'clientSecret', name: 'clientSecret', required: !editing, maxlength: '512', autocomplete: 'off' });
  const audience = h('input', { type: 'text', id: 'audience', name: 'audience', maxlength: '600', autocomplete: 'off', spellcheck: 'false', autocapitalize: 'off', value: current.audience || '' });
  const submit = h('button', { type: 'submit', id: 'connection-submit', class: 'button', text: editing ? 'Save changes' : 'Create connection' });

  const secretField = field({ label: 'Client secret', input: clientSecret, errorFor: 'credentials.clientSecret', optional: editing });
  const registerField = field({
    label: 'Register with', input: registerWith, errorFor: 'registerWith', optional: true,
    hint: 'A connection to the same tenant allowed to manage client credentials (create:client_credentials, update:clients): Keyhold registers the public key through it and validates the new connection at once.',
  });
  const credentialsHint = h('p', { class: 'hint' });
  const form = h(
    'form',
    { id: 'connection-form', class: 'form card', novalidate: true },
    field({ label: 'Name', input: name, errorFor: 'name', hint: 'Lowercase letters, digits and single hyphens; unique in the project.' }),
    field({ label: 'Description', input: description, errorFor: 'description', optional: true }),
    editing ? null : field({ label: 'Authentication method', input: method, errorFor: 'method', hint: 'How Keyhold authenticates to Auth0 as this application. With Private Key JWT there is no secret to paste: Keyhold generates the key pair and shows you the public key.' }),
    keyedConnection ? null : h(
      'fieldset',
      { class: 'credentials' },
      h('legend', { text: 'Auth0 Machine-to-Machine application' }),
      credentialsHint,
      field({ label: 'Domain', input: domain, errorFor: 'credentials.domain', hint: 'The tenant’s Auth0 hostname, without a scheme or path.' }),
      field({ label: 'Client ID', input: clientId, errorFor: 'credentials.clientId' }),
      secretField,
      field({ label: 'Audience', input: audience, errorFor: 'credentials.audience', optional: true, hint: 'Leave empty for the tenant’s Management API (/api/v2/).' }),
      editing ? null : registerField,
    ),
    formError(),
    h('div', { class: 'actions' }, submit, h('a', { class: 'button secondary', href: back, text: 'Cancel' })),
  );

  const keyed = () => !editing && method.value === KEY_METHOD;
  function showMethod() {
    secretField.hidden = keyed();
    registerField.hidden = !keyed();
    if (keyed()) clientSecret.value = '';
    credentialsHint.textContent = editing
      ? 'Credentials are replaced as a whole: to change the domain, client ID or audience, enter the client secret too. Leave the secret empty to keep the current credentials.'
      : keyed()
        ? 'The application Keyhold acts as. Keyhold generates an RSA key pair for it and keeps the private key sealed; you get the public key to register in Auth0.'
        : 'Keyhold checks these with Auth0 before storing them; the secret is encrypted and never shown again.';
  }
  method.addEventListener('change', showMethod);
  showMethod();

  // One key per form, kept across retries of the same submission, so a create whose answer got
  // lost on the network is replayed instead of made twice; a refused request frees it anyway.
  let idempotencyKey = api.randomKey();

  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    clearErrors(form);
    const secret = clientSecret.value;
    const values = {
      name: name.value.trim(),
      description: description.value.trim(),
      domain: domain.value.trim(),
      clientId: clientId.value.trim(),
      audience: audience.value.trim(),
    };

    const credentialsChanged = editing && (values.domain !== current.domain || values.clientId !== current.clientId || values.audience !== (current.audience || ''));
    const replacing = !keyedConnection && (!editing || Boolean(secret));
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
      if (!secret && !keyed()) fail('credentials.clientSecret', 'Enter the application’s client secret.');
    } else if (credentialsChanged) {
      fail('credentials.clientSecret', 'Enter the client secret too: credentials are replaced as a whole.');
    }
    if (invalid) {
      showFieldsInvalid(form);
      return;
    }

    let credentials = null;
    if (keyed()) credentials = { domain: values.domain, clientId: values.clientId, audience: values.audience || null };
    else if (replacing) credentials = { domain: values.domain, clientId: values.clientId, clientSecret: secret, audience: values.audience || null };
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
      body = { name: values.name, description: values.description || null, method: keyed() ? KEY_METHOD : 'client-credentials', projectId: project.id, credentials };
      if (keyed() && registerWith.value) body.registerWith = registerWith.value;
    }

    await busy(submit, async () => {
      try {
        const { data } = editing
          ? await api.patch(path, body, { headers: api.ifMatch(connection.version), signal: view.signal })
          : await api.post(path, body, { headers: { 'Idempotency-Key': idempotencyKey }, signal: view.signal });
        body = null;
        clientSecret.value = '';
        const saved = data.appConnection;
        if (saved.method === KEY_METHOD && saved.publicKey && !editing) {
          showCreatedKey(saved, data.registration);
          return;
        }
        const lacking = data.diagnostics ? data.diagnostics.capabilities.filter((c) => !c.usable).map((c) => capabilityLabel(c.capability)) : [];
        const scopeNote = lacking.length ? ` Missing Auth0 scopes for: ${lacking.join(', ')}.` : '';
        session.flash(`${editing ? 'Connection saved.' : 'Connection created.'}${scopeNote}`);
        location.assign(link.connection(project.id, saved.id));
      } catch (err) {
        body = null;
        if (api.isAbort(err) || err instanceof api.SignedOut) return;
        if (err.status && err.status < 500) idempotencyKey = api.randomKey();
        showFormError(form, err, { secretPath: 'credentials.clientSecret' });
        // Only a refusal of the secret itself empties it; anything else keeps it for the retry.
        if (clientSecret.getAttribute('aria-invalid') === 'true') clientSecret.value = '';
        if (err.status === 412) {
          const general = form.querySelector('#form-error');
          general.prepend('Someone changed this connection since you opened it: reload to edit the current version. ');
        }
      }
    }, editing ? 'Saving…' : keyed() ? 'Generating the key…' : 'Checking with Auth0…');
  });

  // After creating a key connection: its public key to copy and what to do next, in place of the form.
  function showCreatedKey(saved, registration) {
    const registered = Boolean(registration && registration.credentialId);
    const steps = registered
      ? registration.validationError
        ? h('div', { id: 'next-steps', class: 'alert alert-error' }, h('p', { text: 'Keyhold registered the public key in Auth0 through the other connection, but could not obtain a token with it yet:' }), h('p', { text: registration.validationError }), h('p', { text: 'Fix that in Auth0 (e.g. authorize the application for the audience), then press Check scopes on the connection’s page.' }))
        : h('div', { id: 'next-steps', class: 'alert alert-success' }, h('p', { text: 'Registered in Auth0 through the other connection and validated: the connection is ready.' }))
      : h(
        'div',
        { id: 'next-steps', class: 'alert alert-info' },
        h('p', { text: 'Next steps:' }),
        h(
          'ol',
          null,
          h('li', { text: 'Copy the public key below.' }),
          h('li', null, 'In Auth0, open the application ', code(saved.credentials.clientId), ' → Credentials, choose Private Key JWT and add the key (its kid is shown below).'),
          h('li', { text: 'Open the connection and press “Check scopes”: Keyhold obtains a token with its key, which validates the connection.' }),
        ),
      );
    view.main.replaceChildren(
      h('p', { class: 'breadcrumb' }, h('a', { href: link.connections(project.id), text: 'Connections' }), ' / '),
      pageHeading(`Connection ${saved.name} created`),
      steps,
      h('section', { class: 'section', 'aria-labelledby': 'public-key-heading' }, h('h2', { id: 'public-key-heading', text: 'Public key' }), publicKeyView(saved.publicKey)),
      h('p', null, h('a', { id: 'open-connection', class: 'button', href: link.connection(project.id, saved.id), text: 'Open the connection' })),
    );
    const heading = view.main.querySelector('h1');
    if (heading) heading.focus();
    announce(`Connection ${saved.name} created. Register its public key in Auth0${registered ? '' : ', then validate it'}.`);
  }

  view.main.replaceChildren(
    h('p', { class: 'breadcrumb' }, h('a', { href: link.connections(project.id), text: 'Connections' }), ' / '),
    pageHeading(title),
    form,
  );
}
