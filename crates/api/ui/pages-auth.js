// Signing in (machine identity or user) and the list of the caller's projects.

import * as api from './api.js';
import { link, safeNext } from './router.js';
import {
  h, field, badge, alertBox, describeError, pager, busy, formError, clearErrors, setFieldError, showFormError,
} from './dom.js';
import * as session from './session.js';

export async function renderSignIn(view) {
  const next = safeNext(view.query.get('next'));

  const kindMachine = h('input', { type: 'radio', name: 'kind', id: 'kind-machine', value: 'machine', checked: true });
  const kindUser = h('input', { type: 'radio', name: 'kind', id: 'kind-user', value: 'user' });
  const clientId = h('input', { type: 'text', id: 'client-id', name: 'clientId', autocomplete: 'username', spellcheck: 'false', autocapitalize: 'off' });
  const clientSecret = h('input', { type: 'password', id: 'client-secret', name: 'clientSecret', autocomplete: 'off' });
  const email = h('input', { type: 'email', id: 'email', name: 'email', autocomplete: 'username', spellcheck: 'false' });
  const password = h('input', { type: 'password', id: 'password', name: 'password', autocomplete: 'current-password' });
  const error = h('div', { id: 'sign-in-error', class: 'form-error', role: 'alert', tabindex: '-1' });
  const submit = h('button', { type: 'submit', id: 'sign-in-submit', class: 'button', text: 'Sign in' });

  const machineFields = h(
    'div',
    { class: 'field-group', id: 'machine-fields' },
    field({ label: 'Client ID', input: clientId }),
    field({ label: 'Client secret', input: clientSecret }),
  );
  const userFields = h(
    'div',
    { class: 'field-group', id: 'user-fields', hidden: true },
    field({ label: 'Email', input: email }),
    field({ label: 'Password', input: password }),
  );
  // field() points aria-describedby at its own (unused) error slot; sign-in reports in one place.
  for (const input of [clientId, clientSecret, email, password]) input.setAttribute('aria-describedby', 'sign-in-error');

  const form = h(
    'form',
    { id: 'sign-in', class: 'card form', novalidate: true },
    h(
      'fieldset',
      { class: 'kind' },
      h('legend', { text: 'Sign in as' }),
      h('div', { class: 'radio' }, kindMachine, h('label', { for: 'kind-machine', text: 'Machine identity' })),
      h('div', { class: 'radio' }, kindUser, h('label', { for: 'kind-user', text: 'User' })),
    ),
    machineFields,
    userFields,
    error,
    h('div', { class: 'actions' }, submit),
  );

  const isMachine = () => kindMachine.checked;
  function showKind() {
    machineFields.hidden = !isMachine();
    userFields.hidden = isMachine();
    error.textContent = '';
  }
  kindMachine.addEventListener('change', showKind);
  kindUser.addEventListener('change', showKind);

  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    error.textContent = '';
    const machine = isMachine();
    const [idInput, secretInput] = machine ? [clientId, clientSecret] : [email, password];
    const body = machine
      ? { clientId: clientId.value.trim(), clientSecret: clientSecret.value }
      : { email: email.value.trim(), password: password.value };
    // The secret leaves the input at once: it is in `body` only for the length of the request.
    secretInput.value = '';
    if (!idInput.value.trim() || !(machine ? body.clientSecret : body.password)) {
      error.textContent = machine ? 'Enter the client ID and the client secret.' : 'Enter your email and password.';
      error.focus();
      return;
    }
    const path = machine ? '/api/v1/auth/universal-auth/login' : '/api/v1/auth/login';
    await busy(submit, async () => {
      try {
        const { data } = await api.post(path, body, { auth: false, signal: view.signal });
        api.setToken(data.accessToken);
        session.forgetProjects(); // roles belong to who signed in
        location.assign(next || link.projects());
      } catch (err) {
        if (api.isAbort(err) || !view.alive()) return;
        if (err.status === 401) {
          error.textContent = machine
            ? 'Sign-in failed: the client ID or client secret is wrong.'
            : 'Sign-in failed: the email or password is wrong.';
        } else if (err.status === 429) {
          const detail = err.problem.detail || 'Too many attempts.';
          const wait = err.retryAfter ? ` Try again in ${err.retryAfter} s.` : '';
          error.textContent = `${detail}${/[.!?]$/.test(detail) ? '' : '.'}${wait}`;
        } else {
          error.textContent = describeError(err);
        }
        secretInput.focus();
      }
    });
  });

  view.main.replaceChildren(
    h(
      'div',
      { class: 'sign-in-page' },
      h('h1', { tabindex: '-1', text: 'Sign in to Keyhold' }),
      next ? h('p', { class: 'hint', text: 'Sign in to continue where you were.' }) : null,
      form,
    ),
  );
}

export async function renderProjects(view) {
  const list = h('ul', { class: 'project-list', id: 'project-list' });
  const message = h('div');
  const pages = pager(load);

  async function load(cursor) {
    pages.lock();
    try {
      const { data } = await api.get('/api/v1/projects', { query: { limit: 100, cursor }, signal: view.signal });
      session.rememberProjects(data.projects);
      const items = document.createDocumentFragment();
      for (const project of data.projects) {
        items.append(
          h(
            'li',
            { class: 'project-card' },
            h('a', { class: 'project-link', href: link.connections(project.id), text: project.name }),
            ' ',
            badge(project.role, 'neutral', 'Your role in this project'),
            project.description ? h('p', { class: 'muted', text: project.description }) : null,
          ),
        );
      }
      list.replaceChildren(items);
      message.replaceChildren(
        data.projects.length || cursor
          ? ''
          : alertBox('You are not a member of any project yet. A project admin can add you.', 'info'),
      );
      pages.loaded(data.nextCursor);
    } catch (err) {
      if (api.isAbort(err) || err instanceof api.SignedOut) return;
      message.replaceChildren(alertBox(describeError(err)));
      pages.loaded(null);
    }
  }

  // Anyone may create a project and becomes its admin.
  const name = h('input', { type: 'text', id: 'new-project-name', required: true, maxlength: '64', autocomplete: 'off' });
  const description = h('input', { type: 'text', id: 'new-project-description', maxlength: '256', autocomplete: 'off' });
  const submit = h('button', { type: 'submit', id: 'new-project-submit', class: 'button', text: 'Create project' });
  const form = h(
    'form',
    { id: 'new-project', class: 'form card', novalidate: true, hidden: true, 'aria-labelledby': 'new-project-heading' },
    h('h2', { id: 'new-project-heading', text: 'New project' }),
    formError(),
    field({ label: 'Name', input: name, errorFor: 'name', hint: 'Unique in this Keyhold. You become its admin.' }),
    field({ label: 'Description', input: description, errorFor: 'description', optional: true }),
    h('div', { class: 'actions' }, submit),
  );
  const open = h('button', { type: 'button', id: 'new-project-open', class: 'button', text: 'New project', 'aria-expanded': 'false', 'aria-controls': 'new-project' });
  open.addEventListener('click', () => {
    form.hidden = !form.hidden;
    open.setAttribute('aria-expanded', String(!form.hidden));
    if (!form.hidden) name.focus();
  });
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    clearErrors(form);
    if (!name.value.trim()) {
      setFieldError(form, 'name', 'Enter a name.');
      name.focus();
      return;
    }
    await busy(submit, async () => {
      try {
        const body = { name: name.value.trim(), description: description.value.trim() || null };
        const { data } = await api.post('/api/v1/projects', body, { signal: view.signal });
        if (!view.alive()) return;
        session.rememberProjects([data.project]);
        session.flash(`Project ${data.project.name} created. Add its members here.`);
        location.assign(link.members(data.project.id));
      } catch (err) {
        if (api.isAbort(err) || err instanceof api.SignedOut) return;
        showFormError(form, err);
      }
    }, 'Creating…');
  });

  const actions = h('div', { class: 'actions' }, open);
  view.main.replaceChildren(
    h('div', { class: 'page-heading' }, h('h1', { tabindex: '-1', text: 'Your projects' }), actions),
    form,
    message,
    list,
    pages.el,
  );
  // Instance admins also manage identities; asking costs one request, and a failure offers nothing.
  const identities = session
    .isInstanceAdmin(view.signal)
    .then((yes) => {
      if (!yes || !view.alive()) return;
      actions.prepend(
        h('a', { id: 'nav-identities', class: 'button secondary', href: link.identities(), text: 'Identities' }),
        h('a', { id: 'nav-audit-all', class: 'button secondary', href: link.auditAll(), text: 'Audit log' }),
      );
    })
    .catch(() => {});
  await Promise.all([load(null), identities]);
}
