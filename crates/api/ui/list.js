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
 * - `empty(query)`: what to say when a page has no rows; `null` leaves the message as it is.
 * - `search`: an input that restarts the list a moment after typing stops, shown above it.
 * - `marks`: `{ answered, rendered, painted }` performance marks for the UI benchmark.
 * - `keepRowsOnError`: for lists that empty the table whenever the question changes, so rows
 *   still on screen always answer the current one and stay readable when a later page fails.
 *
 * Returns `{ parts, message, restart }`: `parts` are the list's nodes in page order (search box,
 * message, table, pager); `restart(cursor)` loads the first page, or the page after `cursor`.
 */
export function keysetList(view, { path, key, query, table, row, empty, search, marks, keepRowsOnError = false }) {
  const { wrap, tbody } = table;
  const message = h('div', { class: 'list-message' });
  const pages = pager(load);
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
        if (note) message.replaceChildren(alertBox(note, 'info'));
      }
      pages.loaded(data.nextCursor);
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
    return load(cursor);
  }

  let toolbar = null;
  if (search) {
    search.addEventListener('input', () => {
      clearTimeout(debounce);
      debounce = setTimeout(() => restart(), 250);
    });
    toolbar = h('div', { class: 'toolbar' }, h('label', { for: search.id, text: 'Search by name' }), search);
  }

  return { parts: [toolbar, message, wrap, pages.el].filter(Boolean), message, restart };
}
