// The project's audit log (project admins), and the row builder the connection page reuses for a
// connection's own history.

import * as api from './api.js';
import { link } from './router.js';
import { h, time, code, badge, dataTable, cell, alertBox, describeError, busy } from './dom.js';
import { keysetList } from './list.js';
import * as session from './session.js';

// The actions the API records (see the `caller.event(...)` sites in the API and worker); the filter
// is an exact match, so offering them saves guessing.
export const KNOWN_ACTIONS = [
  'app_connection.create',
  'app_connection.update',
  'app_connection.delete',
  'app_connection.validate',
  'app_connection.clients.list',
  'app_connection.user.get',
  'app_connection.user.create',
  'app_connection.user.update',
  'app_connection.token_vault.refresh_token_exchange',
  'app_connection.token_vault.access_token_exchange',
  'secret_rotation.create',
  'secret_rotation.update',
  'secret_rotation.delete',
  'secret_rotation.rotate',
  'secret_rotation.reveal',
  'secret.create',
  'secret.update',
  'secret.delete',
  'secret.list',
  'secret.read',
  'environment.create',
  'environment.update',
  'environment.delete',
  'folder.create',
  'folder.update',
  'folder.delete',
  'membership.create',
  'membership.update',
  'membership.delete',
  'project.create',
  'project.update',
  'project.delete',
  'identity.create',
  'identity.update',
  'identity.delete',
  'identity.client_secret.rotate',
  'webhook.create',
  'webhook.update',
  'webhook.delete',
  'webhook.rotate_secret',
  'webhook.test',
  'webhook.redeliver',
  'webhook.disable',
  'audit_log_stream.create',
  'audit_log_stream.update',
  'audit_log_stream.delete',
  'auth.login',
  'auth.token.revoke',
  'instance.bootstrap',
];

// The kinds of resource events name (the `resourceType` filter, an exact match).
export const RESOURCE_TYPES = [
  'app_connection',
  'secret_rotation',
  'secret',
  'environment',
  'folder',
  'membership',
  'project',
  'identity',
  'webhook',
  'audit_log_stream',
  'access_token',
];

const OUTCOME_TONE = { success: 'ok', failure: 'danger', throttled: 'warn' };
const COLUMNS = ['Time', 'Actor', 'Action', 'Resource', 'Outcome', 'Source address', 'Details'];
/** Bounds the export: 20 pages of 500 events. */
const EXPORT_PAGES = 20;

function resourceCell(resource, projectId, names) {
  if (!resource.id) return resource.type;
  const label = `${resource.type} ${resource.id}`;
  const name = names.get(resource.id);
  let href = null;
  if (projectId && resource.type === 'app_connection') href = link.connection(projectId, resource.id);
  else if (projectId && resource.type === 'secret_rotation') href = link.rotation(projectId, resource.id);
  else if (projectId && resource.type === 'webhook') href = link.webhook(projectId, resource.id);
  else if (resource.type === 'project' && name) href = link.members(resource.id);
  const wrap = h('span', { class: 'resource' }, h('span', { class: 'muted', text: `${resource.type} ` }));
  const text = name || resource.id;
  const cls = name ? null : 'mono';
  wrap.append(href ? h('a', { href, class: cls, text, title: label }) : h('span', { class: cls, text, title: label }));
  return wrap;
}

// Without a name: the type and a short id; no id means Keyhold itself (the rotation worker) or a
// login attempt with an account that does not exist.
function actorLabel(actor) {
  if (actor.id) return `${actor.type} ${actor.id.slice(0, 8)}…`;
  return actor.type === 'system' ? 'Keyhold (system)' : `${actor.type} (unknown account)`;
}

/** The row of event `e` (`tr[data-audit-id]`); `names` maps identity and resource ids to names. */
function auditRow(e, { projectId, names = new Map() } = {}) {
  const tr = document.createElement('tr');
  tr.dataset.auditId = e.id;
  tr.append(h('th', { scope: 'row', class: 'nowrap' }, time(e.createdAt)));
  const actorName = e.actor.id ? names.get(e.actor.id) : null;
  cell(
    tr,
    h(
      'span',
      { title: e.actor.id ? `${e.actor.type} ${e.actor.id}` : e.actor.type },
      actorName || actorLabel(e.actor),
    ),
  );
  cell(tr, code(e.action));
  cell(tr, resourceCell(e.resource, e.projectId || projectId, names));
  cell(tr, badge(e.outcome, OUTCOME_TONE[e.outcome] || 'neutral'));
  cell(tr, e.sourceIp, 'mono');
  const facts = { requestId: e.requestId, ...(e.metadata || {}) };
  cell(tr, h('details', null, h('summary', { text: 'Details' }), h('pre', { text: JSON.stringify(facts, null, 2) })));
  return tr;
}

/** Rows for `events`, as `auditRow` builds them. */
export function auditRows(events, options) {
  const rows = document.createDocumentFragment();
  for (const e of events) rows.append(auditRow(e, options));
  return rows;
}

export function auditTable(id, caption) {
  return dataTable({ id, caption, columns: COLUMNS });
}

/** One CSV field (RFC 4180): quoted when it must be; a leading = + - @ is defused for spreadsheets. */
export function csvField(value) {
  let text = value === null || value === undefined ? '' : String(value);
  if (/^[=+\-@\t\r]/.test(text)) text = `'${text}`;
  return /[",\r\n]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
}

const CSV_COLUMNS = [
  'time', 'actorType', 'actorId', 'actorName', 'action', 'resourceType', 'resourceId', 'resourceName',
  'outcome', 'projectId', 'sourceIp', 'requestId', 'metadata',
];

/** The events as CSV, one line each, names resolved where known. */
export function toCsv(events, names) {
  const lines = [CSV_COLUMNS.join(',')];
  for (const e of events) {
    const values = [
      e.createdAt, e.actor.type, e.actor.id, e.actor.id ? names.get(e.actor.id) : '', e.action,
      e.resource.type, e.resource.id, e.resource.id ? names.get(e.resource.id) : '', e.outcome,
      e.projectId, e.sourceIp, e.requestId, JSON.stringify(e.metadata || {}),
    ];
    lines.push(values.map(csvField).join(','));
  }
  return `${lines.join('\r\n')}\r\n`;
}

function download(text, type, filename) {
  const url = URL.createObjectURL(new Blob([text], { type }));
  const a = h('a', { href: url, download: filename, class: 'sr-only' });
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 1000);
}

/** Names for ids: members, identities, and the project's connections, rotations and webhooks. */
async function loadNames(view, project, instanceAdmin) {
  const names = new Map();
  const quiet = (promise, add) => promise.then(add).catch(() => {});
  const { signal } = view;
  const jobs = [];
  if (instanceAdmin) {
    jobs.push(quiet(api.getAll('/api/v1/identities', 'identities', { signal }), (all) => all.forEach((i) => names.set(i.id, i.name))));
    jobs.push(quiet(api.getAll('/api/v1/projects', 'projects', { signal }), (all) => all.forEach((p) => names.set(p.id, p.name))));
  }
  if (project) {
    const query = { projectId: project.id };
    names.set(project.id, project.name);
    jobs.push(quiet(api.get(`/api/v1/projects/${encodeURIComponent(project.id)}/memberships`, { signal }), ({ data }) => data.memberships.forEach((m) => names.set(m.identityId, m.name))));
    jobs.push(quiet(api.getAll('/api/v1/app-connections/auth0', 'appConnections', { query, signal }), (all) => all.forEach((c) => names.set(c.id, c.name))));
    jobs.push(quiet(api.getAll('/api/v2/secret-rotations/auth0-client-secret', 'secretRotations', { query, signal }), (all) => all.forEach((r) => names.set(r.id, r.name))));
    jobs.push(quiet(api.get('/api/v1/webhooks', { query, signal }), ({ data }) => data.webhooks.forEach((w) => names.set(w.id, w.url))));
  }
  await Promise.all(jobs);
  return names;
}

/** `2026-12-06` (a date input's value) as the start of that day in UTC; `days` later if given. */
function utcDay(value, days = 0) {
  if (!value) return '';
  const date = new Date(`${value}T00:00:00Z`);
  if (Number.isNaN(date.getTime())) return '';
  date.setUTCDate(date.getUTCDate() + days);
  return date.toISOString();
}

/** A day from the address (`2026-12-07`), or '' for anything a date input would not hold. */
function isoDay(raw) {
  return raw && /^\d{4}-\d{2}-\d{2}$/.test(raw) && utcDay(raw).startsWith(raw) ? raw : '';
}

function select(id, all, options, chosen) {
  return h(
    'select',
    { id, name: id },
    h('option', { value: '', text: all }),
    options.map((o) => h('option', { value: o, text: o, selected: o === chosen })),
  );
}

/** The audit log of `view.project` (its admins), or of the whole instance (instance admins). */
export async function renderAudit(view) {
  const { project } = view;
  const instanceAdmin = await session.isInstanceAdmin(view.signal).catch(() => false);
  if (!view.alive()) return;
  if (project ? !session.isAdmin(project) : !instanceAdmin) {
    view.main.replaceChildren(
      h('h1', { tabindex: '-1', text: 'Audit log' }),
      alertBox(
        project
          ? `Only project admins can read the audit log; your role here is ${project.role}.`
          : 'Only instance admins read the whole instance’s audit log; project admins read their project’s.',
        'info',
      ),
    );
    return;
  }

  const action = select('audit-action', 'Any action', KNOWN_ACTIONS, view.query.get('action') || '');
  const type = select('audit-resource-type', 'Any resource', RESOURCE_TYPES, view.query.get('resourceType') || '');
  const from = h('input', { type: 'date', id: 'audit-from', name: 'from', 'aria-describedby': 'audit-dates-hint', value: isoDay(view.query.get('from')) });
  const to = h('input', { type: 'date', id: 'audit-to', name: 'to', 'aria-describedby': 'audit-dates-hint', value: isoDay(view.query.get('to')) });
  const apply = h('button', { type: 'submit', id: 'audit-apply', class: 'button secondary', text: 'Apply' });
  const clear = h('button', { type: 'button', id: 'audit-clear', class: 'button secondary', text: 'Clear' });
  const exportCsv = h('button', { type: 'button', id: 'audit-export-csv', class: 'button secondary', text: 'Export CSV' });
  const exportJson = h('button', { type: 'button', id: 'audit-export-json', class: 'button secondary', text: 'Export JSON' });
  const exportNote = h('p', { id: 'audit-export-status', class: 'hint', role: 'status' });
  const pair = (id, text, input) => h('span', { class: 'filter' }, h('label', { for: id, text }), input);
  const filter = h(
    'form',
    { class: 'toolbar audit-filter', id: 'audit-filter', role: 'search', 'aria-label': 'Filter the audit log' },
    pair('audit-action', 'Action', action),
    pair('audit-resource-type', 'Resource', type),
    pair('audit-from', 'From', from),
    pair('audit-to', 'To', to),
    apply,
    clear,
    h('p', { class: 'hint', id: 'audit-dates-hint', text: 'Dates are whole days in UTC; both ends included.' }),
  );

  /** The filters as sent to the API (also what the export asks for). */
  function wanted() {
    const query = {
      action: action.value,
      resourceType: type.value,
      since: utcDay(from.value),
      until: utcDay(to.value, 1),
    };
    if (project) query.projectId = project.id;
    return query;
  }

  const table = auditTable('audit-table', project ? `Audit events of ${project.name}, newest first` : 'Audit events of the whole instance, newest first');
  let names = new Map();
  const list = keysetList(view, {
    path: '/api/v1/audit-logs',
    key: 'auditLogs',
    query: (cursor) => ({ ...wanted(), limit: 100, cursor }),
    table,
    row: (e) => auditRow(e, { projectId: project && project.id, names }),
    empty: (asked) => (asked.action || asked.resourceType || asked.since || asked.until ? 'No events match these filters.' : 'No events yet.'),
    keepRowsOnError: true,
    // In the address, so a reload, Back or a shared link opens the same filtered page.
    filters: () => ({ action: action.value, resourceType: type.value, from: from.value, to: to.value }),
  });

  function restart() {
    // Drop the old rows at once: nothing from the previous filter may be mistaken for a result.
    table.tbody.replaceChildren();
    list.message.replaceChildren(h('p', { class: 'loading', text: 'Loading…' }));
    list.restart();
  }
  filter.addEventListener('submit', (event) => {
    event.preventDefault();
    if (from.value && to.value && to.value < from.value) {
      list.message.replaceChildren(alertBox('The “To” date is before the “From” date.'));
      to.focus();
      return;
    }
    restart();
  });
  clear.addEventListener('click', () => {
    action.value = '';
    type.value = '';
    from.value = '';
    to.value = '';
    restart();
    action.focus();
  });

  // Every event the filters match (up to EXPORT_PAGES pages), not only the page on screen.
  async function exportAs(button, format) {
    await busy(button, async () => {
      exportNote.textContent = '';
      try {
        const query = wanted();
        const events = await api.getAll('/api/v1/audit-logs', 'auditLogs', { query, signal: view.signal, maxPages: EXPORT_PAGES });
        if (!view.alive()) return;
        const stamp = new Date().toISOString().replace(/[:.]/g, '-');
        const base = `keyhold-audit-${project ? project.name.replace(/[^\w.-]+/g, '_') : 'instance'}-${stamp}`;
        if (format === 'csv') download(toCsv(events, names), 'text/csv;charset=utf-8', `${base}.csv`);
        else download(`${JSON.stringify({ filters: query, auditLogs: events }, null, 2)}\n`, 'application/json', `${base}.json`);
        const capped = events.length >= EXPORT_PAGES * 500 ? ` (the first ${events.length}; narrow the filters for the rest)` : '';
        exportNote.textContent = `Exported ${events.length} events${capped}.`;
      } catch (err) {
        if (api.isAbort(err) || err instanceof api.SignedOut) return;
        exportNote.textContent = `Could not export: ${describeError(err)}`;
      }
    }, 'Exporting…');
  }
  exportCsv.addEventListener('click', () => exportAs(exportCsv, 'csv'));
  exportJson.addEventListener('click', () => exportAs(exportJson, 'json'));

  // Streams send this same log to a SIEM as it is recorded.
  const streams = h('a', { id: 'audit-streams', class: 'button secondary', href: project ? link.auditStreams(project.id) : link.auditStreamsAll(), text: 'Streams' });
  const scope = project
    ? instanceAdmin
      ? h('p', { class: 'hint' }, 'This project only. ', h('a', { id: 'audit-instance', href: link.auditAll(), text: 'The whole instance’s log' }), ' (logins included).')
      : null
    : h('p', { class: 'hint', text: 'Every project of this Keyhold, with sign-ins (failed ones too) and identity changes.' });
  const parts = [
    h('div', { class: 'page-heading' }, h('h1', { tabindex: '-1', text: project ? 'Audit log' : 'Audit log: whole instance' }), h('div', { class: 'actions' }, streams, exportCsv, exportJson)),
    scope,
    filter,
    exportNote,
    ...list.parts,
  ];
  view.main.replaceChildren(...parts.filter(Boolean));

  // Names make the actor and resource columns readable; without them the ids still say who and what.
  names = await loadNames(view, project, instanceAdmin);
  if (!view.alive()) return;
  await list.resume();
}
