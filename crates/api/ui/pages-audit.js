// The project's audit log (project admins), and the row builder the connection page reuses for a
// connection's own history.

import * as api from './api.js';
import { link } from './router.js';
import { h, time, code, badge, dataTable, cell, alertBox } from './dom.js';
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
  'membership.create',
  'membership.update',
  'membership.delete',
  'project.create',
  'auth.login',
  'auth.token.revoke',
];

const OUTCOME_TONE = { success: 'ok', failure: 'danger', throttled: 'warn' };
const COLUMNS = ['Time', 'Actor', 'Action', 'Resource', 'Outcome', 'Source address', 'Details'];

function resourceCell(resource, projectId) {
  if (!resource.id) return resource.type;
  const label = `${resource.type} ${resource.id}`;
  let href = null;
  if (projectId && resource.type === 'app_connection') href = link.connection(projectId, resource.id);
  else if (projectId && resource.type === 'secret_rotation') href = link.rotation(projectId, resource.id);
  const wrap = h('span', { class: 'resource' }, h('span', { class: 'muted', text: `${resource.type} ` }));
  wrap.append(href ? h('a', { href, class: 'mono', text: resource.id, title: label }) : code(resource.id));
  return wrap;
}

// Without a name: the type and a short id; no id means Keyhold itself (the rotation worker) or a
// login attempt with an account that does not exist.
function actorLabel(actor) {
  if (actor.id) return `${actor.type} ${actor.id.slice(0, 8)}…`;
  return actor.type === 'system' ? 'Keyhold (system)' : `${actor.type} (unknown account)`;
}

/** The row of event `e` (`tr[data-audit-id]`); `names` maps identity ids to names when known. */
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
  cell(tr, resourceCell(e.resource, e.projectId || projectId));
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

export async function renderAudit(view) {
  const { project } = view;
  if (!session.isAdmin(project)) {
    view.main.replaceChildren(
      h('h1', { tabindex: '-1', text: 'Audit log' }),
      alertBox(`Only project admins can read the audit log; your role here is ${project.role}.`, 'info'),
    );
    return;
  }

  const action = h('input', {
    type: 'text', id: 'audit-action', name: 'action', list: 'audit-actions', autocomplete: 'off',
    spellcheck: 'false', maxlength: '64', placeholder: 'e.g. app_connection.update', value: view.query.get('action') || '',
  });
  const datalist = h('datalist', { id: 'audit-actions' }, KNOWN_ACTIONS.map((a) => h('option', { value: a })));
  const apply = h('button', { type: 'submit', id: 'audit-apply', class: 'button secondary', text: 'Apply' });
  const clear = h('button', { type: 'button', class: 'button secondary', text: 'Clear' });
  const filter = h(
    'form',
    { class: 'toolbar', id: 'audit-filter', role: 'search' },
    h('label', { for: 'audit-action', text: 'Action' }),
    action,
    datalist,
    apply,
    clear,
  );
  const table = auditTable('audit-table', `Audit events of ${project.name}, newest first`);
  let names = new Map();
  const list = keysetList(view, {
    path: '/api/v1/audit-logs',
    key: 'auditLogs',
    query: (cursor) => ({ projectId: project.id, action: action.value.trim(), limit: 100, cursor }),
    table,
    row: (e) => auditRow(e, { projectId: project.id, names }),
    empty: ({ action: wanted }) => (wanted ? `No “${wanted}” events.` : 'No events yet.'),
    keepRowsOnError: true,
  });

  function restart() {
    // Drop the old rows at once: nothing from the previous filter may be mistaken for a result.
    table.tbody.replaceChildren();
    list.message.replaceChildren(h('p', { class: 'loading', text: 'Loading…' }));
    list.restart();
  }
  filter.addEventListener('submit', (event) => {
    event.preventDefault();
    restart();
  });
  clear.addEventListener('click', () => {
    action.value = '';
    restart();
    action.focus();
  });

  view.main.replaceChildren(h('h1', { tabindex: '-1', text: 'Audit log' }), filter, ...list.parts);

  // Names make the actor column readable; without them the ids still say who it was.
  const members = api
    .get(`/api/v1/projects/${encodeURIComponent(project.id)}/memberships`, { signal: view.signal })
    .then(({ data }) => new Map(data.memberships.map((m) => [m.identityId, m.name])))
    .catch(() => new Map());
  names = await members;
  if (!view.alive()) return;
  await list.restart();
}
