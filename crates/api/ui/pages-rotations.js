// Rotations of both types (client secret, Private Key JWT): the list, the create form, and one
// rotation with "rotate now", its attempt history, a key rotation's overlap countdown and a client-
// secret rotation's audited reveal of the generated secret. A revealed secret lives only in the DOM
// of #revealed-secret and one closure variable, both wiped on "Hide" and on navigation. A key
// rotation's private key is never fetched: the API has no reveal for it.

import * as api from './api.js';
import { link } from './router.js';
import {
  h, time, formatTime, code, badge, details, dataTable, cell, alertBox, describeError, announce,
  field, formError, clearErrors, labelCells, setFieldError, showFormError, showFieldsInvalid, busy, pager,
} from './dom.js';
import { keysetList } from './list.js';
import * as session from './session.js';

const SECRET_TYPE = 'auth0-client-secret';
const KEY_TYPE = 'auth0-private-key-jwt';
const LIST = '/api/v2/secret-rotations';
const base = (type) => `${LIST}/${type}`;
const TYPE_LABEL = { [SECRET_TYPE]: 'client secret', [KEY_TYPE]: 'private key JWT' };
/** parameters.overlapSeconds as the API bounds it: 60 s to 30 days (default 24 h). */
const MIN_OVERLAP = 60;
const MAX_OVERLAP = 2592000;
const enc = encodeURIComponent;
const POLL_MS = 500;
const POLL_LIMIT_MS = 60000;

const STATUS_TONE = { success: 'ok', failed: 'danger', pending: 'neutral' };
const OUTCOME_TONE = { succeeded: 'ok', failed: 'danger', retrying: 'warn', running: 'info' };
const STEPS = {
  created: 'new secret generated and stored',
  set: 'Auth0 accepted the new secret',
  tested: 'Auth0 issues tokens with it',
  published: 'new key enabled beside the old one and published; the old key is removed when the overlap ends',
  finished: 'finished',
};

/** The status badge (plus "rotating" while an attempt runs or is due). */
export function rotationStatus(rotation) {
  const wrap = document.createElement('span');
  wrap.className = 'badges';
  wrap.append(badge(rotation.rotationStatus, STATUS_TONE[rotation.rotationStatus] || 'neutral'));
  if (rotation.isRotating) wrap.append(badge('rotating', 'info', 'An attempt is running, waiting to retry, or due now'));
  return wrap;
}

/** What started an attempt: the first runs when the rotation is created, the rest by schedule or by hand. */
const trigger = (attempt) => (attempt.isManual ? 'manual' : attempt.attemptNumber === 1 ? 'on creation' : 'scheduled');

const pad = (n) => String(n).padStart(2, '0');
const rotateAt = (at) => (at ? `${pad(at.hours)}:${pad(at.minutes)} UTC` : '00:00 UTC');

function nextRotation(rotation) {
  return rotation.isAutoRotationEnabled ? time(rotation.nextRotationAt) : h('span', { class: 'muted', text: 'manual only' });
}

const ROLE_ORDER = ['clientId', 'clientSecret', 'privateKey', 'keyId'];
/** A mapping's secret names in role order (client ID, then the secret or the key and its ID). */
const mappedNames = (mapping) =>
  Object.keys(mapping)
    .sort((a, b) => (ROLE_ORDER.indexOf(a) + 1 || 99) - (ROLE_ORDER.indexOf(b) + 1 || 99))
    .map((role) => mapping[role]);

/** A rotation type as people say it (an unknown one as the API names it). */
export const typeLabel = (type) => TYPE_LABEL[type] || type;

/** "1 d 2 h", "23 h 59 min", "4 min 10 s", "9 s": the time left until `until` (ms). */
export function remaining(ms) {
  const total = Math.max(0, Math.floor(ms / 1000));
  const d = Math.floor(total / 86400);
  const hours = Math.floor((total % 86400) / 3600);
  const min = Math.floor((total % 3600) / 60);
  const sec = total % 60;
  if (d) return `${d} d ${hours} h`;
  if (hours) return `${hours} h ${min} min`;
  if (min) return `${min} min ${sec} s`;
  return `${sec} s`;
}

function pageHeading(title, ...actions) {
  return h('div', { class: 'page-heading' }, h('h1', { tabindex: '-1', text: title }), actions.length ? h('div', { class: 'actions' }, actions) : null);
}

/**
 * The empty rotations page: what the two types do, what the connection's application needs for
 * each, and where to start.
 */
function rotationsOnboarding(project) {
  const scopes = (...names) => names.flatMap((n, i) => [i ? (i === names.length - 1 ? ' and ' : ', ') : '', code(n)]);
  return h(
    'div',
    { id: 'rotations-onboarding', class: 'card onboarding' },
    h('p', null, h('strong', { text: 'No secret rotations in this project yet. ' }),
      'A rotation renews an Auth0 application’s credential on a schedule, through one of this project’s ',
      h('a', { href: link.connections(project.id), text: 'connections' }),
      ', and can write the new credential into project secrets, where apps read it with Infisical’s SDKs.'),
    h('ul', null,
      h('li', null, h('strong', { text: 'Client secret' }),
        ': Auth0 holds one secret per application, so apps still holding the old one are refused until they read the new one. The connection needs the “rotate secrets” capability (its page shows any scope it lacks).'),
      h('li', null, h('strong', { text: 'Private key JWT' }),
        ': no downtime. The new key is enabled beside the old one for the overlap you choose, then the old one is removed. The connection’s application needs ',
        ...scopes('update:clients', 'read:client_credentials', 'create:client_credentials', 'delete:client_credentials'),
        '. A private-key-jwt connection can renew its own key this way.')),
    h('p', null, session.canWrite(project)
      ? h('a', { id: 'first-rotation', href: link.rotationNew(project.id), text: 'Create the first rotation' })
      : 'Ask a project member who can write to create one.'),
  );
}

// ---------------------------------------------------------------------------------------------
// The list

export async function renderRotations(view) {
  const { project } = view;
  const search = h('input', { type: 'search', id: 'rotation-search', autocomplete: 'off', spellcheck: 'false', maxlength: '64', placeholder: 'Name contains…', value: view.query.get('search') || '' });
  const status = h('select', { id: 'rotation-status-filter' });
  const wanted = view.query.get('status') || '';
  for (const [value, text] of [['', 'Any status'], ['failed', 'Failed'], ['success', 'Succeeded'], ['pending', 'Pending']]) {
    status.append(option(value, text, { selected: value === wanted }));
  }
  const columns = ['Name', 'Type', 'Connection', 'Client', 'Status', 'Last rotated', 'Next rotation', 'Last message'];
  const table = dataTable({ id: 'rotations-table', caption: `Secret rotations of ${project.name}`, columns, cards: true });
  const list = keysetList(view, {
    path: LIST,
    key: 'secretRotations',
    query: (cursor) => ({ projectId: project.id, limit: 100, cursor, search: search.value.trim(), status: status.value }),
    table,
    row: (r) => {
      const tr = document.createElement('tr');
      tr.dataset.rotationId = r.id;
      tr.dataset.rotationType = r.type;
      tr.append(h('th', { scope: 'row' }, h('a', { href: link.rotation(project.id, r.id), text: r.name })));
      cell(tr, typeLabel(r.type));
      cell(tr, h('a', { href: link.connection(project.id, r.connection.id), text: r.connection.name }));
      cell(tr, r.parameters.clientId, 'mono');
      cell(tr, rotationStatus(r));
      cell(tr, time(r.lastRotatedAt, 'never'));
      cell(tr, nextRotation(r));
      cell(tr, r.lastRotationMessage, 'message');
      labelCells(tr, columns);
      return tr;
    },
    search,
    filters: () => ({ search: search.value.trim(), status: status.value }),
    controls: [h('label', { for: status.id, text: 'Status' }), status],
    countKey: 'totalCount',
    noun: 'rotations',
    empty: ({ search: term, cursor, status: only }) => {
      if (only) {
        const state = { failed: 'last failed', success: 'last succeeded', pending: 'is pending' }[only] || only;
        return `No rotation${term ? ` whose name contains “${term}”` : ''} ${state}.`;
      }
      if (term) return `No rotation’s name contains “${term}”.`;
      return cursor ? null : rotationsOnboarding(project);
    },
  });

  const actions = session.canWrite(project)
    ? [h('a', { id: 'new-rotation', class: 'button', href: link.rotationNew(project.id), text: 'New rotation' })]
    : [];
  status.addEventListener('change', () => list.restart());
  view.main.replaceChildren(pageHeading('Secret rotations', ...actions), ...list.parts);
  await list.resume();
}

// ---------------------------------------------------------------------------------------------
// Create

const SLUG = /^[a-z0-9]+(-[a-z0-9]+)*$/;
/** A project secret's name, as the secrets API checks it. */
const SECRET_NAME = /^[A-Za-z0-9_.-]{1,256}$/;

function option(value, text, extra) {
  const el = document.createElement('option');
  el.value = value;
  el.textContent = text;
  if (extra && extra.disabled) el.disabled = true;
  if (extra && extra.selected) el.selected = true;
  return el;
}

export async function renderRotationForm(view) {
  const { project } = view;
  const back = link.rotations(project.id);
  if (!session.canWrite(project)) {
    view.main.replaceChildren(
      pageHeading('New rotation'),
      alertBox(`Your role in this project (${project.role}) cannot create rotations.`, 'info'),
      h('p', null, h('a', { href: back, text: 'Back to rotations' })),
    );
    return;
  }

  const connections = await api.getAll('/api/v1/app-connections/auth0', 'appConnections', {
    query: { projectId: project.id },
    signal: view.signal,
  });
  if (!connections.length) {
    view.main.replaceChildren(
      pageHeading('New rotation'),
      alertBox('A rotation acts through an Auth0 connection, and this project has none yet.', 'info'),
      h('p', null, h('a', { class: 'button', href: link.connectionNew(project.id), text: 'Create a connection' })),
    );
    return;
  }

  const type = h('select', { id: 'rotation-type', name: 'type' });
  type.append(option(SECRET_TYPE, 'Client secret (Auth0 keeps one: apps holding the old one are cut off)', { selected: view.query.get('type') !== KEY_TYPE }));
  type.append(option(KEY_TYPE, 'Private Key JWT (old and new keys overlap: no downtime)', { selected: view.query.get('type') === KEY_TYPE }));
  // The overlap, in hours or seconds; sent as parameters.overlapSeconds.
  const overlap = h('input', { type: 'number', id: 'rotation-overlap', name: 'parameters.overlapSeconds', min: '1', step: '1', value: '24', inputmode: 'numeric' });
  const overlapUnit = h('select', { id: 'rotation-overlap-unit', name: 'overlapUnit', 'aria-label': 'Overlap unit' });
  overlapUnit.append(option('3600', 'hours', { selected: true }), option('1', 'seconds'));
  const name = h('input', { type: 'text', id: 'rotation-name', name: 'name', required: true, maxlength: '64', autocomplete: 'off', spellcheck: 'false' });
  const description = h('textarea', { id: 'rotation-description', name: 'description', maxlength: '256', rows: '2' });
  const connection = h('select', { id: 'rotation-connection', name: 'connectionId', required: true });
  // A real empty first choice: picking the only connection must still fire "change".
  connection.append(option('', 'Choose a connection…', { selected: true }));
  for (const c of connections) connection.append(option(c.id, c.name));
  // A project may have hundreds: typing narrows the choices (the chosen one always stays).
  const connectionFilter = h('input', {
    type: 'search', id: 'rotation-connection-filter', autocomplete: 'off', spellcheck: 'false', maxlength: '64',
    placeholder: 'Name contains…', 'aria-controls': 'rotation-connection',
  });
  const filterNote = h('p', { class: 'hint', id: 'rotation-connection-filter-note', 'aria-live': 'polite' });
  connectionFilter.setAttribute('aria-describedby', filterNote.id);
  connectionFilter.addEventListener('input', () => {
    const term = connectionFilter.value.trim().toLowerCase();
    let shown = 0;
    for (const el of connection.options) {
      if (!el.value) continue;
      const match = !term || el.textContent.toLowerCase().includes(term) || el.selected;
      el.hidden = !match;
      if (match) shown += 1;
    }
    filterNote.textContent = term ? `${shown} of ${connections.length} connections match.` : '';
  });
  // Enter picks the only match instead of submitting the form.
  connectionFilter.addEventListener('keydown', (event) => {
    if (event.key !== 'Enter') return;
    event.preventDefault();
    const matches = [...connection.options].filter((el) => el.value && !el.hidden);
    if (matches.length === 1 && connection.value !== matches[0].value) {
      connection.value = matches[0].value;
      connection.dispatchEvent(new Event('change'));
    }
    connection.focus();
  });
  const client = h('select', { id: 'rotation-client', name: 'clientId', required: true, disabled: true });
  client.append(option('', 'Choose a connection first', { selected: true }));
  const interval = h('input', { type: 'number', id: 'rotation-interval', name: 'rotationInterval', min: '1', max: '3650', step: '1', required: true, value: '30', inputmode: 'numeric' });
  const auto = h('input', { type: 'checkbox', id: 'rotation-auto', name: 'isAutoRotationEnabled', checked: true });
  const at = h('input', { type: 'time', id: 'rotation-at', name: 'rotateAtUtc', step: '60', value: '00:00', required: true });
  const submit = h('button', { type: 'submit', id: 'rotation-submit', class: 'button', text: 'Create rotation' });
  // Optional: the project secrets each finished rotation writes (Infisical's secretsMapping).
  const environment = h('select', { id: 'rotation-environment', name: 'environment' });
  environment.append(option('', 'Loading environments…', { selected: true }));
  const secretPath = h('input', { type: 'text', id: 'rotation-secret-path', name: 'secretPath', value: '/', maxlength: '4096', autocomplete: 'off', spellcheck: 'false' });
  const idName = h('input', { type: 'text', id: 'rotation-map-client-id', name: 'secretsMapping.clientId', maxlength: '256', autocomplete: 'off', spellcheck: 'false', placeholder: 'AUTH0_CLIENT_ID' });
  const secretName = h('input', { type: 'text', id: 'rotation-map-client-secret', name: 'secretsMapping.clientSecret', maxlength: '256', autocomplete: 'off', spellcheck: 'false', placeholder: 'AUTH0_CLIENT_SECRET' });
  const keyName = h('input', { type: 'text', id: 'rotation-map-private-key', name: 'secretsMapping.privateKey', maxlength: '256', autocomplete: 'off', spellcheck: 'false', placeholder: 'AUTH0_PRIVATE_KEY' });
  const kidName = h('input', { type: 'text', id: 'rotation-map-key-id', name: 'secretsMapping.keyId', maxlength: '256', autocomplete: 'off', spellcheck: 'false', placeholder: 'AUTH0_KEY_ID' });
  const overlapField = field({ label: 'Overlap', input: overlap, errorFor: 'parameters.overlapSeconds', hint: 'How long the old and new keys are both enabled, so apps can switch: 60 seconds to 30 days, shorter than the interval. Default 24 hours.' });
  overlap.after(overlapUnit);
  const secretField = field({ label: 'Client secret secret name', input: secretName, errorFor: 'secretsMapping.clientSecret', optional: true });
  const keyFields = h(
    'div',
    { id: 'rotation-key-mapping' },
    field({ label: 'Private key secret name', input: keyName, errorFor: 'secretsMapping.privateKey', optional: true }),
    field({ label: 'Key ID secret name', input: kidName, errorFor: 'secretsMapping.keyId', optional: true }),
  );
  const mappingHint = h('p', { class: 'hint' });

  const autoError = h('p', { class: 'field-error', id: 'rotation-auto-error', dataset: { errorFor: 'isAutoRotationEnabled' } });
  auto.setAttribute('aria-describedby', 'rotation-auto-hint rotation-auto-error');

  const form = h(
    'form',
    { id: 'rotation-form', class: 'form card', novalidate: true },
    field({ label: 'Type', input: type, errorFor: 'type' }),
    field({ label: 'Name', input: name, errorFor: 'name', hint: 'Lowercase letters, digits and single hyphens; unique in the project.' }),
    field({ label: 'Description', input: description, errorFor: 'description', optional: true }),
    connections.length > 10
      ? h('div', { class: 'field' }, h('label', { for: connectionFilter.id, text: 'Find a connection' }), connectionFilter, filterNote)
      : null,
    field({ label: 'Connection', input: connection, errorFor: 'connectionId', hint: 'The Auth0 connection Keyhold acts through. It needs the read:clients and update:client_keys scopes.' }),
    field({ label: 'Application', input: client, errorFor: 'parameters.clientId', hint: ' ' }),
    overlapField,
    h(
      'fieldset',
      { class: 'schedule' },
      h('legend', { text: 'Schedule' }),
      h(
        'div',
        { class: 'field checkbox' },
        auto,
        h('label', { for: 'rotation-auto', text: 'Rotate automatically on a schedule' }),
        h('p', { class: 'hint', id: 'rotation-auto-hint', text: 'Either way, the first rotation runs as soon as the rotation is created.' }),
        autoError,
      ),
      field({ label: 'Every (days)', input: interval, errorFor: 'rotationInterval' }),
      field({ label: 'At (UTC)', input: at, errorFor: 'rotateAtUtc' }),
    ),
    h(
      'fieldset',
      { class: 'mapping' },
      h('legend', { text: 'Write to project secrets (optional)' }),
      mappingHint,
      field({ label: 'Environment', input: environment, errorFor: 'environment' }),
      field({ label: 'Folder', input: secretPath, errorFor: 'secretPath', hint: 'An existing folder path, e.g. /orders.' }),
      field({ label: 'Client ID secret name', input: idName, errorFor: 'secretsMapping.clientId', optional: true }),
      secretField,
      keyFields,
    ),
    formError(),
    h('div', { class: 'actions' }, submit, h('a', { class: 'button secondary', href: back, text: 'Cancel' })),
  );

  // The type decides the fields: a key rotation has an overlap and maps a private key and key ID.
  const clientHint = form.querySelector(`#${client.id}-hint`);
  function showType() {
    const keys = type.value === KEY_TYPE;
    overlapField.hidden = !keys;
    keyFields.hidden = !keys;
    secretField.hidden = keys;
    clientHint.textContent = keys
      ? 'The Auth0 application whose keys are rotated (not the connection’s own). The connection needs read:clients, update:clients and create/read/update/delete:client_credentials.'
      : 'The Auth0 application whose client secret is rotated. The connection needs read:clients and update:client_keys.';
    mappingHint.textContent = keys
      ? 'Each rotation writes the client ID, the new private key (PEM) and its key ID as new versions of these secrets as soon as the new key is enabled, so apps switch during the overlap. Leave the names empty to write none.'
      : 'Each finished rotation writes the client ID and the new client secret as a new version of these secrets, so apps read them with Infisical\'s SDKs. Leave the names empty to write none.';
  }
  type.addEventListener('change', showType);
  showType();

  const clientError = form.querySelector('[data-error-for="parameters.clientId"]');
  let clientsRequest = null;
  view.onLeave(() => clientsRequest && clientsRequest.abort());

  async function loadClients() {
    if (clientsRequest) clientsRequest.abort();
    clientError.textContent = '';
    client.removeAttribute('aria-invalid');
    client.replaceChildren(option('', connection.value ? 'Loading applications…' : 'Choose a connection first', { selected: true }));
    client.disabled = true;
    if (!connection.value) return;
    const controller = new AbortController();
    clientsRequest = controller;
    try {
      const { data } = await api.get(`/api/v1/app-connections/auth0/${enc(connection.value)}/clients`, { signal: controller.signal });
      if (clientsRequest !== controller) return;
      const list = [...data.clients].sort((a, b) => a.name.localeCompare(b.name));
      const options = document.createDocumentFragment();
      options.append(option('', list.length ? 'Choose an application…' : 'The tenant has no applications', { selected: true }));
      for (const c of list) options.append(option(c.clientId, `${c.name} (${c.clientId})`));
      client.replaceChildren(options);
      client.disabled = list.length === 0;
    } catch (err) {
      if (api.isAbort(err) || err instanceof api.SignedOut || clientsRequest !== controller) return;
      client.replaceChildren(option('', 'Could not load the applications', { selected: true }));
      clientError.textContent = describeError(err);
    }
  }
  connection.addEventListener('change', loadClients);

  async function loadEnvironments() {
    try {
      const { data } = await api.get(`/api/v1/workspace/${enc(project.id)}/environments`, { signal: view.signal });
      environment.replaceChildren(...data.environments.map((e, i) => option(e.slug, `${e.name} (${e.slug})`, { selected: i === 0 })));
    } catch (err) {
      if (api.isAbort(err) || err instanceof api.SignedOut) return;
      environment.replaceChildren(option('', 'Could not load the environments', { selected: true }));
    }
  }
  loadEnvironments();

  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    clearErrors(form);
    let invalid = false;
    const fail = (fieldPath, message) => {
      setFieldError(form, fieldPath, message);
      invalid = true;
    };
    const values = { name: name.value.trim(), description: description.value.trim() };
    if (!values.name) fail('name', 'Enter a name.');
    else if (!SLUG.test(values.name)) fail('name', 'Use lowercase letters, digits and single hyphens only.');
    if (!connection.value) fail('connectionId', 'Choose a connection.');
    if (!client.value) fail('parameters.clientId', 'Choose the application to rotate.');
    const days = Number(interval.value);
    if (!Number.isInteger(days) || days < 1 || days > 3650) fail('rotationInterval', 'Enter a whole number of days from 1 to 3650.');
    const match = /^(\d{2}):(\d{2})/.exec(at.value);
    if (!match) fail('rotateAtUtc', 'Enter a time of day, e.g. 03:15.');
    const keys = type.value === KEY_TYPE;
    const names = keys
      ? { clientId: idName.value.trim(), privateKey: keyName.value.trim(), keyId: kidName.value.trim() }
      : { clientId: idName.value.trim(), clientSecret: secretName.value.trim() };
    const mapped = Object.values(names).some(Boolean);
    let overlapSeconds = null;
    if (keys) {
      const amount = Number(overlap.value);
      overlapSeconds = amount * Number(overlapUnit.value);
      if (!overlap.value.trim() || !Number.isInteger(amount) || amount < 1) fail('parameters.overlapSeconds', 'Enter a whole number.');
      else if (overlapSeconds < MIN_OVERLAP || overlapSeconds > MAX_OVERLAP) fail('parameters.overlapSeconds', 'Enter from 60 seconds to 30 days (720 hours).');
      else if (Number.isInteger(days) && overlapSeconds >= days * 86400) fail('parameters.overlapSeconds', 'Make it shorter than the rotation interval: the old key is removed before the next rotation.');
    }
    if (mapped) {
      for (const [key, value] of Object.entries(names)) {
        if (!SECRET_NAME.test(value)) fail(`secretsMapping.${key}`, 'Use 1 to 256 of A-Z a-z 0-9 _ . -');
      }
      if (!environment.value) fail('environment', 'Choose an environment.');
    }
    if (invalid) {
      showFieldsInvalid(form);
      return;
    }
    const body = {
      name: values.name,
      description: values.description || null,
      projectId: project.id,
      connectionId: connection.value,
      isAutoRotationEnabled: auto.checked,
      rotationInterval: days,
      rotateAtUtc: { hours: Number(match[1]), minutes: Number(match[2]) },
      parameters: keys ? { clientId: client.value, overlapSeconds } : { clientId: client.value },
    };
    if (mapped) {
      body.environment = environment.value;
      body.secretPath = secretPath.value.trim() || '/';
      body.secretsMapping = names;
    }
    await busy(submit, async () => {
      try {
        const { data } = await api.post(base(type.value), body, { signal: view.signal });
        session.flash('Rotation created; its first rotation has started.');
        location.assign(link.rotation(project.id, data.secretRotation.id));
      } catch (err) {
        if (api.isAbort(err) || err instanceof api.SignedOut) return;
        showFormError(form, err);
      }
    }, 'Checking with Auth0…');
  });

  view.main.replaceChildren(
    h('p', { class: 'breadcrumb' }, h('a', { href: back, text: 'Rotations' }), ' / '),
    pageHeading('New rotation'),
    form,
  );

  const preset = view.query.get('connectionId');
  if (preset && connections.some((c) => c.id === preset)) {
    connection.value = preset;
    await loadClients();
  }
}

// ---------------------------------------------------------------------------------------------
// The audited reveal

const HIDE_AFTER_MS = 60000;
const CLEAR_CLIPBOARD_AFTER_MS = 30000;
const MASK = '••••••••••••••••••••••••';

/**
 * The reveal's timers: 60 s on screen, 30 s on the clipboard. A test may shorten them (never
 * lengthen) with `sessionStorage['keyhold.revealTimers'] = '{"hideMs":…,"clearMs":…}'`.
 */
function revealTimers() {
  let knob = {};
  try {
    knob = JSON.parse(sessionStorage.getItem('keyhold.revealTimers') || '{}') || {};
  } catch {
    knob = {};
  }
  const shorter = (value, limit) => (Number.isFinite(value) && value > 0 ? Math.min(value, limit) : limit);
  return { hideMs: shorter(knob.hideMs, HIDE_AFTER_MS), clearMs: shorter(knob.clearMs, CLEAR_CLIPBOARD_AFTER_MS) };
}

// The copied secret, until the clipboard is cleared (kept across pages: the clipboard outlives them).
let clipboardClear = 0;

/** Empties the clipboard if it still holds `secret` (or cannot be read to tell). */
async function clearClipboard(secret, said) {
  try {
    let holds = true;
    try {
      holds = (await navigator.clipboard.readText()) === secret;
    } catch {
      holds = true; // unreadable here: clear it rather than leave a secret behind
    }
    if (holds) {
      await navigator.clipboard.writeText('');
      said('The clipboard was cleared.');
    }
  } catch {
    said('The clipboard could not be cleared: copy something else over the secret.');
  }
}

/**
 * Project admins' reveal of the generated secret: an optional reason (kept with the audit row),
 * the active secret masked until "Show", "Copy" (the clipboard is cleared after 30 s where the
 * browser lets the page), the previous secret only on request (the first reveal asks the API for
 * the active one only; the previous takes a second reveal, audited with the same reason), and
 * everything wiped after 60 s, on "Hide" and on leaving. The secrets live in this closure and,
 * while shown, in the DOM.
 */
function revealPanel(view, path) {
  const timers = revealTimers();
  const reason = h('input', { type: 'text', id: 'reveal-reason', name: 'reason', maxlength: '200', autocomplete: 'off' });
  const reveal = h('button', { type: 'button', id: 'reveal-credentials', class: 'button secondary', text: 'Reveal generated credentials' });
  const secret = h('code', { id: 'revealed-secret', class: 'secret', tabindex: '-1', dataset: { masked: 'true' } });
  const secretClient = h('code', { id: 'revealed-client-id' });
  const show = h('button', { type: 'button', id: 'show-secret', class: 'button secondary', 'aria-pressed': 'false', 'aria-controls': 'revealed-secret', text: 'Show' });
  const copy = h('button', { type: 'button', id: 'copy-secret', class: 'button secondary', text: 'Copy' });
  const showPrevious = h('button', { type: 'button', id: 'show-previous', class: 'button secondary', text: 'Show the previous secret' });
  const previous = h('code', { id: 'revealed-previous-secret', class: 'secret' });
  const previousRow = h('div', { class: 'previous', hidden: true }, h('p', { class: 'hint', text: 'Previous generated secret (no longer the one Auth0 holds):' }), previous);
  const hide = h('button', { type: 'button', id: 'hide-secret', class: 'button secondary', text: 'Hide' });
  const copyStatus = h('p', { id: 'copy-status', class: 'hint', role: 'status' });
  const countdown = h('p', { id: 'reveal-countdown', class: 'hint' });
  const panel = h(
    'div',
    { class: 'reveal-panel', id: 'reveal-panel', hidden: true },
    h('p', null, 'Client secret of ', secretClient, ' that Auth0 holds now:'),
    secret,
    h('div', { class: 'actions' }, show, copy, showPrevious, hide),
    copyStatus,
    previousRow,
    countdown,
  );
  const revealError = h('div', { class: 'form-error', role: 'alert' });

  let active = null;
  // The reason given for this reveal, sent again if the previous secret is asked for.
  let givenReason = '';
  let hideTimer = 0;
  let tick = 0;
  const paint = () => {
    const masked = show.getAttribute('aria-pressed') !== 'true';
    secret.textContent = active === null ? '' : masked ? MASK : active;
    secret.dataset.masked = String(masked);
    show.textContent = masked ? 'Show' : 'Mask';
  };

  // Wipes what was shown. References are dropped too: nothing here keeps the strings reachable.
  const wipe = () => {
    clearTimeout(hideTimer);
    clearInterval(tick);
    active = null;
    givenReason = '';
    secret.textContent = '';
    previous.textContent = '';
    secretClient.textContent = '';
    copyStatus.textContent = '';
    countdown.textContent = '';
    show.setAttribute('aria-pressed', 'false');
    previousRow.hidden = true;
    panel.hidden = true;
    reveal.hidden = false;
  };
  view.onLeave(wipe);
  window.addEventListener('pagehide', wipe, { once: true });
  view.onLeave(() => window.removeEventListener('pagehide', wipe));

  reveal.addEventListener('click', () =>
    busy(reveal, async () => {
      revealError.textContent = '';
      reasonError.textContent = '';
      reason.removeAttribute('aria-invalid');
      try {
        const why = reason.value.trim();
        // Only the secret Auth0 holds now; the previous one stays on the server until asked for.
        let { data: generated } = await api.get(`${path}/generated-credentials`, {
          query: { reason: why, activeOnly: true },
          signal: view.signal,
        });
        if (!view.alive()) return;
        const list = generated.generatedCredentials || [];
        const current = list[generated.activeIndex];
        if (!current) {
          revealError.textContent = 'No secret has been generated yet: the first rotation has not finished.';
          generated = null;
          return;
        }
        secretClient.textContent = current.clientId;
        active = current.clientSecret;
        givenReason = why;
        showPrevious.hidden = false;
        generated = null;
        reason.value = '';
        show.setAttribute('aria-pressed', 'false');
        paint();
        panel.hidden = false;
        reveal.hidden = true;
        const until = Date.now() + timers.hideMs;
        const left = () => {
          countdown.textContent = `Hidden again in ${Math.max(0, Math.ceil((until - Date.now()) / 1000))} s.`;
        };
        left();
        tick = setInterval(left, 1000);
        hideTimer = setTimeout(() => {
          const inside = panel.contains(document.activeElement);
          wipe();
          if (inside) reveal.focus();
          announce('The secret was hidden again.');
        }, timers.hideMs);
        show.focus();
        announce('Secret revealed, masked. This reveal is recorded in the audit log.');
      } catch (err) {
        if (api.isAbort(err) || err instanceof api.SignedOut) return;
        const refused = (err.fieldErrors || []).find((fe) => fe.field === 'reason');
        if (refused) {
          // Said at the field; and what was typed goes, since it may be a pasted secret.
          reasonError.textContent = refused.detail;
          reason.setAttribute('aria-invalid', 'true');
          reason.value = '';
          reason.focus();
        } else {
          revealError.textContent = describeError(err);
        }
      }
    }, 'Revealing…'),
  );
  show.addEventListener('click', () => {
    show.setAttribute('aria-pressed', show.getAttribute('aria-pressed') === 'true' ? 'false' : 'true');
    paint();
  });
  copy.addEventListener('click', async () => {
    if (active === null) return;
    const copied = active;
    const said = (text) => {
      copyStatus.textContent = text;
    };
    try {
      await navigator.clipboard.writeText(copied);
    } catch {
      said('This browser does not let the page copy: press Show and copy the secret by hand.');
      return;
    }
    said(`Copied. The clipboard is cleared in ${Math.round(timers.clearMs / 1000)} s.`);
    copyStatus.dataset.copied = 'true';
    clearTimeout(clipboardClear);
    clipboardClear = setTimeout(() => {
      clearClipboard(copied, (text) => {
        if (copyStatus.isConnected) {
          copyStatus.dataset.copied = 'cleared';
          said(text);
        }
      });
    }, timers.clearMs);
  });
  // A second reveal, audited like the first (with the same reason).
  showPrevious.addEventListener('click', () =>
    busy(showPrevious, async () => {
      if (active === null) return;
      try {
        let { data: generated } = await api.get(`${path}/generated-credentials`, {
          query: { reason: givenReason },
          signal: view.signal,
        });
        // Hidden meanwhile (timer, Hide, leaving): the answer is dropped.
        if (!view.alive() || active === null) {
          generated = null;
          return;
        }
        const other = (generated.generatedCredentials || []).find((_, i) => i !== generated.activeIndex);
        generated = null;
        if (other) {
          previous.textContent = other.clientSecret;
          previousRow.hidden = false;
          showPrevious.hidden = true;
        } else {
          copyStatus.textContent = 'There is no previous secret yet: the rotation has finished only once.';
        }
      } catch (err) {
        if (api.isAbort(err) || err instanceof api.SignedOut) return;
        copyStatus.textContent = describeError(err);
      }
    }, 'Revealing…'),
  );
  hide.addEventListener('click', () => {
    wipe();
    reveal.focus();
    announce('Secret hidden.');
  });

  const reasonField = field({ label: 'Reason', input: reason, errorFor: 'reason', optional: true, hint: 'Kept with the audit record of this reveal, e.g. an incident number. Never a secret.' });
  const reasonError = reasonField.querySelector('[data-error-for="reason"]');
  return h(
    'section',
    { class: 'section', 'aria-labelledby': 'reveal-heading' },
    h('h2', { id: 'reveal-heading', text: 'Generated credentials' }),
    h('p', { class: 'hint', text: 'Project admins can see the client secret Keyhold generated. Every reveal is recorded in the audit log.' }),
    reasonField,
    reveal,
    revealError,
    panel,
  );
}

// ---------------------------------------------------------------------------------------------
// One rotation

function attemptRows(attempts) {
  const rows = document.createDocumentFragment();
  for (const a of attempts) {
    const tr = document.createElement('tr');
    tr.dataset.attemptId = a.id;
    tr.append(h('th', { scope: 'row', class: 'num', text: String(a.attemptNumber) }));
    cell(tr, time(a.startedAt));
    cell(tr, time(a.finishedAt));
    cell(tr, trigger(a));
    cell(tr, h('span', { title: STEPS[a.step] || a.step, text: a.step }));
    cell(tr, badge(a.outcome, OUTCOME_TONE[a.outcome] || 'neutral'));
    cell(tr, a.tries, 'num');
    cell(tr, a.failures, 'num');
    cell(tr, a.durationMs === null || a.durationMs === undefined ? '' : `${a.durationMs} ms`, 'num');
    cell(tr, a.message, 'message');
    rows.append(tr);
  }
  return rows;
}

export async function renderRotationDetail(view) {
  const { project } = view;
  const id = view.params.rotationId;
  const write = session.canWrite(project);
  const admin = session.isAdmin(project);

  // Each type has its own routes and the address does not say which: ask the client-secret
  // route, then the key route (each answers 404 for a rotation of the other type).
  let data;
  try {
    ({ data } = await api.get(`${base(SECRET_TYPE)}/${enc(id)}`, { signal: view.signal }));
  } catch (err) {
    if (!(err instanceof api.ApiError) || err.status !== 404) throw err;
    ({ data } = await api.get(`${base(KEY_TYPE)}/${enc(id)}`, { signal: view.signal }));
  }
  let rotation = data.secretRotation;
  const keys = rotation.type === KEY_TYPE;
  const path = `${base(rotation.type)}/${enc(id)}`;

  const status = h('span', { id: 'rotation-status', class: `badge badge-${STATUS_TONE[rotation.rotationStatus] || 'neutral'}` });
  const rotating = badge('rotating', 'info', 'An attempt is running, waiting to retry, or due now');
  const fieldsSlot = h('div');
  const progress = h('p', { id: 'rotation-progress', class: 'progress', role: 'status', 'aria-live': 'polite' });
  const outcome = h('div', { id: 'rotation-outcome', class: 'outcome', role: 'alert' });
  // A key rotation's overlap: when the old key is removed, counted down live.
  const overlapNote = h('p', { id: 'rotation-overlap', class: 'alert alert-info', hidden: true });
  let overlapTimer = 0;
  // While keys overlap the attempt is not over: "Rotate now" waits until the old key is removed.
  let rotateNowButton = null;
  let overlapRefresh = false;
  view.onLeave(() => clearInterval(overlapTimer));
  function showOverlap(r) {
    clearInterval(overlapTimer);
    overlapTimer = 0;
    if (rotateNowButton && !rotateNowButton.getAttribute('aria-busy')) {
      rotateNowButton.disabled = Boolean(r.overlapUntil);
      rotateNowButton.title = r.overlapUntil ? 'Possible again once the old key is removed' : '';
    }
    const until = r.overlapUntil ? Date.parse(r.overlapUntil) : NaN;
    if (Number.isNaN(until)) {
      overlapNote.hidden = true;
      overlapNote.textContent = '';
      delete overlapNote.dataset.overlapUntil;
      return;
    }
    overlapNote.hidden = false;
    overlapNote.dataset.overlapUntil = r.overlapUntil;
    const paint = () => {
      const left = until - Date.now();
      if (left > 0) {
        overlapNote.textContent = `Old and new keys overlap: old key removed in ${remaining(left)} (at ${formatTime(r.overlapUntil)}).`;
        return;
      }
      overlapNote.textContent = 'The overlap has ended: the old key is being removed…';
      clearInterval(overlapTimer);
      if (!overlapRefresh) waitForRemoval();
    };
    paint();
    if (!overlapNote.hidden && Date.parse(r.overlapUntil) > Date.now()) overlapTimer = setInterval(paint, 1000);
  }
  // Once the overlap ends, a few refreshes until the worker has removed the old key.
  async function waitForRemoval() {
    overlapRefresh = true;
    try {
      for (let round = 0; round < 30 && view.alive(); round += 1) {
        if (!(await view.sleep(2000))) return;
        const r = await refresh();
        if (!r.overlapUntil) {
          await loadAttempts(null);
          return;
        }
      }
    } catch (err) {
      if (!api.isAbort(err) && !(err instanceof api.SignedOut)) overlapNote.textContent = `Could not refresh: ${describeError(err)}`;
    } finally {
      overlapRefresh = false;
    }
  }

  // The newest attempt, once the history has loaded: it tells the creation-started first attempt
  // from a scheduled one, which the rotation alone does not.
  let newest = null;
  function lastTrigger(r) {
    if (!r.lastRotationAttemptedAt) return null;
    if (r.isLastRotationManual) return 'manual';
    return newest && !newest.isManual && newest.attemptNumber === 1 ? 'on creation' : 'scheduled';
  }

  function show(r) {
    rotation = r;
    status.textContent = r.rotationStatus;
    status.className = `badge badge-${STATUS_TONE[r.rotationStatus] || 'neutral'}`;
    rotating.hidden = !r.isRotating;
    showOverlap(r);
    const overlapHours = r.parameters.overlapSeconds;
    fieldsSlot.replaceChildren(
      details([
        ['Status', h('span', { class: 'badges' }, status, rotating)],
        ['Type', typeLabel(r.type)],
        ['Description', r.description],
        ['Connection', h('a', { href: link.connection(project.id, r.connection.id), text: r.connection.name })],
        ['Application (client ID)', code(r.parameters.clientId)],
        keys ? ['Overlap', overlapHours % 3600 === 0 ? `${overlapHours / 3600} h` : `${overlapHours} s`] : null,
        ['Writes secrets', r.secretsMapping ? code(`${r.environment.slug}:${r.secretPath} ${mappedNames(r.secretsMapping).join(', ')}`) : null],
        ['Automatic rotation', r.isAutoRotationEnabled ? `every ${r.rotationInterval} ${r.rotationInterval === 1 ? 'day' : 'days'} at ${rotateAt(r.rotateAtUtc)}` : 'off (manual only)'],
        ['Next rotation', nextRotation(r)],
        ['Last rotated', time(r.lastRotatedAt, 'never')],
        ['Last attempt', time(r.lastRotationAttemptedAt, 'never')],
        ['Last attempt was', lastTrigger(r)],
        ['Last message', r.lastRotationMessage],
        ['Version', String(r.version)],
        ['Created', time(r.createdAt)],
        ['ID', code(r.id)],
      ].filter(Boolean)),
    );
  }
  show(rotation);

  // Attempt history, newest first.
  const attemptsTable = dataTable({
    id: 'rotation-attempts',
    caption: 'Attempts, newest first',
    columns: ['#', 'Started', 'Finished', 'Trigger', 'Step', 'Outcome', 'Tries', 'Failures', 'Duration', 'Message'],
  });
  const attemptsNote = h('div');
  const attemptPages = pager(loadAttempts);

  async function loadAttempts(cursor) {
    attemptPages.lock();
    try {
      const { data: page } = await api.get(`${path}/attempts`, { query: { limit: 20, cursor }, signal: view.signal });
      attemptsTable.tbody.replaceChildren(attemptRows(page.attempts));
      if (!cursor && page.attempts.length && view.alive()) {
        newest = page.attempts[0];
        show(rotation);
      }
      attemptsNote.replaceChildren(page.attempts.length || cursor ? '' : h('p', { class: 'muted', text: 'No attempts yet.' }));
      attemptPages.loaded(page.nextCursor);
    } catch (err) {
      if (api.isAbort(err) || err instanceof api.SignedOut) return;
      attemptsNote.replaceChildren(alertBox(describeError(err)));
      attemptPages.loaded(null);
    }
  }

  async function refresh() {
    const { data: again } = await api.get(path, { signal: view.signal });
    show(again.secretRotation);
    return again.secretRotation;
  }

  /**
   * Polls until no attempt runs (or is due), then returns the rotation; null when the view was
   * left or the deadline passed. `report` gets the newest attempt on each round, for progress.
   */
  async function waitUntilIdle(deadline, everyMs, report) {
    for (;;) {
      if (!(await view.sleep(everyMs))) return null;
      const [r, latest] = await Promise.all([
        refresh(),
        report ? api.get(`${path}/attempts`, { query: { limit: 1 }, signal: view.signal }).then((res) => res.data.attempts[0]) : null,
      ]);
      if (!view.alive()) return null;
      // A key rotation's attempt rests through the overlap: once the new key is out, it is done here.
      if (!r.isRotating || r.overlapUntil) return r;
      if (report) report(latest);
      if (Date.now() > deadline) return null;
    }
  }

  // While an attempt runs when the page opens (e.g. the first rotation, queued at creation), keep
  // the status current. "Rotate now" takes over from this quieter poll.
  let watching = 0;
  async function watch() {
    watching += 1;
    const mine = watching;
    try {
      for (let round = 0; round < 120 && view.alive() && mine === watching && rotation.isRotating && !rotation.overlapUntil; round += 1) {
        if (!(await view.sleep(1000)) || mine !== watching) return;
        const r = await refresh();
        if ((!r.isRotating || r.overlapUntil) && mine === watching) await loadAttempts(null);
      }
    } catch (err) {
      // A failed background refresh only stops the live status; the page stays usable.
      if (!api.isAbort(err) && !(err instanceof api.SignedOut)) progress.textContent = '';
    }
  }

  const actions = [];
  if (write) {
    const rotateNow = h('button', { type: 'button', id: 'rotate-now', class: 'button', text: 'Rotate now' });
    // busy() enables the button again when done: the overlap may have begun meanwhile.
    rotateNow.addEventListener('click', () => busy(rotateNow, () => runRotateNow(), 'Rotating…').then(() => showOverlap(rotation)));
    actions.push(rotateNow);
    rotateNowButton = rotateNow;
    showOverlap(rotation);
  }

  function describeAttempt(attempt, started) {
    const seconds = Math.round((Date.now() - started) / 1000);
    if (!attempt) return `Waiting for a worker… (${seconds} s)`;
    const step = STEPS[attempt.step] || attempt.step;
    const retry = attempt.outcome === 'retrying' ? `, retrying after ${attempt.failures} ${attempt.failures === 1 ? 'failure' : 'failures'}` : '';
    return `Attempt ${attempt.attemptNumber}: ${step}${retry} (${seconds} s)`;
  }

  async function runRotateNow() {
    watching += 1; // stop the background watch
    outcome.removeAttribute('data-outcome');
    outcome.textContent = '';
    const started = Date.now();
    const deadline = started + POLL_LIMIT_MS;
    progress.textContent = 'Asking Keyhold to rotate…';
    try {
      for (;;) {
        try {
          const { data: queued } = await api.post(`${path}/rotate-secrets`, undefined, { signal: view.signal });
          show(queued.secretRotation);
          break;
        } catch (err) {
          // 409: an attempt is already running (the first one, or a scheduled one): let it finish, then ask again.
          if (!(err instanceof api.ApiError) || err.status !== 409 || Date.now() > deadline) throw err;
          progress.textContent = 'Another attempt is running; waiting for it to finish first…';
          const idle = await waitUntilIdle(deadline, POLL_MS, null);
          if (!idle) {
            if (view.alive()) progress.textContent = 'The running attempt has not finished after 60 s. Try again later.';
            return;
          }
          if (idle.overlapUntil) {
            progress.textContent = 'That attempt published a new key and now waits out the overlap: rotate again once the old key is removed.';
            return;
          }
        }
      }
      progress.textContent = 'Rotation queued…';
      const done = await waitUntilIdle(deadline, POLL_MS, (attempt) => {
        progress.textContent = describeAttempt(attempt, started);
      });
      if (!view.alive()) return;
      if (!done) {
        progress.textContent = 'Still running after 60 s; the attempt history will show how it ends.';
        await loadAttempts(null);
        return;
      }
      progress.textContent = '';
      const ok = done.rotationStatus === 'success';
      const published = keys && done.overlapUntil;
      outcome.textContent = published
        ? 'New key enabled beside the old one and published; the old key is removed when the overlap ends.'
        : ok
          ? `Rotated: Auth0 holds a new ${keys ? 'key' : 'client secret'} and issues tokens with it.`
          : `Rotation failed: ${done.lastRotationMessage || 'see the attempt history.'}`;
      outcome.className = `outcome alert alert-${ok || published ? 'success' : 'error'}`;
      outcome.dataset.outcome = ok || published ? 'success' : 'failure';
      attemptPages.reset();
      await loadAttempts(null);
    } catch (err) {
      if (api.isAbort(err) || err instanceof api.SignedOut || !view.alive()) return;
      progress.textContent = '';
      outcome.className = 'outcome alert alert-error';
      outcome.textContent = `Could not rotate: ${describeError(err)}`;
      outcome.dataset.outcome = 'failure';
    }
  }

  // The reveal (admins): nothing secret is fetched until the button is pressed.
  let revealSection = null;
  // None for a key rotation: its private key never leaves Keyhold.
  if (admin && !keys) revealSection = revealPanel(view, path);

  view.main.replaceChildren(
    h('p', { class: 'breadcrumb' }, h('a', { href: link.rotations(project.id), text: 'Rotations' }), ' / '),
    pageHeading(rotation.name, ...actions),
    progress,
    outcome,
    overlapNote,
    h('section', { id: 'rotation-detail', class: 'section', 'aria-labelledby': 'rotation-fields' }, h('h2', { id: 'rotation-fields', class: 'sr-only', text: 'Details' }), fieldsSlot),
    revealSection,
    h(
      'section',
      { class: 'section', 'aria-labelledby': 'attempts-heading' },
      h('h2', { id: 'attempts-heading', text: 'Attempt history' }),
      attemptsNote,
      attemptsTable.wrap,
      attemptPages.el,
    ),
  );
  await loadAttempts(null);
  if (rotation.isRotating) watch();
}
