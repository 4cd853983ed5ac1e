// A project's members and settings. Every member sees who else is in the project and with which
// role; project admins (the API refuses anyone else) also rename or delete the project, add
// members (machine identities and users) and change or remove them. The API keeps the last admin.

import * as api from './api.js';
import { link } from './router.js';
import {
  h, time, badge, dataTable, cell, alertBox, describeError, announce,
  field, formError, clearErrors, setFieldError, showFormError, busy,
} from './dom.js';
import * as session from './session.js';

const enc = encodeURIComponent;
export const ROLES = [
  ['viewer', 'Viewer: reads connections, rotations and secrets'],
  ['member', 'Member: also creates and changes connections, rotations and secrets'],
  ['admin', 'Admin: also manages members, webhooks and reads the audit log'],
];

function pageHeading(title, ...actions) {
  return h('div', { class: 'page-heading' }, h('h1', { tabindex: '-1', text: title }), actions.length ? h('div', { class: 'actions' }, actions) : null);
}

function roleSelect(id, chosen, label) {
  return h(
    'select',
    { id, 'aria-label': label || null },
    ROLES.map(([value, text]) => h('option', { value, selected: value === chosen, text: label ? value : text })),
  );
}

/** "dev, prod at /orders": how far a narrowed membership reaches. */
function reach(m) {
  if (!m.environments && !m.secretPath) return h('span', { class: 'muted', text: 'whole project' });
  const envs = m.environments ? m.environments.join(', ') : 'every environment';
  return m.secretPath ? `${envs} at ${m.secretPath}` : envs;
}

export async function renderMembers(view) {
  const { project } = view;
  const admin = session.isAdmin(project);
  const base = `/api/v1/projects/${enc(project.id)}`;
  const [{ data }, instanceAdmin] = await Promise.all([
    api.get(`${base}/memberships`, { signal: view.signal }),
    admin ? session.isInstanceAdmin(view.signal) : Promise.resolve(false),
  ]);
  if (!view.alive()) return;
  let members = data.memberships;

  const notice = h('div', { id: 'members-notice' });
  const say = (message, tone = 'success') => notice.replaceChildren(alertBox(message, tone));
  const failed = (err, doing) => {
    if (api.isAbort(err) || err instanceof api.SignedOut) return;
    say(`${doing}: ${describeError(err)}`, 'error');
  };

  const table = dataTable({
    id: 'members-table',
    caption: `Members of ${project.name}`,
    columns: admin ? ['Name', 'Type', 'Role', 'Reaches', 'Added', ''] : ['Name', 'Type', 'Role', 'Reaches', 'Added'],
  });

  function row(m) {
    const tr = document.createElement('tr');
    tr.dataset.identityId = m.identityId;
    tr.append(h('th', { scope: 'row', text: m.name }));
    cell(tr, m.type);
    if (admin) {
      const pick = roleSelect(`role-${m.identityId}`, m.role, `Role of ${m.name}`);
      pick.classList.add('member-role');
      const save = h('button', { type: 'button', class: 'button secondary small save-role', text: 'Change role', 'aria-label': `Change role of ${m.name}` });
      save.addEventListener('click', () =>
        busy(save, async () => {
          try {
            const { data: changed } = await api.patch(`${base}/memberships/${enc(m.identityId)}`, { role: pick.value }, { signal: view.signal });
            if (!view.alive()) return;
            replace(changed.membership);
            say(`${m.name} is now ${changed.membership.role}.`);
            announce(`${m.name} is now ${changed.membership.role}.`);
            await recheck();
          } catch (err) {
            pick.value = m.role;
            failed(err, `Could not change the role of ${m.name}`);
          }
        }, 'Saving…'),
      );
      cell(tr, h('span', { class: 'inline-controls' }, pick, save));
    } else {
      cell(tr, badge(m.role, 'neutral'));
    }
    cell(tr, reach(m));
    cell(tr, time(m.createdAt));
    if (admin) {
      const remove = h('button', { type: 'button', class: 'button danger small remove-member', text: 'Remove', 'aria-label': `Remove ${m.name} from the project` });
      remove.addEventListener('click', async () => {
        if (!window.confirm(`Remove ${m.name} from ${project.name}? Its tokens stop reaching this project at once.`)) return;
        await busy(remove, async () => {
          try {
            await api.del(`${base}/memberships/${enc(m.identityId)}`, { signal: view.signal });
            if (!view.alive()) return;
            members = members.filter((x) => x.identityId !== m.identityId);
            paint();
            say(`${m.name} was removed from the project.`);
            announce(`${m.name} removed.`);
            await recheck();
          } catch (err) {
            failed(err, `Could not remove ${m.name}`);
          }
        }, 'Removing…');
      });
      cell(tr, remove);
    }
    return tr;
  }

  // The changed member may be the caller: ask for the caller's role again, and draw the page
  // anew (or leave it) when it is no longer what the page was drawn for.
  async function recheck() {
    try {
      const { data: mine } = await api.get(base, { signal: view.signal });
      if (!view.alive() || mine.project.role === project.role) return;
      session.updateProject(project.id, mine.project);
      session.flash(`Your role in ${project.name} is now ${mine.project.role}.`);
      window.dispatchEvent(new HashChangeEvent('hashchange'));
    } catch (err) {
      if (!(err instanceof api.ApiError) || err.status !== 404 || !view.alive()) return;
      session.updateProject(project.id, null);
      session.flash(`You are no longer a member of ${project.name}.`);
      location.assign(link.projects());
    }
  }

  function paint() {
    const rows = document.createDocumentFragment();
    for (const m of members) rows.append(row(m));
    table.tbody.replaceChildren(rows);
  }

  function replace(m) {
    members = members.map((x) => (x.identityId === m.identityId ? m : x));
    if (!members.some((x) => x.identityId === m.identityId)) members.push(m);
    paint();
  }
  paint();

  const parts = [
    h('p', { class: 'breadcrumb' }, h('a', { href: link.projects(), text: 'Projects' }), ' / '),
    pageHeading(`Members of ${project.name}`),
    notice,
    admin ? null : alertBox(`Only project admins change members or the project; your role here is ${project.role}.`, 'info'),
    table.wrap,
  ];
  if (admin) {
    parts.push(await addMemberForm(view, base, instanceAdmin, () => members, replace, say));
    parts.push(settingsForm(view, base, say));
  }
  if (!view.alive()) return;
  view.main.replaceChildren(...parts.filter(Boolean));
}

/**
 * Adding a member. Instance admins pick from the organisation's identities; other project admins
 * cannot list identities (the API keeps that to instance admins) and paste an identity's id.
 */
async function addMemberForm(view, base, instanceAdmin, current, added, say) {
  let input;
  if (instanceAdmin) {
    const identities = await api.getAll('/api/v1/identities', 'identities', { signal: view.signal });
    input = h(
      'select',
      { id: 'member-identity', required: true },
      h('option', { value: '', text: 'Choose an identity…' }),
      identities
        .filter((i) => !i.disabled)
        .map((i) => h('option', { value: i.id, text: `${i.name} (${i.type === 'user' ? i.email : 'machine'})` })),
    );
  } else {
    input = h('input', { type: 'text', id: 'member-identity', required: true, autocomplete: 'off', spellcheck: 'false', maxlength: '36' });
  }
  const role = roleSelect('member-role', 'viewer');
  const submit = h('button', { type: 'submit', id: 'member-submit', class: 'button', text: 'Add member' });
  const form = h(
    'form',
    { id: 'member-form', class: 'form card', novalidate: true, 'aria-labelledby': 'member-form-heading' },
    h('h2', { id: 'member-form-heading', text: 'Add a member' }),
    formError(),
    field({
      label: 'Identity',
      input,
      errorFor: 'identityId',
      hint: instanceAdmin
        ? 'A machine identity or a user of this Keyhold. New machine identities are made on the Identities page.'
        : 'The identity’s id (an instance admin can tell you, or finds it on the Identities page).',
    }),
    field({ label: 'Role', input: role, errorFor: 'role' }),
    h('div', { class: 'actions' }, submit),
  );
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    clearErrors(form);
    const identityId = input.value.trim();
    if (!identityId) {
      setFieldError(form, 'identityId', 'Choose the identity to add.');
      input.focus();
      return;
    }
    if (current().some((m) => m.identityId === identityId)) {
      setFieldError(form, 'identityId', 'Already a member: change its role in the table instead.');
      input.focus();
      return;
    }
    await busy(submit, async () => {
      try {
        const { data } = await api.post(`${base}/memberships`, { identityId, role: role.value }, { signal: view.signal });
        if (!view.alive()) return;
        added(data.membership);
        input.value = '';
        say(`${data.membership.name} was added as ${data.membership.role}.`);
        announce(`${data.membership.name} added.`);
      } catch (err) {
        if (api.isAbort(err) || err instanceof api.SignedOut) return;
        showFormError(form, err);
      }
    }, 'Adding…');
  });
  return form;
}

/** Renaming and deleting the project. */
function settingsForm(view, base, say) {
  const { project } = view;
  const name = h('input', { type: 'text', id: 'project-name', required: true, maxlength: '64', autocomplete: 'off', value: project.name });
  const description = h('textarea', { id: 'project-description', maxlength: '256', rows: '2', value: project.description || '' });
  const save = h('button', { type: 'submit', id: 'project-save', class: 'button', text: 'Save' });
  const remove = h('button', { type: 'button', id: 'delete-project', class: 'button danger', text: 'Delete project' });
  const form = h(
    'form',
    { id: 'project-form', class: 'form card', novalidate: true, 'aria-labelledby': 'project-form-heading' },
    h('h2', { id: 'project-form-heading', text: 'Project' }),
    formError(),
    field({ label: 'Name', input: name, errorFor: 'name' }),
    field({ label: 'Description', input: description, errorFor: 'description', optional: true }),
    h('div', { class: 'actions' }, save),
    h('h3', { text: 'Delete' }),
    h('p', { class: 'hint', id: 'delete-project-hint', text: 'Only an empty project can be deleted: delete its connections and secrets first. Its audit events stay.' }),
    h('div', { class: 'actions' }, remove),
  );
  remove.setAttribute('aria-describedby', 'delete-project-hint');
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    clearErrors(form);
    if (!name.value.trim()) {
      setFieldError(form, 'name', 'Enter a name.');
      name.focus();
      return;
    }
    await busy(save, async () => {
      try {
        const body = { name: name.value.trim(), description: description.value.trim() || null };
        const { data } = await api.patch(base, body, { signal: view.signal });
        if (!view.alive()) return;
        session.updateProject(project.id, data.project);
        session.flash(`Project saved as ${data.project.name}.`);
        // Drawn again, so the header and title carry the new name.
        window.dispatchEvent(new HashChangeEvent('hashchange'));
      } catch (err) {
        if (api.isAbort(err) || err instanceof api.SignedOut) return;
        showFormError(form, err);
      }
    }, 'Saving…');
  });
  remove.addEventListener('click', async () => {
    if (!window.confirm(`Delete the project ${project.name}? Its members, environments and webhooks go with it.`)) return;
    await busy(remove, async () => {
      try {
        await api.del(base, { signal: view.signal });
        if (!view.alive()) return;
        session.updateProject(project.id, null);
        session.flash(`Project ${project.name} deleted.`);
        location.assign(link.projects());
      } catch (err) {
        if (api.isAbort(err) || err instanceof api.SignedOut) return;
        say(`Could not delete the project: ${describeError(err)}`, 'error');
      }
    }, 'Deleting…');
  });
  return form;
}
