// Project secrets, per environment and folder, through the same Infisical-shaped API the SDKs use.
// Values stay on the server until a row's "Reveal" is pressed: that read is audited (the API
// records who read which secret and version), the value lives only in that row's DOM and one
// closure, and it is wiped on "Hide", after REVEAL_MS, and on navigation.

import * as api from './api.js';
import { link } from './router.js';
import {
  h, time, dataTable, cell, alertBox, describeError, announce,
  field, formError, clearErrors, showFormError, busy,
} from './dom.js';
import * as session from './session.js';

const enc = encodeURIComponent;
const REVEAL_MS = 30000;
/** The server keeps the last ten versions of a secret; older ones answer 404. */
const KEPT_VERSIONS = 10;

function pageHeading(title, ...actions) {
  return h('div', { class: 'page-heading' }, h('h1', { tabindex: '-1', text: title }), actions.length ? h('div', { class: 'actions' }, actions) : null);
}

/** "/a/b" → [["/", "/"], ["a", "/a"], ["b", "/a/b"]]: the crumbs of a folder path. */
function crumbs(path) {
  const out = [['/', '/']];
  let at = '';
  for (const part of path.split('/').filter(Boolean)) {
    at += `/${part}`;
    out.push([part, at]);
  }
  return out;
}

function normalPath(raw) {
  const parts = (raw || '/').split('/').filter(Boolean);
  return `/${parts.join('/')}`;
}

export async function renderSecrets(view) {
  const { project } = view;
  const write = session.canWrite(project);
  const { data: envData } = await api.get(`/api/v1/workspace/${enc(project.id)}/environments`, { signal: view.signal });
  const environments = envData.environments || [];
  if (!environments.length) {
    view.main.replaceChildren(pageHeading('Secrets'), alertBox('This project has no environment.', 'info'));
    return;
  }
  const wanted = view.query.get('env');
  const env = environments.find((e) => e.slug === wanted) || environments[0];
  const path = normalPath(view.query.get('path'));
  const here = (slug, at) => link.secrets(project.id, slug, at);
  const where = { workspaceId: project.id, environment: env.slug, secretPath: path };

  // Environment tabs and the folder's crumbs: plain links, so Back and reload keep the place.
  const tabs = h(
    'nav',
    { class: 'tabs', 'aria-label': 'Environments' },
    environments.map((e) =>
      h('a', { href: here(e.slug, '/'), class: e.slug === env.slug ? 'tab current' : 'tab', 'aria-current': e.slug === env.slug ? 'page' : null, dataset: { env: e.slug }, text: e.name }),
    ),
  );
  const trail = h(
    'nav',
    { class: 'breadcrumb', id: 'secret-path', 'aria-label': 'Folder' },
    crumbs(path).map(([name, at], i, all) =>
      i === all.length - 1 ? h('span', { 'aria-current': 'location', text: name }) : [h('a', { href: here(env.slug, at), text: name }), ' / '],
    ),
  );

  const [{ data: folderData }, { data: secretData }] = await Promise.all([
    api.get('/api/v2/folders', { query: { projectId: project.id, environment: env.slug, path }, signal: view.signal }),
    api.get('/api/v3/secrets/raw', { query: { ...where, viewSecretValue: 'false' }, signal: view.signal }),
  ]);
  if (!view.alive()) return;
  const folders = folderData.folders || [];
  const secrets = secretData.secrets || [];

  const folderList = folders.length
    ? h('ul', { class: 'folders', id: 'folders' }, folders.map((f) => h('li', null, h('a', { href: here(env.slug, normalPath(`${path}/${f.name}`)), dataset: { folder: f.name }, text: `${f.name}/` }))))
    : null;

  const table = dataTable({
    id: 'secrets-table',
    caption: `Secrets of ${project.name} in ${env.name} at ${path}`,
    columns: ['Key', 'Value', 'Version', 'Comment', 'Updated', ''],
  });
  const wipes = [];
  view.onLeave(() => wipes.forEach((wipe) => wipe()));
  window.addEventListener('pagehide', () => wipes.forEach((wipe) => wipe()), { once: true });
  for (const secret of secrets) table.tbody.append(secretRow(view, secret, where, write, wipes));
  const empty = secrets.length ? null : h('p', { class: 'empty', id: 'secrets-empty', text: `No secrets in ${env.name} at ${path} yet. ${write ? 'Add one with “New secret”, or let' : 'A project member can add one, or'} a rotation write its credential here (its secrets mapping); apps read them with Infisical’s SDKs or operators pointed at Keyhold.` });

  const actions = [];
  if (write) {
    actions.push(h('button', { type: 'button', id: 'new-secret', class: 'button', text: 'New secret', on: { click: () => form.toggleAttribute('hidden') } }));
  }
  const form = write ? newSecretForm(view, where) : null;

  // replaceChildren would print an absent part as the text "null".
  const parts = [
    pageHeading('Secrets', ...actions),
    h('p', { class: 'hint', text: 'Apps read these with Infisical’s SDKs or API (workspaceId = this project’s id). Values stay hidden here until revealed; every reveal is recorded in the audit log.' }),
    tabs,
    trail,
    form,
    folderList,
    table.wrap,
    empty,
  ];
  view.main.replaceChildren(...parts.filter(Boolean));
}

function secretRow(view, secret, where, write, wipes) {
  const tr = document.createElement('tr');
  tr.dataset.secretKey = secret.secretKey;
  tr.append(h('th', { scope: 'row', class: 'mono', text: secret.secretKey }));
  const value = h('code', { class: 'secret', dataset: { revealedFor: secret.secretKey }, tabindex: '-1' });
  const hidden = h('span', { class: 'muted', text: '••••••' });
  const version = h('select', { 'aria-label': `Version of ${secret.secretKey} to reveal`, class: 'version-pick' });
  for (let v = secret.version; v >= Math.max(1, secret.version - KEPT_VERSIONS + 1); v -= 1) {
    version.append(h('option', { value: String(v), text: v === secret.version ? `${v} (current)` : String(v) }));
  }
  const reveal = h('button', { type: 'button', class: 'button secondary reveal-secret', text: 'Reveal' });
  const hide = h('button', { type: 'button', class: 'button secondary hide-secret', text: 'Hide', hidden: true });
  const error = h('span', { class: 'field-error', role: 'alert' });
  let timer = null;

  // Drops the text and every reference to it.
  const wipe = () => {
    if (timer) clearTimeout(timer);
    timer = null;
    value.textContent = '';
    value.replaceWith(hidden);
    hide.hidden = true;
    reveal.hidden = false;
  };
  wipes.push(wipe);

  reveal.addEventListener('click', () =>
    busy(reveal, async () => {
      error.textContent = '';
      try {
        const v = Number(version.value);
        const query = { ...where, viewSecretValue: 'true', expandSecretReferences: 'false' };
        if (v !== secret.version) query.version = v;
        const { data } = await api.get(`/api/v3/secrets/raw/${enc(secret.secretKey)}`, { query, signal: view.signal });
        if (!view.alive()) return;
        value.textContent = data.secret.secretValue;
        hidden.replaceWith(value);
        reveal.hidden = true;
        hide.hidden = false;
        hide.focus();
        timer = setTimeout(wipe, REVEAL_MS);
        announce(`Value of ${secret.secretKey} version ${v} shown for ${REVEAL_MS / 1000} s. This read is recorded in the audit log.`);
      } catch (err) {
        if (api.isAbort(err) || err instanceof api.SignedOut) return;
        error.textContent = describeError(err);
      }
    }, 'Revealing…'),
  );
  hide.addEventListener('click', () => {
    wipe();
    reveal.focus();
    announce('Value hidden.');
  });

  cell(tr, h('span', { class: 'reveal' }, hidden, ' ', version, ' ', reveal, hide, error));
  cell(tr, secret.version, 'num');
  cell(tr, secret.secretComment || '', 'message');
  cell(tr, time(secret.updatedAt));
  cell(tr, write ? deleteButton(view, secret, where) : '');
  return tr;
}

function deleteButton(view, secret, where) {
  const button = h('button', { type: 'button', class: 'button danger delete-secret', text: 'Delete', 'aria-label': `Delete ${secret.secretKey}` });
  const error = h('span', { class: 'field-error', role: 'alert' });
  button.addEventListener('click', () => {
    if (!window.confirm(`Delete ${secret.secretKey} and its history? Apps reading it will get 404.`)) return;
    busy(button, async () => {
      try {
        await api.del(`/api/v3/secrets/raw/${enc(secret.secretKey)}`, { body: { ...where, type: 'shared' }, signal: view.signal });
        session.flash(`Deleted ${secret.secretKey}.`);
        window.dispatchEvent(new HashChangeEvent('hashchange'));
      } catch (err) {
        if (api.isAbort(err) || err instanceof api.SignedOut) return;
        // A secret a rotation writes is refused with 409 naming the rotation: say so here.
        error.textContent = describeError(err);
      }
    }, 'Deleting…');
  });
  return h('span', null, button, error);
}

function newSecretForm(view, where) {
  const key = h('input', { type: 'text', id: 'secret-key', autocomplete: 'off', spellcheck: 'false', required: true, maxlength: '256', pattern: '[A-Za-z0-9_.\\-]+' });
  const value = h('textarea', { id: 'secret-value', autocomplete: 'off', spellcheck: 'false', rows: '3' });
  const comment = h('input', { type: 'text', id: 'secret-comment', autocomplete: 'off' });
  const submit = h('button', { type: 'submit', id: 'secret-submit', class: 'button', text: 'Create secret' });
  const form = h(
    'form',
    { id: 'secret-form', class: 'form', hidden: true, novalidate: true },
    formError(),
    field({ label: 'Key', input: key, hint: 'Letters, digits, _ . - (up to 256).', errorFor: 'secretName' }),
    field({ label: 'Value', input: value, errorFor: 'secretValue' }),
    field({ label: 'Comment', input: comment, errorFor: 'secretComment', optional: true }),
    h('div', { class: 'actions' }, submit),
  );
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    clearErrors(form);
    const body = { ...where, type: 'shared', secretValue: value.value, secretComment: comment.value };
    await busy(submit, async () => {
      try {
        await api.post(`/api/v3/secrets/raw/${enc(key.value.trim())}`, body, { signal: view.signal });
        // The value leaves the page with the form: nothing keeps it after the answer.
        value.value = '';
        session.flash(`Created ${key.value.trim()}.`);
        window.dispatchEvent(new HashChangeEvent('hashchange'));
      } catch (err) {
        if (api.isAbort(err) || err instanceof api.SignedOut) return;
        showFormError(form, err);
      }
    }, 'Creating…');
  });
  return form;
}
