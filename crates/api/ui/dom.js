// DOM building blocks. Everything goes through createElement and textContent, so text from the
// API can never become markup; styling is by class only (the CSP forbids inline style).

/**
 * `h('a', { href, class: 'x', text: 'y', on: { click } , dataset: {...} }, ...children)`.
 * Boolean/known properties are set as properties; anything else as an attribute (skipped when
 * null, undefined or false).
 */
export function h(tag, props, ...children) {
  const el = document.createElement(tag);
  if (props) {
    for (const [key, value] of Object.entries(props)) {
      if (value === undefined || value === null || value === false) continue;
      if (key === 'class') el.className = value;
      else if (key === 'text') el.textContent = value;
      else if (key === 'on') for (const [event, fn] of Object.entries(value)) el.addEventListener(event, fn);
      else if (key === 'dataset') Object.assign(el.dataset, value);
      else if (key === 'hidden' || key === 'disabled' || key === 'checked' || key === 'selected' || key === 'required')
        el[key] = Boolean(value);
      else if (key === 'value') el.value = value;
      else el.setAttribute(key, value === true ? '' : String(value));
    }
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    if (Array.isArray(child)) append(el, child);
    else el.append(child instanceof Node ? child : String(child));
  }
}

// One formatter for every timestamp: building one per table cell is what makes big tables slow.
const dateTime = new Intl.DateTimeFormat(undefined, { dateStyle: 'medium', timeStyle: 'medium' });

export function formatTime(iso) {
  if (!iso) return '';
  const date = new Date(iso);
  return Number.isNaN(date.getTime()) ? iso : dateTime.format(date);
}

/** A `<time>` in the reader's locale, the exact instant in its tooltip; a dash when absent. */
export function time(iso, empty = '—') {
  if (!iso) return h('span', { class: 'muted', text: empty });
  const el = document.createElement('time');
  el.dateTime = iso;
  el.title = iso;
  el.textContent = formatTime(iso);
  return el;
}

export function code(text) {
  const el = document.createElement('code');
  el.textContent = text;
  return el;
}

export function badge(text, tone = 'neutral', title) {
  const el = document.createElement('span');
  el.className = `badge badge-${tone}`;
  el.textContent = text;
  if (title) el.title = title;
  return el;
}

/** A `<dl>` of label → value pairs; values may be nodes or text. */
export function details(rows) {
  const dl = h('dl', { class: 'fields' });
  for (const [label, value] of rows) {
    dl.append(h('dt', { text: label }), h('dd', null, value === null || value === undefined || value === '' ? h('span', { class: 'muted', text: '—' }) : value));
  }
  return dl;
}

/**
 * A table in a horizontally scrolling wrapper (phones), focusable so keyboard users can scroll it.
 * `columns` are header labels; returns `{ wrap, table, tbody }`.
 */
export function dataTable({ id, caption, columns, captionHidden = true }) {
  const tbody = document.createElement('tbody');
  const headRow = h('tr', null, columns.map((label) => h('th', { scope: 'col', text: label })));
  const table = h(
    'table',
    { id, class: 'data' },
    caption ? h('caption', { class: captionHidden ? 'sr-only' : null, text: caption }) : null,
    h('thead', null, headRow),
    tbody,
  );
  const wrap = h('div', { class: 'table-wrap', tabindex: '0', role: 'region', 'aria-label': caption || 'table' }, table);
  return { wrap, table, tbody };
}

/** Appends a `<td>` holding `content` (text or node) to `tr`; fast path for text. */
export function cell(tr, content, className) {
  const td = document.createElement('td');
  if (className) td.className = className;
  if (content instanceof Node) td.append(content);
  else if (content !== null && content !== undefined && content !== '') td.textContent = String(content);
  else {
    td.className = className ? `${className} muted` : 'muted';
    td.textContent = '—';
  }
  tr.append(td);
  return td;
}

export function alertBox(message, tone = 'error') {
  return h('div', { class: `alert alert-${tone}`, role: tone === 'error' ? 'alert' : 'status' }, message);
}

/** What to tell a person about an error: the problem's detail and the request id to quote. */
export function describeError(err) {
  const detail = (err && err.problem && err.problem.detail) || (err && err.message) || 'Something went wrong.';
  const id = err && err.problem && err.problem.requestId;
  return id ? `${detail} (request ${id})` : detail;
}

const status = () => document.getElementById('status');
let statusTimer = 0;

/** Says `message` in the polite live region (screen readers) and shows it briefly. */
export function announce(message) {
  const el = status();
  if (!el) return;
  clearTimeout(statusTimer);
  el.textContent = '';
  // A fresh text node after a tick, so repeating the same message is announced again.
  requestAnimationFrame(() => {
    el.textContent = message;
    statusTimer = setTimeout(() => {
      el.textContent = '';
    }, 6000);
  });
}

let uid = 0;

/**
 * A labelled form field with its hint and error slot. `errorFor` is the API's field path
 * (`credentials.clientSecret`), which the error slot carries as `data-error-for`.
 */
export function field({ label, input, hint, errorFor, optional = false }) {
  const id = input.id || `f${(uid += 1)}`;
  input.id = id;
  const hintEl = hint ? h('p', { class: 'hint', id: `${id}-hint`, text: hint }) : null;
  const errorEl = h('p', { class: 'field-error', id: `${id}-error`, dataset: { errorFor: errorFor || id } });
  input.setAttribute('aria-describedby', [hintEl ? hintEl.id : null, errorEl.id].filter(Boolean).join(' '));
  return h(
    'div',
    { class: 'field' },
    h('label', { for: id }, label, optional ? h('span', { class: 'optional', text: ' (optional)' }) : null),
    input,
    hintEl,
    errorEl,
  );
}

/** The form-wide error area (`#form-error`), announced when filled, invisible while empty. */
export function formError() {
  return h('div', { id: 'form-error', class: 'form-error', role: 'alert', tabindex: '-1' });
}

export function clearErrors(form) {
  for (const el of form.querySelectorAll('[data-error-for]')) el.textContent = '';
  for (const el of form.querySelectorAll('[aria-invalid]')) el.removeAttribute('aria-invalid');
  const general = form.querySelector('#form-error');
  if (general) general.textContent = '';
}

function errorSlot(form, path) {
  // `rotateAtUtc.hours` falls back to the `rotateAtUtc` slot, and so on up the path.
  let at = path;
  while (at) {
    const slot = form.querySelector(`[data-error-for="${CSS.escape(at)}"]`);
    if (slot) return slot;
    const dot = at.lastIndexOf('.');
    at = dot === -1 ? '' : at.slice(0, dot);
  }
  return null;
}

/** Marks one field in error (client-side checks use this too). */
export function setFieldError(form, path, message) {
  const slot = errorSlot(form, path);
  if (!slot) return false;
  slot.textContent = slot.textContent ? `${slot.textContent} ${message}` : message;
  const input = form.querySelector(`[aria-describedby~="${CSS.escape(slot.id)}"]`);
  if (input) input.setAttribute('aria-invalid', 'true');
  return true;
}

/**
 * Shows an API error on a form: each `errors[]` entry at the input its `field` names, the
 * problem's detail in `#form-error`. `secretPath` receives an `auth0-rejected` detail that names
 * no field (Auth0 refusing the credentials is almost always the secret). Focuses the first field
 * at fault so keyboard users land on it.
 */
export function showFormError(form, err, { secretPath } = {}) {
  clearErrors(form);
  const general = form.querySelector('#form-error');
  const unplaced = [];
  if (err && err.fieldErrors) {
    for (const fe of err.fieldErrors) {
      if (!setFieldError(form, fe.field, fe.detail)) unplaced.push(`${fe.field}: ${fe.detail}`);
    }
    if (err.fieldErrors.length === 0 && err.type === 'auth0-rejected' && secretPath) {
      setFieldError(form, secretPath, err.problem.detail);
    }
  }
  if (general) {
    const lines = [describeError(err), ...unplaced];
    if (err && err.retryAfter) lines.push(`Try again in ${err.retryAfter} s.`);
    general.textContent = lines.join(' ');
  }
  const first = form.querySelector('[aria-invalid="true"]');
  if (first) first.focus();
  else if (general) general.focus();
}

/** A button that shows it is working and refuses double clicks until `work` settles. */
export async function busy(button, work, busyText) {
  const label = button.textContent;
  button.disabled = true;
  button.setAttribute('aria-busy', 'true');
  if (busyText) button.textContent = busyText;
  try {
    return await work();
  } finally {
    button.disabled = false;
    button.removeAttribute('aria-busy');
    if (busyText) button.textContent = label;
  }
}

/**
 * Previous / page number / Next for keyset pages. The API only knows "the page after cursor X",
 * so going back pops a stack of the cursors that led here.
 */
export function pager(load) {
  const state = { cursor: null, stack: [], page: 1, next: null };
  const prev = h('button', { type: 'button', id: 'prev-page', class: 'button secondary', text: 'Previous', disabled: true });
  const next = h('button', { type: 'button', id: 'next-page', class: 'button secondary', text: 'Next', disabled: true });
  const number = h('span', { id: 'page-number', class: 'page-number', 'aria-live': 'polite', text: 'Page 1' });
  const el = h('nav', { class: 'pager', 'aria-label': 'Pages' }, prev, number, next);

  function render() {
    prev.disabled = state.stack.length === 0;
    next.disabled = !state.next;
    number.textContent = `Page ${state.page}`;
  }

  prev.addEventListener('click', () => {
    if (!state.stack.length) return;
    state.cursor = state.stack.pop();
    state.page -= 1;
    render();
    load(state.cursor);
  });
  next.addEventListener('click', () => {
    if (!state.next) return;
    state.stack.push(state.cursor);
    state.cursor = state.next;
    state.page += 1;
    render();
    load(state.cursor);
  });

  return {
    el,
    state,
    /** Record what the last answer said about the following page. */
    loaded(nextCursor) {
      state.next = nextCursor || null;
      render();
    },
    /** Back to the first page (a new search or filter), starting from `cursor` if given. */
    reset(cursor = null) {
      state.cursor = cursor;
      state.stack = [];
      state.page = 1;
      state.next = null;
      render();
    },
    /** While a page loads, neither button may queue another. */
    lock() {
      prev.disabled = true;
      next.disabled = true;
    },
  };
}
