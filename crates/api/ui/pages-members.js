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
function reachText(m) {
  if (!m.environments && !m.secretPath) return 'the whole project';
  const envs = m.environments ? m.environments.join(', ') : 'every environment';
  return m.secretPath ? `${envs} at ${m.secretPath}` : envs;
}

function reach(m) {
  if (!m.environments && !m.secretPath) return h('span', { class: 'muted', text: 'whole project' });
  return h('span', { class: 'reach', text: reachText(m) });
}

/**
 * What a member or viewer reaches: every environment or some (checkboxes of the project's), and
 * the whole environment or one folder with everything below it. `prefix` keeps ids apart when
 * two editors are on the page. `values()` gives the API's `{ environments, secretPath }` (null
 * for "all"), or null after marking what is missing.
 */
function narrowingFields(prefix, environments, current) {
  const chosen = new Set((current && current.environments) || []);
  const every = h('input', {
    type: 'checkbox', id: `${prefix}-all-envs`, checked: !(current && current.environments), 'aria-describedby': `${prefix}-envs-error`,
  });
  const boxes = environments.map((e) =>
    h('input', { type: 'checkbox', id: `${prefix}-env-${e.slug}`, value: e.slug, class: 'narrow-env', checked: chosen.has(e.slug) }),
  );
  const sync = () => {
    for (const box of boxes) box.disabled = every.checked;
  };
  every.addEventListener('change', sync);
  sync();
  const path = h('input', {
    type: 'text', id: `${prefix}-path`, autocomplete: 'off', spellcheck: 'false', maxlength: '4113', placeholder: '/',
    value: (current && current.secretPath) || '',
  });
  const el = h(
    'div',
    { class: 'narrowing' },
    h(
      'fieldset',
      { class: 'narrow-envs' },
      h('legend', { text: 'Environments' }),
      h('div', { class: 'field checkbox' }, every, h('label', { for: every.id, text: 'Every environment (also ones added later)' })),
      environments.map((e, i) =>
        h('div', { class: 'field checkbox' }, boxes[i], h('label', { for: boxes[i].id, text: `${e.name} (${e.slug})` })),
      ),
      h('p', { class: 'field-error', id: `${prefix}-envs-error`, dataset: { errorFor: 'environments' } }),
    ),
    field({
      label: 'Folder',
      input: path,
      errorFor: 'secretPath',
      optional: true,
      hint: 'Only this folder and everything below it, e.g. /orders. Empty or / reaches whole environments.',
    }),
  );
  function values(form) {
    let environmentsOut = null;
    if (!every.checked) {
      environmentsOut = boxes.filter((b) => b.checked).map((b) => b.value);
      if (!environmentsOut.length) {
        setFieldError(form, 'environments', 'Choose at least one environment, or every environment.');
        every.focus();
        return null;
      }
    }
    const folder = path.value.trim();
    return { environments: environmentsOut, secretPath: folder && folder !== '/' ? folder : null };
  }
  return { el, values };
}

export async function renderMembers(view) {
  const { project } = view;
  const admin = session.isAdmin(project);
  const base = `/api/v1/projects/${enc(project.id)}`;
  const [{ data }, instanceAdmin, environments] = await Promise.all([
    api.get(`${base}/memberships`, { signal: view.signal }),
    admin ? session.isInstanceAdmin(view.signal) : Promise.resolve(false),
    admin
      ? api.get(`/api/v1/workspace/${enc(project.id)}/environments`, { signal: view.signal }).then(({ data: e }) => e.environments || [])
      : Promise.resolve([]),
  ]);
  if (!view.alive()) return;
  let members = data.memberships;
  const editorSlot = h('div', { id: 'access-editor' });

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
    const reaches = cell(tr, reach(m));
    if (admin && m.role !== 'admin') {
      const edit = h('button', { type: 'button', class: 'button secondary small edit-access', text: 'Edit access', 'aria-label': `Edit access of ${m.name}` });
      edit.addEventListener('click', () => editAccess(m, edit));
      reaches.append(' ', edit);
    }
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

  // One member's reach, edited below the table (an admin's is the whole project: not offered).
  function editAccess(m, opener) {
    const fields = narrowingFields('access', environments, m);
    const save = h('button', { type: 'submit', id: 'access-save', class: 'button', text: 'Save access' });
    const cancel = h('button', { type: 'button', id: 'access-cancel', class: 'button secondary', text: 'Cancel' });
    const close = (focus) => {
      editorSlot.replaceChildren();
      if (focus) focus.focus();
    };
    cancel.addEventListener('click', () => close(opener));
    const form = h(
      'form',
      { id: 'access-form', class: 'form card', novalidate: true, 'aria-labelledby': 'access-form-heading' },
      h('h2', { id: 'access-form-heading', text: `What ${m.name} reaches` }),
      formError(),
      fields.el,
      h('div', { class: 'actions' }, save, cancel),
    );
    form.addEventListener('submit', async (event) => {
      event.preventDefault();
      clearErrors(form);
      const body = fields.values(form);
      if (!body) return;
      await busy(save, async () => {
        try {
          const { data: changed } = await api.patch(`${base}/memberships/${enc(m.identityId)}`, body, { signal: view.signal });
          if (!view.alive()) return;
          replace(changed.membership);
          close();
          say(`${m.name} now reaches ${reachText(changed.membership)}.`);
          announce(`Access of ${m.name} saved.`);
          await recheck();
        } catch (err) {
          if (api.isAbort(err) || err instanceof api.SignedOut) return;
          showFormError(form, err);
        }
      }, 'Saving…');
    });
    editorSlot.replaceChildren(form);
    form.querySelector('input').focus();
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
    editorSlot,
  ];
  if (admin) {
    parts.push(await addMemberForm(view, base, instanceAdmin, environments, () => members, replace, say));
    parts.push(settingsForm(view, base, say));
  }
  if (!view.alive()) return;
  view.main.replaceChildren(...parts.filter(Boolean));
}

/**
 * Adding a member. Instance admins pick from the organisation's identities; other project admins
 * cannot list identities (the API keeps that to instance admins) and paste an identity's id.
 */
async function addMemberForm(view, base, instanceAdmin, environments, current, added, say) {
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
  // Members and viewers may be narrowed; an admin reaches the whole project.
  const narrowing = narrowingFields('member', environments, null);
  const narrowPart = h('details', { class: 'narrow-new', id: 'member-narrowing' }, h('summary', { text: 'Limit what it reaches (optional)' }), narrowing.el);
  const syncRole = () => {
    narrowPart.hidden = role.value === 'admin';
  };
  role.addEventListener('change', syncRole);
  syncRole();
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
    narrowPart,
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
    const limits = role.value === 'admin' ? { environments: null, secretPath: null } : narrowing.values(form);
    if (!limits) return;
    await busy(submit, async () => {
      try {
        const { data } = await api.post(`${base}/memberships`, { identityId, role: role.value, ...limits }, { signal: view.signal });
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
