// Client-secret rotations: the list, the create form, and one rotation with "rotate now", its
// attempt history and the audited reveal of the generated secret. A revealed secret lives only in
// the DOM of #revealed-secret and one closure variable, both wiped on "Hide" and on navigation.

import * as api from './api.js';
import { link } from './router.js';
import {
  h, time, code, badge, details, dataTable, cell, alertBox, describeError, announce,
  field, formError, clearErrors, setFieldError, showFormError, busy, pager,
} from './dom.js';
import { keysetList } from './list.js';
import * as session from './session.js';

const BASE = '/api/v2/secret-rotations/auth0-client-secret';
const enc = encodeURIComponent;
const POLL_MS = 500;
const POLL_LIMIT_MS = 60000;

const STATUS_TONE = { success: 'ok', failed: 'danger', pending: 'neutral' };
const OUTCOME_TONE = { succeeded: 'ok', failed: 'danger', retrying: 'warn', running: 'info' };
const STEPS = {
  created: 'new secret generated and stored',
  set: 'Auth0 accepted the new secret',
  tested: 'Auth0 issues tokens with it',
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

const pad = (n) => String(n).padStart(2, '0');
const rotateAt = (at) => (at ? `${pad(at.hours)}:${pad(at.minutes)} UTC` : '00:00 UTC');

function nextRotation(rotation) {
  return rotation.isAutoRotationEnabled ? time(rotation.nextRotationAt) : h('span', { class: 'muted', text: 'manual only' });
}

function pageHeading(title, ...actions) {
  return h('div', { class: 'page-heading' }, h('h1', { tabindex: '-1', text: title }), actions.length ? h('div', { class: 'actions' }, actions) : null);
}

// ---------------------------------------------------------------------------------------------
// The list

export async function renderRotations(view) {
  const { project } = view;
  const search = h('input', { type: 'search', id: 'rotation-search', autocomplete: 'off', spellcheck: 'false', placeholder: 'Name contains…' });
  const table = dataTable({
    id: 'rotations-table',
    caption: `Secret rotations of ${project.name}`,
    columns: ['Name', 'Connection', 'Client', 'Status', 'Last rotated', 'Next rotation', 'Last message'],
  });
  const list = keysetList(view, {
    path: BASE,
    key: 'secretRotations',
    query: (cursor) => ({ projectId: project.id, limit: 100, cursor, search: search.value.trim() }),
    table,
    row: (r) => {
      const tr = document.createElement('tr');
      tr.dataset.rotationId = r.id;
      tr.append(h('th', { scope: 'row' }, h('a', { href: link.rotation(project.id, r.id), text: r.name })));
      cell(tr, h('a', { href: link.connection(project.id, r.connection.id), text: r.connection.name }));
      cell(tr, r.parameters.clientId, 'mono');
      cell(tr, rotationStatus(r));
      cell(tr, time(r.lastRotatedAt, 'never'));
      cell(tr, nextRotation(r));
      cell(tr, r.lastRotationMessage, 'message');
      return tr;
    },
    search,
    empty: ({ search: term, cursor }) => {
      if (term) return `No rotation’s name contains “${term}”.`;
      return cursor ? null : 'No secret rotations in this project yet.';
    },
  });

  const actions = session.canWrite(project)
    ? [h('a', { id: 'new-rotation', class: 'button', href: link.rotationNew(project.id), text: 'New rotation' })]
    : [];
  view.main.replaceChildren(pageHeading('Secret rotations', ...actions), ...list.parts);
  await list.restart(view.query.get('cursor') || null);
}

// ---------------------------------------------------------------------------------------------
// Create

const SLUG = /^[a-z0-9]+(-[a-z0-9]+)*$/;

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

  const name = h('input', { type: 'text', id: 'rotation-name', name: 'name', required: true, maxlength: '64', autocomplete: 'off', spellcheck: 'false' });
  const description = h('textarea', { id: 'rotation-description', name: 'description', maxlength: '256', rows: '2' });
  const connection = h('select', { id: 'rotation-connection', name: 'connectionId', required: true });
  // A real empty first choice: picking the only connection must still fire "change".
  connection.append(option('', 'Choose a connection…', { selected: true }));
  for (const c of connections) connection.append(option(c.id, c.name));
  const client = h('select', { id: 'rotation-client', name: 'clientId', required: true, disabled: true });
  client.append(option('', 'Choose a connection first', { selected: true }));
  const interval = h('input', { type: 'number', id: 'rotation-interval', name: 'rotationInterval', min: '1', max: '3650', step: '1', required: true, value: '30', inputmode: 'numeric' });
  const auto = h('input', { type: 'checkbox', id: 'rotation-auto', name: 'isAutoRotationEnabled', checked: true });
  const at = h('input', { type: 'time', id: 'rotation-at', name: 'rotateAtUtc', step: '60', value: '00:00', required: true });
  const submit = h('button', { type: 'submit', id: 'rotation-submit', class: 'button', text: 'Create rotation' });

  const autoError = h('p', { class: 'field-error', id: 'rotation-auto-error', dataset: { errorFor: 'isAutoRotationEnabled' } });
  auto.setAttribute('aria-describedby', 'rotation-auto-hint rotation-auto-error');

  const form = h(
    'form',
    { id: 'rotation-form', class: 'form card', novalidate: true },
    field({ label: 'Name', input: name, errorFor: 'name', hint: 'Lowercase letters, digits and single hyphens; unique in the project.' }),
    field({ label: 'Description', input: description, errorFor: 'description', optional: true }),
    field({ label: 'Connection', input: connection, errorFor: 'connectionId', hint: 'The Auth0 connection Keyhold acts through. It needs the read:clients and update:client_keys scopes.' }),
    field({ label: 'Application', input: client, errorFor: 'parameters.clientId', hint: 'The Auth0 application whose client secret is rotated.' }),
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
    formError(),
    h('div', { class: 'actions' }, submit, h('a', { class: 'button secondary', href: back, text: 'Cancel' })),
  );

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
    if (invalid) {
      form.querySelector('#form-error').textContent = 'Some fields need attention.';
      const first = form.querySelector('[aria-invalid="true"]');
      if (first) first.focus();
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
      parameters: { clientId: client.value },
    };
    await busy(submit, async () => {
      try {
        const { data } = await api.post(BASE, body, { signal: view.signal });
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
// One rotation

function attemptRows(attempts) {
  const rows = document.createDocumentFragment();
  for (const a of attempts) {
    const tr = document.createElement('tr');
    tr.dataset.attemptId = a.id;
    tr.append(h('th', { scope: 'row', class: 'num', text: String(a.attemptNumber) }));
    cell(tr, time(a.startedAt));
    cell(tr, time(a.finishedAt));
    cell(tr, a.isManual ? 'manual' : 'scheduled');
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
  const path = `${BASE}/${enc(id)}`;
  const write = session.canWrite(project);
  const admin = session.isAdmin(project);

  const { data } = await api.get(path, { signal: view.signal });
  let rotation = data.secretRotation;

  const status = h('span', { id: 'rotation-status', class: `badge badge-${STATUS_TONE[rotation.rotationStatus] || 'neutral'}` });
  const rotating = badge('rotating', 'info', 'An attempt is running, waiting to retry, or due now');
  const fieldsSlot = h('div');
  const progress = h('p', { id: 'rotation-progress', class: 'progress', role: 'status', 'aria-live': 'polite' });
  const outcome = h('div', { id: 'rotation-outcome', class: 'outcome', role: 'alert' });

  function show(r) {
    rotation = r;
    status.textContent = r.rotationStatus;
    status.className = `badge badge-${STATUS_TONE[r.rotationStatus] || 'neutral'}`;
    rotating.hidden = !r.isRotating;
    fieldsSlot.replaceChildren(
      details([
        ['Status', h('span', { class: 'badges' }, status, rotating)],
        ['Description', r.description],
        ['Connection', h('a', { href: link.connection(project.id, r.connection.id), text: r.connection.name })],
        ['Application (client ID)', code(r.parameters.clientId)],
        ['Automatic rotation', r.isAutoRotationEnabled ? `every ${r.rotationInterval} ${r.rotationInterval === 1 ? 'day' : 'days'} at ${rotateAt(r.rotateAtUtc)}` : 'off (manual only)'],
        ['Next rotation', nextRotation(r)],
        ['Last rotated', time(r.lastRotatedAt, 'never')],
        ['Last attempt', time(r.lastRotationAttemptedAt, 'never')],
        ['Last attempt was', r.lastRotationAttemptedAt ? (r.isLastRotationManual ? 'manual' : 'scheduled') : null],
        ['Last message', r.lastRotationMessage],
        ['Version', String(r.version)],
        ['Created', time(r.createdAt)],
        ['ID', code(r.id)],
      ]),
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
      if (!r.isRotating) return r;
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
      for (let round = 0; round < 120 && view.alive() && mine === watching && rotation.isRotating; round += 1) {
        if (!(await view.sleep(1000)) || mine !== watching) return;
        const r = await refresh();
        if (!r.isRotating && mine === watching) await loadAttempts(null);
      }
    } catch (err) {
      // A failed background refresh only stops the live status; the page stays usable.
      if (!api.isAbort(err) && !(err instanceof api.SignedOut)) progress.textContent = '';
    }
  }

  const actions = [];
  if (write) {
    const rotateNow = h('button', { type: 'button', id: 'rotate-now', class: 'button', text: 'Rotate now' });
    rotateNow.addEventListener('click', () => busy(rotateNow, () => runRotateNow(), 'Rotating…'));
    actions.push(rotateNow);
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
      outcome.className = `outcome alert alert-${ok ? 'success' : 'error'}`;
      outcome.textContent = ok
        ? 'Rotated: Auth0 holds a new client secret and issues tokens with it.'
        : `Rotation failed: ${done.lastRotationMessage || 'see the attempt history.'}`;
      outcome.dataset.outcome = ok ? 'success' : 'failure';
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
  if (admin) {
    const reveal = h('button', { type: 'button', id: 'reveal-credentials', class: 'button secondary', text: 'Reveal generated credentials' });
    const secret = h('code', { id: 'revealed-secret', class: 'secret', tabindex: '-1' });
    const secretClient = h('code', { id: 'revealed-client-id' });
    const previous = h('code', { id: 'revealed-previous-secret', class: 'secret' });
    const previousRow = h('div', { class: 'previous', hidden: true }, h('p', { class: 'hint', text: 'Previous generated secret (no longer the one Auth0 holds):' }), previous);
    const hide = h('button', { type: 'button', id: 'hide-secret', class: 'button secondary', text: 'Hide' });
    const panel = h(
      'div',
      { class: 'reveal-panel', id: 'reveal-panel', hidden: true },
      h('p', null, 'Client secret of ', secretClient, ' that Auth0 holds now:'),
      secret,
      previousRow,
      h('div', { class: 'actions' }, hide),
    );
    const revealError = h('div', { class: 'form-error', role: 'alert' });

    // Wipes what was shown. References are dropped too: nothing keeps the string reachable.
    const wipe = () => {
      secret.textContent = '';
      previous.textContent = '';
      secretClient.textContent = '';
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
        try {
          let { data: generated } = await api.get(`${path}/generated-credentials`, { signal: view.signal });
          if (!view.alive()) return;
          const list = generated.generatedCredentials || [];
          const active = list[generated.activeIndex];
          if (!active) {
            revealError.textContent = 'No secret has been generated yet: the first rotation has not finished.';
            generated = null;
            return;
          }
          secretClient.textContent = active.clientId;
          secret.textContent = active.clientSecret;
          const other = list.find((_, i) => i !== generated.activeIndex);
          if (other) {
            previous.textContent = other.clientSecret;
            previousRow.hidden = false;
          }
          generated = null;
          panel.hidden = false;
          reveal.hidden = true;
          hide.focus();
          announce('Secret revealed. This reveal is recorded in the audit log. Press Hide when done.');
        } catch (err) {
          if (api.isAbort(err) || err instanceof api.SignedOut) return;
          revealError.textContent = describeError(err);
        }
      }, 'Revealing…'),
    );
    hide.addEventListener('click', () => {
      wipe();
      reveal.focus();
      announce('Secret hidden.');
    });

    revealSection = h(
      'section',
      { class: 'section', 'aria-labelledby': 'reveal-heading' },
      h('h2', { id: 'reveal-heading', text: 'Generated credentials' }),
      h('p', { class: 'hint', text: 'Project admins can see the client secret Keyhold generated. Every reveal is recorded in the audit log.' }),
      reveal,
      revealError,
      panel,
    );
  }

  view.main.replaceChildren(
    h('p', { class: 'breadcrumb' }, h('a', { href: link.rotations(project.id), text: 'Rotations' }), ' / '),
    pageHeading(rotation.name, ...actions),
    progress,
    outcome,
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
