// Webhook endpoints (project admins only: the API answers 403 to anyone else, so other roles are
// offered nothing here): the list, the create form, and one endpoint with edit, enable/disable,
// delete, signing-secret rotation, a test event and its delivery log with redelivery.
// A signing secret is shown once, after create or rotate: it lives only in the one-time panel's
// DOM and is wiped when the panel is dismissed and on navigation, never stored or put in the URL.

import * as api from './api.js';
import { link } from './router.js';
import {
  h, hostOf, time, formatTime, code, badge, details, dataTable, cell, alertBox, describeError, announce,
  field, formError, clearErrors, setFieldError, showFormError, showFieldsInvalid, busy,
} from './dom.js';
import { signingSecretPanel } from './once.js';
import * as session from './session.js';

const BASE = '/api/v1/webhooks';
const enc = encodeURIComponent;
/** Deliveries shown in the log (the API keeps them until retention; it returns up to 200). */
const LOG_LIMIT = 50;
const WATCH_MS = 1000;
const WATCH_ROUNDS = 60;

// The event types the API accepts (`store::webhooks::EVENT_TYPES`), besides "*" for all of them.
export const EVENT_TYPES = [
  ['secret-rotation.succeeded', 'A rotation finished and Auth0 issues tokens with the new secret.'],
  ['secret-rotation.failed', 'A rotation gave up, with the reason and what to fix.'],
  ['secret-rotation.retrying', 'A rotation attempt failed and will be retried.'],
  ['secret.created', 'A project secret was created.'],
  ['secret.updated', 'A project secret got a new version (rotations included).'],
  ['secret.deleted', 'A project secret was deleted.'],
  ['app-connection.credentials-rejected', 'Auth0 refused a connection’s own credentials.'],
  ['app-connection.scopes-missing', 'A scope check found a capability that lost its scopes.'],
  ['webhook.disabled', 'Keyhold disabled another endpoint of this project for failing too long.'],
  ['webhook.test', 'Sent by “Send test event”.'],
];

const DELIVERY_TONE = { delivered: 'ok', failed: 'danger', pending: 'info' };

function pageHeading(title, ...actions) {
  return h('div', { class: 'page-heading' }, h('h1', { tabindex: '-1', text: title }), actions.length ? h('div', { class: 'actions' }, actions) : null);
}

/** Non-admins: a note and nothing to press (the API refuses them every webhook call). */
function adminsOnly(view, title) {
  if (session.isAdmin(view.project)) return false;
  view.main.replaceChildren(
    pageHeading(title),
    alertBox(`Only project admins manage webhooks; your role in this project is ${view.project.role}.`, 'info'),
  );
  return true;
}

function eventTypesView(types) {
  if (types.includes('*')) return h('span', null, 'all events ', h('span', { class: 'muted', text: '(*)' }));
  const wrap = h('span', { class: 'event-types' });
  types.forEach((t, i) => wrap.append(i ? ', ' : '', code(t)));
  return wrap;
}

/** Enabled or disabled (and by whom), and whether deliveries are failing. */
function webhookStatus(w) {
  const wrap = h('span', { class: 'badges' });
  if (w.enabled) wrap.append(badge('enabled', 'ok'));
  else if (w.disabledReason) wrap.append(badge('disabled by Keyhold', 'danger'));
  else wrap.append(badge('disabled', 'neutral'));
  if (w.failingSince) wrap.append(badge('failing', 'warn', `Deliveries have failed since ${w.failingSince}`));
  return wrap;
}

// ---------------------------------------------------------------------------------------------
// The list

export async function renderWebhooks(view) {
  if (adminsOnly(view, 'Webhooks')) return;
  const { project } = view;
  const { data } = await api.get(BASE, { query: { projectId: project.id }, signal: view.signal });
  if (!view.alive()) return;
  const webhooks = data.webhooks || [];
  const table = dataTable({
    id: 'webhooks-table',
    caption: `Webhook endpoints of ${project.name}`,
    columns: ['URL', 'Description', 'Event types', 'Status', 'Created'],
  });
  for (const w of webhooks) {
    const tr = document.createElement('tr');
    tr.dataset.webhookId = w.id;
    tr.append(h('th', { scope: 'row', class: 'break' }, h('a', { href: link.webhook(project.id, w.id), class: 'mono', text: w.url })));
    cell(tr, w.description, 'message');
    cell(tr, eventTypesView(w.eventTypes));
    const status = cell(tr, webhookStatus(w));
    if (w.disabledReason) status.append(h('p', { class: 'hint disabled-reason', text: w.disabledReason }));
    cell(tr, time(w.createdAt));
    table.tbody.append(tr);
  }
  const parts = [
    pageHeading('Webhooks', h('a', { id: 'new-webhook', class: 'button', href: link.webhookNew(project.id), text: 'New webhook' })),
    h('p', { class: 'hint', text: 'Keyhold POSTs signed events (Standard Webhooks) to these endpoints when credentials and secrets change or fail.' }),
    table.wrap,
    webhooks.length ? null : h('p', { class: 'empty', id: 'webhooks-empty', text: 'No webhook endpoints in this project yet. Add one with “New webhook”: an HTTPS URL that answers 2xx, and the events it should hear (a rotation that succeeded or failed, a secret that changed…). Its signing secret is shown once; give it to the receiver to verify each delivery.' }),
  ];
  view.main.replaceChildren(...parts.filter(Boolean));
}

// ---------------------------------------------------------------------------------------------
// The form (create, and edit on an endpoint's page)

function slug(type) {
  return type.replace(/[^a-z0-9]+/gi, '-');
}

/**
 * The fields of a webhook, filled from `webhook` when editing. Returns `{ form, values }`;
 * `values()` checks what can be checked here (marking the fields) and returns the body, or null.
 */
function webhookForm({ webhook, submitText, withEnabled }) {
  const url = h('input', { type: 'url', id: 'webhook-url', required: true, maxlength: '2048', autocomplete: 'off', spellcheck: 'false', value: webhook ? webhook.url : '' });
  const description = h('textarea', { id: 'webhook-description', maxlength: '256', rows: '2', value: webhook && webhook.description ? webhook.description : '' });
  const chosen = new Set(webhook ? webhook.eventTypes : ['*']);
  const all = h('input', { type: 'checkbox', id: 'event-all', value: '*', checked: chosen.has('*'), 'aria-describedby': 'event-types-hint event-types-error' });
  const boxes = EVENT_TYPES.map(([type]) =>
    h('input', { type: 'checkbox', id: `event-${slug(type)}`, name: 'eventTypes', value: type, checked: chosen.has(type) }),
  );
  const sync = () => {
    for (const box of boxes) box.disabled = all.checked;
  };
  all.addEventListener('change', sync);
  sync();
  const types = h(
    'fieldset',
    { class: 'event-types-pick' },
    h('legend', { text: 'Event types' }),
    h('p', { class: 'hint', id: 'event-types-hint', text: 'What this endpoint is sent. “All events” includes types added in later versions of Keyhold.' }),
    h('div', { class: 'field checkbox' }, all, h('label', { for: 'event-all', text: 'All events (*)' })),
    EVENT_TYPES.map(([type, about], i) =>
      h('div', { class: 'field checkbox' }, boxes[i], h('label', { for: boxes[i].id }, code(type), h('span', { class: 'about', text: ` — ${about}` }))),
    ),
    h('p', { class: 'field-error', id: 'event-types-error', dataset: { errorFor: 'eventTypes' } }),
  );
  let enabled = null;
  let enabledPart = null;
  if (withEnabled) {
    enabled = h('input', { type: 'checkbox', id: 'webhook-enabled', checked: true, 'aria-describedby': 'webhook-enabled-error' });
    enabledPart = h(
      'div',
      { class: 'field checkbox' },
      enabled,
      h('label', { for: 'webhook-enabled', text: 'Enabled: deliver events from now on' }),
      h('p', { class: 'field-error', id: 'webhook-enabled-error', dataset: { errorFor: 'enabled' } }),
    );
  }
  const submit = h('button', { type: 'submit', id: 'webhook-submit', class: 'button', text: submitText });
  const form = h(
    'form',
    { id: 'webhook-form', class: 'form card', novalidate: true },
    formError(),
    field({
      label: 'URL',
      input: url,
      errorFor: 'url',
      hint: 'An https URL on a public name. Addresses on private networks need KEYHOLD_WEBHOOK_ALLOW_PRIVATE_NETWORKS=true on the server.',
    }),
    field({ label: 'Description', input: description, errorFor: 'description', optional: true }),
    types,
    enabledPart,
    h('div', { class: 'actions' }, submit),
  );

  function values() {
    clearErrors(form);
    let invalid = false;
    const body = { url: url.value.trim(), description: description.value.trim() || null };
    body.eventTypes = all.checked ? ['*'] : boxes.filter((b) => b.checked).map((b) => b.value);
    if (!body.url) {
      setFieldError(form, 'url', 'Enter the URL to send events to.');
      invalid = true;
    }
    if (!body.eventTypes.length) {
      setFieldError(form, 'eventTypes', 'Choose at least one event type, or all events.');
      invalid = true;
    }
    if (invalid) {
      showFieldsInvalid(form);
      return null;
    }
    if (enabled) body.enabled = enabled.checked;
    return body;
  }

  return { form, submit, values };
}

// ---------------------------------------------------------------------------------------------
// Create

export async function renderWebhookForm(view) {
  if (adminsOnly(view, 'New webhook')) return;
  const { project } = view;
  const back = link.webhooks(project.id);
  const { form, submit, values } = webhookForm({ submitText: 'Create webhook', withEnabled: true });
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    const body = values();
    if (!body) return;
    await busy(submit, async () => {
      try {
        const { data } = await api.post(BASE, { projectId: project.id, ...body }, { signal: view.signal });
        if (!view.alive()) return;
        showCreated(view, data.webhook, data.signingSecret);
      } catch (err) {
        if (api.isAbort(err) || err instanceof api.SignedOut) return;
        showFormError(form, err);
      }
    }, 'Creating…');
  });
  view.main.replaceChildren(
    h('p', { class: 'breadcrumb' }, h('a', { href: back, text: 'Webhooks' }), ' / '),
    pageHeading('New webhook'),
    form,
  );
}

function showCreated(view, webhook, secret) {
  const { project } = view;
  const done = h('a', { id: 'signing-secret-done', class: 'button', href: link.webhook(project.id, webhook.id), text: 'I have saved it: go to the webhook' });
  const { panel, value } = signingSecretPanel(view, secret, {
    explain: [
      'Give it to the receiver: it verifies the webhook-signature header of every delivery with it (any Standard Webhooks library does this).',
      'Lost it? Rotate the signing secret on the webhook’s page to get a new one.',
    ],
    dismiss: done,
  });
  view.main.replaceChildren(
    h('p', { class: 'breadcrumb' }, h('a', { href: link.webhooks(project.id), text: 'Webhooks' }), ' / '),
    pageHeading('Webhook created'),
    alertBox(h('span', null, 'Keyhold now sends events to ', code(webhook.url), '.'), 'success'),
    panel,
  );
  value.focus();
  announce('Webhook created. Its signing secret is shown once; copy it now.');
}

// ---------------------------------------------------------------------------------------------
// One endpoint

function attemptsView(d) {
  if (!d.log || !d.log.length) return String(d.attempts);
  const list = h('ol', { class: 'attempt-log' });
  for (const a of d.log) {
    const what = [a.statusCode ? `HTTP ${a.statusCode}` : 'no answer', `${a.latencyMs} ms`, a.error].filter(Boolean).join(', ');
    list.append(h('li', null, time(a.at), ` — ${what}`));
  }
  return h('details', null, h('summary', null, String(d.attempts), h('span', { class: 'sr-only', text: ' attempts: show each' })), list);
}

function deliveryStatus(d) {
  const wrap = h('span', { class: 'badges' }, badge(d.status, DELIVERY_TONE[d.status] || 'neutral'));
  if (d.lastStatusCode) wrap.append(h('span', { class: 'mono', text: `HTTP ${d.lastStatusCode}` }));
  if (d.status === 'pending' && d.nextAttemptAt && d.attempts > 0) wrap.append(h('span', { class: 'muted' }, 'next try ', time(d.nextAttemptAt)));
  return wrap;
}

export async function renderWebhookDetail(view) {
  if (adminsOnly(view, 'Webhook')) return;
  const { project } = view;
  const id = view.params.webhookId;
  const path = `${BASE}/${enc(id)}`;
  const { data } = await api.get(path, { signal: view.signal });
  if (!view.alive()) return;
  let webhook = data.webhook;

  const heading = h('h1', { tabindex: '-1' });
  const fieldsSlot = h('div');
  const notice = h('div', { id: 'webhook-notice' });
  const secretSlot = h('div');
  const toggle = h('button', { type: 'button', id: 'toggle-webhook', class: 'button secondary' });
  const test = h('button', { type: 'button', id: 'test-webhook', class: 'button secondary', text: 'Send test event' });

  function show(w) {
    webhook = w;
    heading.textContent = `Webhook to ${hostOf(w.url)}`;
    toggle.textContent = w.enabled ? 'Disable' : 'Enable';
    test.disabled = !w.enabled;
    if (w.enabled) test.removeAttribute('title');
    else test.title = 'Enable the webhook to send a test event';
    fieldsSlot.replaceChildren(
      details([
        ['URL', h('span', { class: 'mono break', id: 'webhook-url-shown', text: w.url })],
        ['Description', w.description],
        ['Event types', eventTypesView(w.eventTypes)],
        ['Status', webhookStatus(w)],
        ['Disabled by Keyhold because', w.disabledReason ? h('span', { class: 'disabled-reason', text: w.disabledReason }) : null],
        ['Disabled at', w.enabled ? null : time(w.disabledAt)],
        ['Failing since', w.failingSince ? time(w.failingSince) : null],
        ['Old secret also signs until', w.signatureOverlapUntil ? time(w.signatureOverlapUntil) : null],
        ['Created', time(w.createdAt)],
        ['Updated', time(w.updatedAt)],
        ['ID', code(w.id)],
      ].filter(([, value]) => value !== null)),
    );
  }
  show(webhook);

  const say = (message, tone = 'success') => {
    notice.replaceChildren(alertBox(message, tone));
  };
  const failed = (err, doing) => {
    if (api.isAbort(err) || err instanceof api.SignedOut) return;
    say(`${doing}: ${describeError(err)}`, 'error');
  };

  // The delivery log, newest first; while a delivery is pending it is read again every second.
  const log = dataTable({
    id: 'webhook-deliveries',
    caption: 'Deliveries, newest first',
    columns: ['Time', 'Event type', 'Attempts', 'Status', 'Latency', 'Error', ''],
  });
  const logNote = h('div', { id: 'deliveries-note' });

  function deliveryRow(d) {
    const tr = document.createElement('tr');
    tr.dataset.deliveryId = d.id;
    tr.dataset.status = d.status;
    tr.dataset.attempts = String(d.attempts);
    tr.dataset.eventType = d.eventType;
    tr.append(h('th', { scope: 'row', class: 'nowrap' }, time(d.createdAt)));
    cell(tr, code(d.eventType));
    cell(tr, attemptsView(d), 'num');
    cell(tr, deliveryStatus(d));
    cell(tr, d.lastLatencyMs === null || d.lastLatencyMs === undefined ? '' : `${d.lastLatencyMs} ms`, 'num');
    cell(tr, d.lastError, 'message');
    if (d.status === 'pending') cell(tr, h('span', { class: 'muted', text: d.attempts ? 'retrying' : 'queued' }));
    else {
      const again = h('button', { type: 'button', class: 'button secondary small redeliver-delivery', text: 'Redeliver', 'aria-label': `Redeliver the ${d.eventType} event of ${formatTime(d.createdAt)}` });
      again.addEventListener('click', () =>
        busy(again, async () => {
          try {
            await api.post(`${path}/deliveries/${enc(d.id)}/redeliver`, undefined, { signal: view.signal });
            say(`Redelivery of the ${d.eventType} event queued.`);
            announce('Redelivery queued.');
            watchLog(d.id, outcome(`The ${d.eventType} event`));
          } catch (err) {
            failed(err, 'Could not redeliver');
          }
        }, 'Queuing…'),
      );
      cell(tr, again);
    }
    return tr;
  }

  let loads = 0;
  /** Paints the log and returns its deliveries; null when a later read started meanwhile. */
  async function loadLog() {
    loads += 1;
    const mine = loads;
    const { data: page } = await api.get(`${path}/deliveries`, { query: { limit: LOG_LIMIT }, signal: view.signal });
    if (!view.alive() || mine !== loads) return null;
    const rows = document.createDocumentFragment();
    for (const d of page.deliveries) rows.append(deliveryRow(d));
    log.tbody.replaceChildren(rows);
    logNote.replaceChildren(page.deliveries.length ? '' : h('p', { class: 'muted', id: 'deliveries-empty', text: 'Nothing delivered yet. “Send test event” sends one.' }));
    return page.deliveries;
  }

  const pending = (list) => list.some((d) => d.status === 'pending');
  let watching = 0;
  /**
   * Reads the log now and every second while a delivery is pending (for up to a minute), then
   * the endpoint too. `report(delivery)` hears once how delivery `target` ended, or that it is
   * still pending when the minute is up. Not awaited by the buttons, which are free at once.
   */
  async function watchLog(target, report) {
    watching += 1;
    const mine = watching;
    let told = false;
    const tell = (list, last) => {
      if (!report || told || !list) return;
      const d = list.find((x) => x.id === target);
      if (d && (last || d.status !== 'pending')) {
        told = true;
        report(d);
      }
    };
    try {
      let list = await loadLog();
      tell(list, false);
      for (let round = 0; round < WATCH_ROUNDS && list && pending(list); round += 1) {
        if (!(await view.sleep(WATCH_MS)) || mine !== watching) return;
        list = await loadLog();
        tell(list, false);
      }
      if (!list) return;
      tell(list, true);
      // A delivery outcome moves `failingSince`.
      const { data: again } = await api.get(path, { signal: view.signal });
      if (view.alive() && mine === watching) show(again.webhook);
    } catch (err) {
      if (api.isAbort(err) || err instanceof api.SignedOut || !view.alive()) return;
      logNote.replaceChildren(alertBox(describeError(err)));
    }
  }

  /** What became of a delivery the user just asked for. */
  const outcome = (what) => (d) => {
    if (d.status === 'delivered') say(`${what} was delivered: the receiver answered HTTP ${d.lastStatusCode} in ${d.lastLatencyMs} ms.`);
    else if (d.status === 'failed') say(`${what} failed: ${d.lastError || (d.lastStatusCode ? `HTTP ${d.lastStatusCode}` : 'no answer')}.`, 'error');
    else say(`${what} has not been delivered yet${d.lastError ? ` (${d.lastError})` : ''}; Keyhold keeps retrying it, and the log shows each attempt.`, 'error');
  };

  const refresh = h('button', { type: 'button', id: 'refresh-deliveries', class: 'button secondary small', text: 'Refresh' });
  refresh.addEventListener('click', () => {
    watchLog();
    announce('Delivery log refreshed.');
  });

  // Actions: every one needs the admin role, which this page already required.
  const { form, submit, values } = webhookForm({ webhook, submitText: 'Save changes', withEnabled: false });
  form.hidden = true;
  const edit = h('button', { type: 'button', id: 'edit-webhook', class: 'button secondary', text: 'Edit', 'aria-expanded': 'false', 'aria-controls': 'webhook-form' });
  edit.addEventListener('click', () => {
    form.hidden = !form.hidden;
    edit.setAttribute('aria-expanded', String(!form.hidden));
    if (!form.hidden) form.querySelector('#webhook-url').focus();
  });
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    const body = values();
    if (!body) return;
    await busy(submit, async () => {
      try {
        const { data: saved } = await api.patch(path, body, { signal: view.signal });
        show(saved.webhook);
        form.hidden = true;
        edit.setAttribute('aria-expanded', 'false');
        say('Changes saved.');
        edit.focus();
      } catch (err) {
        if (api.isAbort(err) || err instanceof api.SignedOut) return;
        showFormError(form, err);
      }
    }, 'Saving…');
  });

  toggle.addEventListener('click', () =>
    busy(toggle, async () => {
      const enabling = !webhook.enabled;
      try {
        const { data: saved } = await api.patch(path, { enabled: enabling }, { signal: view.signal });
        show(saved.webhook);
        say(enabling ? 'Enabled: events are delivered again. Redeliver from the log what it missed.' : 'Disabled: no events are delivered to it until it is enabled again.');
      } catch (err) {
        failed(err, enabling ? 'Could not enable' : 'Could not disable');
      }
    }),
  );

  test.addEventListener('click', () =>
    busy(test, async () => {
      try {
        const { data: sent } = await api.post(`${path}/test`, undefined, { signal: view.signal });
        say('Test event queued; the delivery log below shows how it goes.');
        watchLog(sent.delivery.id, outcome('The test event'));
      } catch (err) {
        failed(err, 'Could not send a test event');
      }
    }, 'Sending…'),
  );

  const rotate = h('button', { type: 'button', id: 'rotate-webhook-secret', class: 'button secondary', text: 'Rotate signing secret' });
  let shownSecret = null;
  rotate.addEventListener('click', () => {
    const sure = window.confirm(
      'Rotate the signing secret? Keyhold shows the new secret once. For 24 hours deliveries carry signatures with both the old and the new secret, so the receiver keeps verifying while you switch it over.',
    );
    if (!sure) return;
    busy(rotate, async () => {
      try {
        const { data: rotated } = await api.post(`${path}/rotate-secret`, undefined, { signal: view.signal });
        if (!view.alive()) return;
        show(rotated.webhook);
        if (shownSecret) shownSecret.wipe();
        const hide = h('button', { type: 'button', id: 'dismiss-signing-secret', class: 'button', text: 'I have saved it: hide' });
        const until = rotated.webhook.signatureOverlapUntil;
        shownSecret = signingSecretPanel(view, rotated.signingSecret, {
          explain: [
            `Until ${until ? formatTime(until) : '24 hours from now'}, every delivery carries two signatures, one per secret, in its webhook-signature header; Standard Webhooks libraries accept either.`,
            'Give the receiver the new secret before then: after that only the new one signs.',
          ],
          dismiss: hide,
        });
        const mine = shownSecret;
        hide.addEventListener('click', () => {
          mine.wipe();
          secretSlot.replaceChildren();
          rotate.focus();
          announce('Signing secret hidden.');
        });
        secretSlot.replaceChildren(mine.panel);
        notice.replaceChildren();
        mine.value.focus();
        announce('Signing secret rotated. The new secret is shown once; copy it now.');
      } catch (err) {
        failed(err, 'Could not rotate the signing secret');
      }
    }, 'Rotating…');
  });

  const remove = h('button', { type: 'button', id: 'delete-webhook', class: 'button danger', text: 'Delete' });
  remove.addEventListener('click', () => {
    const sure = window.confirm(`Delete the webhook to ${webhook.url}? Its signing secrets and delivery log go with it; pending deliveries are dropped.`);
    if (!sure) return;
    busy(remove, async () => {
      try {
        await api.del(path, { signal: view.signal });
        session.flash(`Webhook to ${hostOf(webhook.url)} deleted.`);
        location.assign(link.webhooks(project.id));
      } catch (err) {
        failed(err, 'Could not delete');
      }
    }, 'Deleting…');
  });

  view.main.replaceChildren(
    h('p', { class: 'breadcrumb' }, h('a', { href: link.webhooks(project.id), text: 'Webhooks' }), ' / '),
    h('div', { class: 'page-heading' }, heading, h('div', { class: 'actions' }, edit, toggle, test, rotate, remove)),
    notice,
    secretSlot,
    form,
    h('section', { id: 'webhook-detail', class: 'section', 'aria-labelledby': 'webhook-fields' }, h('h2', { id: 'webhook-fields', class: 'sr-only', text: 'Details' }), fieldsSlot),
    h(
      'section',
      { class: 'section', 'aria-labelledby': 'deliveries-heading' },
      h('div', { class: 'page-heading' }, h('h2', { id: 'deliveries-heading', text: 'Delivery log' }), refresh),
      h('p', { class: 'hint', text: `The latest ${LOG_LIMIT} deliveries. Each is retried with backoff for 24 hours until the receiver answers 2xx; a delivered or failed one can be sent again with the same webhook-id.` }),
      logNote,
      log.wrap,
    ),
  );
  try {
    const first = await loadLog();
    if (first && pending(first)) watchLog();
  } catch (err) {
    if (api.isAbort(err) || err instanceof api.SignedOut || !view.alive()) return;
    logNote.replaceChildren(alertBox(describeError(err)));
  }
}
