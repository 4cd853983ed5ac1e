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

// One formatter each for every timestamp: building one per table cell is what makes big tables
// slow. Times are shown in UTC, like the rotation schedules; the reader's own time is the tooltip.
const utcTime = new Intl.DateTimeFormat('en-GB', {
  timeZone: 'UTC', year: 'numeric', month: 'short', day: '2-digit',
  hour: '2-digit', minute: '2-digit', second: '2-digit', hourCycle: 'h23',
});
const localTime = new Intl.DateTimeFormat(undefined, { dateStyle: 'medium', timeStyle: 'long' });

/** `6 Dec 2026, 20:26:50 UTC`; the input as given when it is not a time. */
export function formatTime(iso) {
  if (!iso) return '';
  const date = new Date(iso);
  return Number.isNaN(date.getTime()) ? iso : `${utcTime.format(date)} UTC`;
}

/** A `<time>` in UTC, the reader's local time in its tooltip; a dash when absent. */
export function time(iso, empty = '—') {
  if (!iso) return h('span', { class: 'muted', text: empty });
  const el = document.createElement('time');
  el.dateTime = iso;
  el.textContent = formatTime(iso);
  const date = new Date(iso);
  el.title = Number.isNaN(date.getTime()) ? iso : `Your time: ${localTime.format(date)}`;
  return el;
}

/** The host (and port) of a URL, for saying where something is sent; the text itself if no URL. */
export function hostOf(url) {
  try {
    return new URL(url).host || url;
  } catch {
    return url;
  }
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
 * `columns` are header labels; `cards` stacks each row as a card below 640 px instead (cells
 * named with `labelCells`). Returns `{ wrap, table, tbody }`.
 */
export function dataTable({ id, caption, columns, captionHidden = true, cards = false }) {
  const tbody = document.createElement('tbody');
  const headRow = h('tr', null, columns.map((label) => h('th', { scope: 'col', text: label })));
  const table = h(
    'table',
    { id, class: cards ? 'data cards' : 'data' },
    caption ? h('caption', { class: captionHidden ? 'sr-only' : null, text: caption }) : null,
    h('thead', null, headRow),
    tbody,
  );
  const wrap = h('div', { class: 'table-wrap', tabindex: '0', role: 'region', 'aria-label': caption || 'table' }, table);
  return { wrap, table, tbody };
}

/**
 * Names each cell of `tr` after its column (`data-label`), which a `cards` table shows before the
 * value on narrow screens, where its rows become stacked cards instead of scrolling sideways.
 */
export function labelCells(tr, columns) {
  const cells = tr.children;
  for (let i = 0; i < cells.length && i < columns.length; i += 1) cells[i].dataset.label = columns[i];
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
  if (general) general.replaceChildren();
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

/** A field's name as its label says it, without "(optional)". */
function labelOf(form, input) {
  const label = input.id ? form.querySelector(`label[for="${CSS.escape(input.id)}"]`) : null;
  const text = label && label.firstChild ? label.firstChild.textContent.trim() : '';
  return text || input.name || input.id;
}

/**
 * Fills `#form-error` with `lead` and, below it, one link per field in error (its label, not its
 * message again: the message sits once, at the field). A link focuses its field without touching
 * the address, which the router owns. `extra` lines (errors no field shows) follow the lead.
 */
export function summarize(form, lead, extra = []) {
  const general = form.querySelector('#form-error');
  if (!general) return;
  const invalid = [...form.querySelectorAll('[aria-invalid="true"]')];
  const links = invalid.map((input) =>
    h('li', null, h('a', {
      href: `#${input.id}`,
      text: labelOf(form, input),
      on: {
        click: (event) => {
          event.preventDefault();
          input.focus();
        },
      },
    })),
  );
  general.replaceChildren([lead, ...extra].filter(Boolean).join(' '), links.length ? h('ul', { class: 'error-links' }, links) : '');
}

/** Marks client-side check failures: the summary, then the first field at fault gets the focus. */
export function showFieldsInvalid(form) {
  summarize(form, 'Some fields need attention:');
  const first = form.querySelector('[aria-invalid="true"]');
  if (first) first.focus();
}

/**
 * Shows an API error on a form: each `errors[]` entry at the input its `field` names (once: the
 * summary in `#form-error` links to the fields rather than repeating them), the problem's detail
 * in `#form-error` when no field shows it. `secretPath` receives an `auth0-rejected` detail that
 * names no field (Auth0 refusing the credentials is almost always the secret). Focuses the first
 * field at fault so keyboard users land on it.
 */
export function showFormError(form, err, { secretPath } = {}) {
  clearErrors(form);
  const general = form.querySelector('#form-error');
  const unplaced = [];
  let placed = 0;
  const fieldErrors = (err && err.fieldErrors) || [];
  for (const fe of fieldErrors) {
    if (setFieldError(form, fe.field, fe.detail)) placed += 1;
    // Said as the API says it, without its field path: a person does not know `credentials.x`.
    else if (!unplaced.includes(fe.detail)) unplaced.push(fe.detail);
  }
  if (fieldErrors.length === 0 && err && err.type === 'auth0-rejected' && secretPath) {
    if (setFieldError(form, secretPath, err.problem.detail)) placed += 1;
  }
  if (general) {
    const id = err && err.problem && err.problem.requestId;
    // Auth0's refusal is worth naming; any other refusal is just fields to fix.
    const title = err && err.type && err.type.startsWith('auth0') && err.problem.title ? err.problem.title : 'Some fields need attention';
    const lead = placed ? `${title}${id ? ` (request ${id})` : ''}:` : describeError(err);
    const detail = err && err.problem && err.problem.detail;
    const extra = unplaced.filter((line) => line !== detail);
    if (err && err.retryAfter) extra.push(`Try again in ${err.retryAfter} s.`);
    summarize(form, lead, extra);
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
 * so going back pops a stack of the cursors that led here. `el` is the pager below the table;
 * `top` a second one for above it (same state, ids suffixed `-top`). While a page loads the
 * buttons refuse clicks but stay enabled, so the one pressed keeps the keyboard focus; a button
 * that ends up disabled (the last page) hands its focus to the other one. `moved(state)` is told
 * after each step the buttons make (the list puts it in the address).
 */
export function pager(load, { moved } = {}) {
  const state = { cursor: null, stack: [], page: 1, next: null, pages: null, loading: false };
  const navs = [];
  function makeNav(suffix, label) {
    const prev = h('button', { type: 'button', id: `prev-page${suffix}`, class: 'button secondary', text: 'Previous', disabled: true });
    const next = h('button', { type: 'button', id: `next-page${suffix}`, class: 'button secondary', text: 'Next', disabled: true });
    // Only the bottom number is a live region: one announcement per page, not two.
    const number = h('span', { id: `page-number${suffix}`, class: 'page-number', 'aria-live': suffix ? null : 'polite', text: 'Page 1' });
    const el = h('nav', { class: 'pager', 'aria-label': label }, prev, number, next);
    prev.addEventListener('click', () => step(-1));
    next.addEventListener('click', () => step(1));
    const nav = { el, prev, next, number };
    navs.push(nav);
    return nav;
  }
  const bottom = makeNav('', 'Pages');
  const top = makeNav('-top', 'Pages (top)');

  function render() {
    for (const { prev, next, number } of navs) {
      const focused = document.activeElement;
      prev.disabled = state.stack.length === 0;
      next.disabled = !state.next;
      for (const [button, other] of [[prev, next], [next, prev]]) {
        if (button.disabled && focused === button && !other.disabled) other.focus();
        if (state.loading) button.setAttribute('aria-busy', 'true');
        else button.removeAttribute('aria-busy');
      }
      number.textContent = state.pages ? `Page ${state.page} of ${state.pages}` : `Page ${state.page}`;
    }
  }

  function step(direction) {
    if (state.loading) return;
    if (direction < 0) {
      if (!state.stack.length) return;
      state.cursor = state.stack.pop();
      // A shared link knows its cursor but not the pages before it: back means the first.
      state.page = state.cursor === null ? 1 : state.page - 1;
    } else {
      if (!state.next) return;
      state.stack.push(state.cursor);
      state.cursor = state.next;
      state.page += 1;
    }
    if (moved) moved(state);
    load(state.cursor);
  }

  return {
    el: bottom.el,
    top: top.el,
    state,
    /** Record what the last answer said about the following page (and how many pages, when told). */
    loaded(nextCursor, pages = null) {
      state.loading = false;
      state.next = nextCursor || null;
      state.pages = pages;
      render();
    },
    /** Back to the first page (a new search or filter), starting from `cursor` if given. */
    reset(cursor = null, { stack = [], page = 1 } = {}) {
      state.cursor = cursor;
      state.stack = cursor === null ? [] : stack.length ? [...stack] : [null];
      state.page = cursor === null ? 1 : Math.max(2, page);
      state.next = null;
      render();
    },
    /** While a page loads, neither button may queue another. */
    lock() {
      state.loading = true;
      render();
    },
  };
}
