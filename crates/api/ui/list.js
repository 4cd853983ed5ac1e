// One keyset-paged list (connections, rotations, audit log): the page says what to ask for and how
// a row looks; this owns the order of answers, the pager and the messages around the table.

import * as api from './api.js';
import { h, alertBox, describeError, pager } from './dom.js';

/**
 * Loads pages of `path` into `table` (from `dataTable`), one request in flight.
 *
 * - `query(cursor)`: the request's query, read when a load starts; the same object is handed
 *   to `empty`, so a message names the filter that was sent, not what the box says by then.
 * - `key`: the answer's array (`appConnections`, …); `row(item)` builds one `<tr>` of it.
 * - `empty(query)`: what to say when a page has no rows (text, or a node shown as it is); `null`
 *   leaves the message as it is.
 * - `search`: an input that restarts the list a moment after typing stops, shown above it.
 * - `controls`: more filter controls for the toolbar (the page restarts the list on change).
 * - `marks`: `{ answered, rendered, painted }` performance marks for the UI benchmark.
 * - `keepRowsOnError`: for lists that empty the table whenever the question changes, so rows
 *   still on screen always answer the current one and stay readable when a later page fails.
 * - `countKey`, `noun`: the answer's total count (`totalCount`: `null` past the API's cap) and
 *   what the rows are (`connections`), for "251 connections" above the table.
 * - `filters()`: the question's other parameters to keep in the address (`{ search: 'x' }`);
 *   the page reads them back from `view.query` when it is opened again.
 *
 * The page's place lives in the address: `cursor` and `page` in the hash's query (a reload or a
 * shared link opens the same page), the cursors before it in `history.state` (so Previous works
 * after a reload too). Next and Previous add a history entry, so Back steps back a page; a new
 * search or filter replaces the entry.
 *
 * Returns `{ parts, message, restart, resume }`: `parts` are the list's nodes in page order
 * (search box, pager, message, table, pager); `restart(cursor)` loads the first page, or the
 * page after `cursor`; `resume()` opens the page the address names.
 */
export function keysetList(view, { path, key, query, table, row, empty, search, marks, filters, controls = [], countKey, noun = 'rows', keepRowsOnError = false }) {
  const { wrap, tbody } = table;
  const message = h('div', { class: 'list-message' });
  const count = h('p', { class: 'list-count muted', id: `${table.table.id}-count` });
  const pages = pager(load, { moved: (state) => remember(state, true) });

  // Writes the list's place into the address without a hashchange (the page stays as it is).
  function remember(state, push) {
    const raw = location.hash;
    const at = raw.indexOf('?');
    const base = at === -1 ? raw : raw.slice(0, at);
    const params = new URLSearchParams(at === -1 ? '' : raw.slice(at + 1));
    const wanted = { ...(filters ? filters() : {}), cursor: state.cursor, page: state.page > 1 ? state.page : null };
    for (const [name, value] of Object.entries(wanted)) {
      if (value === null || value === undefined || value === '') params.delete(name);
      else params.set(name, String(value));
    }
    const text = params.toString();
    const url = `${location.pathname}${location.search}${base}${text ? `?${text}` : ''}`;
    const entry = { keysetList: { stack: state.stack, page: state.page } };
    if (push) history.pushState(entry, '', url);
    else history.replaceState(entry, '', url);
  }
  // Answers can arrive out of order (a slow page, then a quick search): only the latest may paint.
  let seq = 0;
  let inflight = null;
  let debounce = 0;
  view.onLeave(() => {
    clearTimeout(debounce);
    if (inflight) inflight.abort();
  });

  function render(items) {
    // Built detached and inserted once: one layout for 100 rows instead of 100.
    const rows = document.createDocumentFragment();
    for (const item of items) rows.append(row(item));
    tbody.replaceChildren(rows);
  }

  async function load(cursor) {
    seq += 1;
    const mine = seq;
    if (inflight) inflight.abort();
    const controller = new AbortController();
    inflight = controller;
    pages.lock();
    // Marks from an earlier load would make this one look instant.
    if (marks) for (const name of Object.values(marks)) performance.clearMarks(name);
    const asked = query(cursor);
    try {
      const { data } = await api.get(path, { query: asked, signal: controller.signal, mark: marks && marks.answered });
      if (mine !== seq || !view.alive()) return;
      const items = data[key];
      render(items);
      if (marks) {
        performance.mark(marks.rendered);
        requestAnimationFrame(() => performance.mark(marks.painted));
      }
      if (items.length) message.replaceChildren();
      else {
        const note = empty(asked);
        // A node is a page's own empty state (built whole); text becomes an info box.
        if (note) message.replaceChildren(note instanceof Node ? note : alertBox(note, 'info'));
      }
      let total = null;
      if (countKey && countKey in data) {
        total = Number.isInteger(data[countKey]) ? data[countKey] : null;
        count.textContent = total === null ? `More than 10,000 ${noun}` : `${total} ${total === 1 ? noun.replace(/s$/, '') : noun}`;
      }
      pages.loaded(data.nextCursor, total === null ? null : Math.max(1, Math.ceil(total / (asked.limit || 100))));
    } catch (err) {
      if (api.isAbort(err) || err instanceof api.SignedOut || mine !== seq) return;
      if (!keepRowsOnError) tbody.replaceChildren();
      message.replaceChildren(alertBox(describeError(err)));
      pages.loaded(null);
    }
  }

  function restart(cursor = null) {
    clearTimeout(debounce);
    pages.reset(cursor);
    remember(pages.state, false);
    return load(cursor);
  }

  function resume() {
    clearTimeout(debounce);
    const cursor = view.query.get('cursor') || null;
    const saved = (history.state && history.state.keysetList) || {};
    pages.reset(cursor, { stack: Array.isArray(saved.stack) ? saved.stack : [], page: Number(view.query.get('page')) || saved.page || 2 });
    return load(cursor);
  }

  let toolbar = null;
  if (search) {
    search.addEventListener('input', () => {
      clearTimeout(debounce);
      debounce = setTimeout(() => restart(), 250);
    });
    toolbar = h('div', { class: 'toolbar' }, h('label', { for: search.id, text: 'Search by name' }), search, ...controls);
  }

  return { parts: [toolbar, h('div', { class: 'list-head' }, count, pages.top), message, wrap, pages.el].filter(Boolean), message, restart, resume };
}
