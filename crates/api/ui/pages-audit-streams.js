// Audit log streams: where the audit log is also delivered, as signed batches (a SIEM's HTTP
// intake). A project's admins manage their project's streams; instance admins also manage the
// organisation's streams (every project's events) on the instance page. One page: the streams
// with their delivery state, a form to add one, and per stream edit, enable/disable and delete.
// The signing secret is shown once after create (the webhooks page's one-time panel); extra
// header values (an intake's API key) are write-only: the API names them, never shows them, and
// the page only ever holds what the user typed, in password inputs.

import * as api from './api.js';
import { link } from './router.js';
import {
  h, hostOf, time, code, badge, dataTable, cell, labelCells, alertBox, describeError, announce, field,
  formError, clearErrors, setFieldError, showFormError, showFieldsInvalid, busy,
} from './dom.js';
import { signingSecretPanel } from './once.js';
import * as session from './session.js';

const BASE = '/api/v1/audit-log-streams';
const enc = encodeURIComponent;
/** As the API allows (`routes::audit_streams::MAX_HEADERS`). */
const MAX_HEADERS = 10;
const COLUMNS = ['URL', 'Headers', 'Status', 'Delivered', 'Waiting', 'Last error', 'Actions'];

function streamStatus(s) {
  const wrap = h('span', { class: 'badges' }, s.enabled ? badge('enabled', 'ok') : badge('disabled', 'neutral'));
  if (s.failingSince) wrap.append(badge('failing', 'warn', `Batches have failed since ${s.failingSince}`));
  return wrap;
}

/**
 * The extra headers editor: rows of name and (write-only) value. Returns `{ el, values }`;
 * `values(form)` marks empty rows and returns `[{ key, value }]`, or null when one is incomplete.
 */
function headersEditor(disabled = false) {
  const rows = h('div', { class: 'header-rows' });
  const add = h('button', { type: 'button', id: 'stream-add-header', class: 'button secondary small', text: 'Add header', disabled });
  let n = 0;
  function addRow() {
    const i = n;
    n += 1;
    const key = h('input', { type: 'text', id: `stream-header-${i}-key`, class: 'header-key', maxlength: '64', autocomplete: 'off', spellcheck: 'false', placeholder: 'DD-API-KEY', disabled });
    const value = h('input', { type: 'password', id: `stream-header-${i}-value`, class: 'header-value', maxlength: '4096', autocomplete: 'new-password', disabled });
    const remove = h('button', { type: 'button', class: 'button secondary small', text: 'Remove', 'aria-label': `Remove header ${i + 1}`, disabled });
    const row = h(
      'div',
      { class: 'header-row', dataset: { row: String(i) } },
      field({ label: `Header ${i + 1} name`, input: key, errorFor: `headers.${i}.key` }),
      field({ label: `Header ${i + 1} value`, input: value, errorFor: `headers.${i}.value` }),
      remove,
    );
    remove.addEventListener('click', () => {
      row.remove();
      add.disabled = false;
      add.focus();
    });
    rows.append(row);
    add.disabled = rows.children.length >= MAX_HEADERS;
    return key;
  }
  add.addEventListener('click', () => addRow().focus());
  const el = h('div', { class: 'stream-headers' }, rows, add, h('p', { class: 'field-error', id: 'stream-headers-error', dataset: { errorFor: 'headers' } }));
  const setDisabled = (off) => {
    for (const input of el.querySelectorAll('input, button')) input.disabled = off;
    if (!off) add.disabled = rows.children.length >= MAX_HEADERS;
  };
  // The API names errors by position among the headers sent: renumber what is left before sending.
  function values(form) {
    const out = [];
    let complete = true;
    for (const row of rows.children) {
      const key = row.querySelector('.header-key');
      const value = row.querySelector('.header-value');
      const i = out.length;
      key.closest('.field').querySelector('.field-error').dataset.errorFor = `headers.${i}.key`;
      value.closest('.field').querySelector('.field-error').dataset.errorFor = `headers.${i}.value`;
      if (!key.value.trim()) {
        setFieldError(form, `headers.${i}.key`, 'Enter the header’s name.');
        complete = false;
      }
      if (!value.value) {
        setFieldError(form, `headers.${i}.value`, 'Enter the header’s value.');
        complete = false;
      }
      out.push({ key: key.value.trim(), value: value.value });
    }
    return complete ? out : null;
  }
  // Values typed here are secrets of the intake: gone when the form is done with.
  const wipe = () => {
    for (const input of rows.querySelectorAll('.header-value')) input.value = '';
  };
  return { el, values, wipe, setDisabled };
}

/**
 * The fields of a stream, filled from `stream` when editing. `values()` returns the body (the
 * headers only when they are to be set), or null after marking what is missing.
 */
function streamForm(view, { stream, submitText }) {
  const url = h('input', { type: 'url', id: 'stream-url', required: true, maxlength: '2048', autocomplete: 'off', spellcheck: 'false', value: stream ? stream.url : '' });
  const description = h('textarea', { id: 'stream-description', maxlength: '256', rows: '2', value: stream && stream.description ? stream.description : '' });
  const enabled = h('input', { type: 'checkbox', id: 'stream-enabled', checked: stream ? stream.enabled : true });
  const headers = headersEditor(Boolean(stream));
  // Editing keeps the stored headers unless asked: their values cannot be shown to edit them.
  let replace = null;
  let replacePart = null;
  if (stream) {
    replace = h('input', { type: 'checkbox', id: 'stream-replace-headers' });
    replace.addEventListener('change', () => headers.setDisabled(!replace.checked));
    const now = stream.headerNames.length ? `Now: ${stream.headerNames.join(', ')} (values are never shown).` : 'Now: none.';
    replacePart = h(
      'div',
      { class: 'field checkbox' },
      replace,
      h('label', { for: 'stream-replace-headers', text: 'Replace the extra headers with the ones below (none removes them)' }),
      h('p', { class: 'hint', text: now }),
    );
  }
  const submit = h('button', { type: 'submit', id: 'stream-submit', class: 'button', text: submitText });
  const form = h(
    'form',
    { id: 'stream-form', class: 'form card', novalidate: true },
    formError(),
    field({
      label: 'URL',
      input: url,
      errorFor: 'url',
      hint: 'The intake’s https URL (Datadog, Splunk HEC, Elastic, or any receiver). Private addresses need KEYHOLD_WEBHOOK_ALLOW_PRIVATE_NETWORKS=true on the server.',
    }),
    field({ label: 'Description', input: description, errorFor: 'description', optional: true }),
    h(
      'fieldset',
      { class: 'stream-headers-pick' },
      h('legend', { text: 'Extra request headers' }),
      h('p', { class: 'hint', text: 'Sent with every batch, e.g. the intake’s API key. Keyhold keeps the values sealed and never shows them again.' }),
      replacePart,
      headers.el,
    ),
    h('div', { class: 'field checkbox' }, enabled, h('label', { for: 'stream-enabled', text: 'Enabled: deliver the audit log from now on' })),
    h('div', { class: 'actions' }, submit),
  );
  view.onLeave(headers.wipe);

  function values() {
    clearErrors(form);
    const body = { url: url.value.trim(), description: description.value.trim() || null, enabled: enabled.checked };
    let invalid = false;
    if (!body.url) {
      setFieldError(form, 'url', 'Enter the URL to send the audit log to.');
      invalid = true;
    }
    if (!replace || replace.checked) {
      const list = headers.values(form);
      if (list) body.headers = list;
      else invalid = true;
    }
    if (invalid) {
      showFieldsInvalid(form);
      return null;
    }
    return body;
  }
  return { form, submit, values, wipe: headers.wipe };
}

/** Audit log streams of `view.project` (its admins), or of the organisation (instance admins). */
export async function renderAuditStreams(view) {
  const { project } = view;
  const title = project ? 'Audit log streams' : 'Audit log streams: whole instance';
  const heading = () => h('h1', { tabindex: '-1', text: title });
  const instanceAdmin = await session.isInstanceAdmin(view.signal).catch(() => false);
  if (!view.alive()) return;
  if (project ? !session.isAdmin(project) : !instanceAdmin) {
    view.main.replaceChildren(
      heading(),
      alertBox(
        project
          ? `Only project admins manage audit log streams; your role here is ${project.role}.`
          : 'Only instance admins stream the whole instance’s audit log; project admins stream their project’s.',
        'info',
      ),
    );
    return;
  }
  const query = project ? { projectId: project.id } : {};
  const back = project ? link.audit(project.id) : link.auditAll();

  const notice = h('div', { id: 'streams-notice' });
  const secretSlot = h('div');
  const say = (message, tone = 'success') => notice.replaceChildren(alertBox(message, tone));
  const failed = (err, doing) => {
    if (api.isAbort(err) || err instanceof api.SignedOut) return;
    say(`${doing}: ${describeError(err)}`, 'error');
  };

  const table = dataTable({ id: 'streams-table', caption: title, columns: COLUMNS, cards: true });
  const empty = h('p', { class: 'empty', id: 'streams-empty' });
  let shownSecret = null;
  let editing = null;
  const formSlot = h('div');

  function closeForm(focus) {
    if (editing) editing.wipe();
    editing = null;
    formSlot.replaceChildren();
    if (focus) focus.focus();
  }

  function openForm(stream, opener) {
    closeForm();
    const made = streamForm(view, { stream, submitText: stream ? 'Save changes' : 'Create stream' });
    editing = made;
    const cancel = h('button', { type: 'button', id: 'stream-cancel', class: 'button secondary', text: 'Cancel' });
    cancel.addEventListener('click', () => closeForm(opener));
    made.submit.after(cancel);
    made.form.addEventListener('submit', async (event) => {
      event.preventDefault();
      const body = made.values();
      if (!body) return;
      await busy(made.submit, async () => {
        try {
          if (stream) {
            await api.patch(`${BASE}/${enc(stream.id)}`, body, { signal: view.signal });
            closeForm();
            say(`Changes to the stream to ${hostOf(body.url)} saved.`);
          } else {
            const { data } = await api.post(BASE, { ...query, ...body }, { signal: view.signal });
            if (!view.alive()) return;
            closeForm();
            showSecret(data.auditLogStream, data.signingSecret);
          }
          await load();
        } catch (err) {
          if (api.isAbort(err) || err instanceof api.SignedOut) return;
          showFormError(made.form, err);
        }
      }, stream ? 'Saving…' : 'Creating…');
    });
    formSlot.replaceChildren(
      h('section', { class: 'section', 'aria-labelledby': 'stream-form-heading' },
        h('h2', { id: 'stream-form-heading', text: stream ? `Edit the stream to ${hostOf(stream.url)}` : 'New audit log stream' }),
        made.form),
    );
    made.form.querySelector('#stream-url').focus();
  }

  function showSecret(stream, secret) {
    if (shownSecret) shownSecret.wipe();
    const hide = h('button', { type: 'button', id: 'dismiss-signing-secret', class: 'button', text: 'I have saved it: hide' });
    const mine = signingSecretPanel(view, secret, {
      explain: [
        `Keyhold now sends the audit log to ${hostOf(stream.url)}, in batches signed the Standard Webhooks way (webhook-signature header).`,
        'Give the secret to the receiver if it verifies signatures. Lost it? Delete the stream and create it again.',
      ],
      dismiss: hide,
    });
    shownSecret = mine;
    hide.addEventListener('click', () => {
      mine.wipe();
      secretSlot.replaceChildren();
      newStream.focus();
      announce('Signing secret hidden.');
    });
    notice.replaceChildren();
    secretSlot.replaceChildren(mine.panel);
    mine.value.focus();
    announce('Audit log stream created. Its signing secret is shown once; copy it now.');
  }

  function row(s) {
    const tr = document.createElement('tr');
    tr.dataset.streamId = s.id;
    tr.dataset.delivered = String(s.deliveredEvents);
    tr.append(h('th', { scope: 'row', class: 'break' }, h('span', { class: 'mono', text: s.url }), s.description ? h('p', { class: 'hint', text: s.description }) : null));
    cell(tr, s.headerNames.length ? h('span', null, ...s.headerNames.flatMap((n, i) => (i ? [', ', code(n)] : [code(n)]))) : null);
    cell(tr, streamStatus(s));
    cell(tr, h('span', null, `${s.deliveredEvents} events`, s.lastDeliveredAt ? h('span', { class: 'muted' }, ', last ', time(s.lastDeliveredAt)) : null), 'num');
    const waiting = cell(tr, String(s.backlog), 'num');
    if (s.failures && s.nextAttemptAt) waiting.append(h('span', { class: 'muted' }, ' · next try ', time(s.nextAttemptAt)));
    cell(tr, s.lastError ? `${s.lastStatus ? `HTTP ${s.lastStatus}: ` : ''}${s.lastError}` : null, 'message');
    const where = hostOf(s.url);
    const edit = h('button', { type: 'button', class: 'button secondary small edit-stream', text: 'Edit', 'aria-label': `Edit the stream to ${where}` });
    edit.addEventListener('click', () => openForm(s, edit));
    const toggle = h('button', { type: 'button', class: 'button secondary small toggle-stream', text: s.enabled ? 'Disable' : 'Enable', 'aria-label': `${s.enabled ? 'Disable' : 'Enable'} the stream to ${where}` });
    toggle.addEventListener('click', () =>
      busy(toggle, async () => {
        try {
          await api.patch(`${BASE}/${enc(s.id)}`, { enabled: !s.enabled }, { signal: view.signal });
          say(s.enabled ? `Disabled: nothing is sent to ${where}; events wait and are sent once it is enabled again.` : `Enabled: ${where} gets every event it has not had yet.`);
          await load();
        } catch (err) {
          failed(err, 'Could not change the stream');
        }
      }),
    );
    const remove = h('button', { type: 'button', class: 'button danger small delete-stream', text: 'Delete', 'aria-label': `Delete the stream to ${where}` });
    remove.addEventListener('click', () => {
      if (!window.confirm(`Delete the audit log stream to ${s.url}? Events it has not delivered are not sent there any more (the audit log itself keeps them).`)) return;
      busy(remove, async () => {
        try {
          await api.del(`${BASE}/${enc(s.id)}`, { signal: view.signal });
          say(`The stream to ${where} was deleted.`);
          await load();
          newStream.focus();
        } catch (err) {
          failed(err, 'Could not delete');
        }
      });
    });
    cell(tr, h('span', { class: 'row-actions' }, edit, toggle, remove));
    labelCells(tr, COLUMNS);
    return tr;
  }

  async function load() {
    const { data } = await api.get(BASE, { query, signal: view.signal });
    if (!view.alive()) return;
    const streams = data.auditLogStreams || [];
    const rows = document.createDocumentFragment();
    for (const s of streams) rows.append(row(s));
    table.tbody.replaceChildren(rows);
    table.wrap.hidden = !streams.length;
    empty.textContent = streams.length ? '' : 'No audit log streams yet. Add one to send every audit event to your SIEM as it is recorded.';
  }

  const newStream = h('button', { type: 'button', id: 'new-stream', class: 'button', text: 'New stream' });
  newStream.addEventListener('click', () => openForm(null, newStream));
  const scope = project
    ? `This project’s audit events are sent to each stream below, in order, in signed JSON batches of up to 100; a receiver that was down gets everything it missed.`
    : 'Every project’s audit events, with sign-ins and identity changes, are sent to each stream below, in order, in signed JSON batches.';
  await load();
  if (!view.alive()) return;
  view.main.replaceChildren(
    h('p', { class: 'breadcrumb' }, h('a', { href: back, text: 'Audit log' }), ' / '),
    h('div', { class: 'page-heading' }, heading(), h('div', { class: 'actions' }, newStream)),
    h('p', { class: 'hint', text: scope }),
    notice,
    secretSlot,
    formSlot,
    empty,
    table.wrap,
  );
}
