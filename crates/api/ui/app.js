// Entry point: routes hash changes to pages, draws the header, and gives each page a "view" whose
// lifetime ends at the next navigation (its requests aborted, its timers stopped, its secrets
// wiped), so a slow answer for a page the user left can never paint over the current one.

import * as api from './api.js';
import { parse, link, safeNext } from './router.js';
import { h, alertBox, describeError, announce } from './dom.js';
import * as session from './session.js';

// Each page's module is fetched when the page is first opened, so the first load of the
// dashboard carries the shell and one page, not all of them.
const lazy = (file, name) => async (view) => (await import(file))[name](view);
const auth = (name) => lazy('./pages-auth.js', name);
const connections = (name) => lazy('./pages-connections.js', name);
const rotations = (name) => lazy('./pages-rotations.js', name);
const webhooks = (name) => lazy('./pages-webhooks.js', name);
const renderAudit = lazy('./pages-audit.js', 'renderAudit');
const renderAuditStreams = lazy('./pages-audit-streams.js', 'renderAuditStreams');

const PAGES = {
  'sign-in': { render: auth('renderSignIn'), title: 'Sign in', public: true },
  projects: { render: auth('renderProjects'), title: 'Projects' },
  identities: { render: lazy('./pages-identities.js', 'renderIdentities'), title: 'Identities' },
  'audit-all': { render: renderAudit, title: 'Audit log' },
  'audit-streams-all': { render: renderAuditStreams, title: 'Audit log streams' },
  connections: { render: connections('renderConnections'), title: 'Connections', project: true, nav: 'connections' },
  'connection-new': { render: connections('renderConnectionForm'), title: 'New connection', project: true, nav: 'connections' },
  'connection-detail': { render: connections('renderConnectionDetail'), title: 'Connection', project: true, nav: 'connections' },
  'connection-edit': { render: connections('renderConnectionForm'), title: 'Edit connection', project: true, nav: 'connections' },
  rotations: { render: rotations('renderRotations'), title: 'Rotations', project: true, nav: 'rotations' },
  'rotation-new': { render: rotations('renderRotationForm'), title: 'New rotation', project: true, nav: 'rotations' },
  'rotation-detail': { render: rotations('renderRotationDetail'), title: 'Rotation', project: true, nav: 'rotations' },
  audit: { render: renderAudit, title: 'Audit log', project: true, nav: 'audit' },
  'audit-streams': { render: renderAuditStreams, title: 'Audit log streams', project: true, nav: 'audit' },
  secrets: { render: lazy('./pages-secrets.js', 'renderSecrets'), title: 'Secrets', project: true, nav: 'secrets' },
  members: { render: lazy('./pages-members.js', 'renderMembers'), title: 'Members', project: true, nav: 'members' },
  webhooks: { render: webhooks('renderWebhooks'), title: 'Webhooks', project: true, nav: 'webhooks' },
  'webhook-new': { render: webhooks('renderWebhookForm'), title: 'New webhook', project: true, nav: 'webhooks' },
  'webhook-detail': { render: webhooks('renderWebhookDetail'), title: 'Webhook', project: true, nav: 'webhooks' },
};

const main = document.getElementById('main');
const header = document.getElementById('site-header');
let current = null;

function makeView(route) {
  const controller = new AbortController();
  const cleanups = [];
  let alive = true;
  return {
    route,
    params: route.params,
    query: route.query,
    page: route.page,
    signal: controller.signal,
    main,
    project: null,
    alive: () => alive,
    /** Runs when the user navigates away (or the page is replaced): wipe secrets, stop polls. */
    onLeave(fn) {
      cleanups.push(fn);
    },
    /** A delay that ends early (resolving `false`) when the view is left. */
    sleep(ms) {
      return new Promise((resolve) => {
        if (!alive) return resolve(false);
        const timer = setTimeout(() => resolve(alive), ms);
        cleanups.push(() => {
          clearTimeout(timer);
          resolve(false);
        });
      });
    },
    leave() {
      alive = false;
      controller.abort();
      for (const fn of cleanups.splice(0)) {
        try {
          fn();
        } catch {
          // one failing cleanup must not keep the others from running
        }
      }
    },
  };
}

function navLink(id, href, text, active) {
  return h('li', null, h('a', { id, href, text, 'aria-current': active ? 'page' : null }));
}

function renderHeader(view, def) {
  if (def.public) {
    header.hidden = true;
    header.replaceChildren();
    return;
  }
  const project = view.project;
  const items = [navLink('nav-projects', link.projects(), 'Projects', view.page === 'projects')];
  if (project) {
    items.push(
      navLink('nav-connections', link.connections(project.id), 'Connections', def.nav === 'connections'),
      navLink('nav-rotations', link.rotations(project.id), 'Rotations', def.nav === 'rotations'),
      navLink('nav-secrets', link.secrets(project.id), 'Secrets', def.nav === 'secrets'),
      navLink('nav-members', link.members(project.id), 'Members', def.nav === 'members'),
    );
    // Both are for project admins only (the API refuses other roles).
    if (session.isAdmin(project)) {
      items.push(
        navLink('nav-webhooks', link.webhooks(project.id), 'Webhooks', def.nav === 'webhooks'),
        navLink('nav-audit', link.audit(project.id), 'Audit log', def.nav === 'audit'),
      );
    }
  }
  const signOut = h('button', { type: 'button', id: 'sign-out', class: 'button secondary small', text: 'Sign out' });
  signOut.addEventListener('click', () => doSignOut(signOut));
  header.replaceChildren(
    h(
      'div',
      { class: 'header-inner' },
      h('a', { class: 'brand', href: link.projects() }, 'Keyhold'),
      project
        ? h(
            'p',
            { class: 'project-name' },
            h('span', { class: 'sr-only', text: 'Project: ' }),
            project.name,
            ' ',
            h('span', { class: 'badge badge-neutral', title: 'Your role in this project', text: project.role }),
          )
        : null,
      h('nav', { class: 'main-nav', 'aria-label': 'Main' }, h('ul', null, items)),
      signOut,
    ),
  );
  header.hidden = false;
}

async function doSignOut(button) {
  const here = location.hash;
  button.disabled = true;
  let told = true;
  try {
    // No body: the API revokes the token the request is made with.
    await api.post('/api/v1/auth/token/revoke', {}, { redirectOn401: false });
  } catch (err) {
    // A dead token needs no revoking; anything else means the server may still honour it.
    told = err instanceof api.SignedOut;
  }
  api.clearToken();
  session.forgetProjects();
  session.flash(told ? 'Signed out.' : 'Signed out here, but Keyhold could not be told; the token stays valid until it expires.');
  // Coming back to the same place is the common case (a session swap); safeNext drops anything odd.
  location.assign(link.signIn(safeNext(here)));
}

function notFound(view) {
  view.main.replaceChildren(
    h('h1', { tabindex: '-1', text: 'Page not found' }),
    h('p', null, 'There is nothing at this address. ', h('a', { href: link.projects(), text: 'Go to your projects' }), '.'),
  );
}

function errorPage(view, err) {
  const missing = err instanceof api.ApiError && err.status === 404;
  view.main.replaceChildren(
    h('h1', { tabindex: '-1', text: missing ? 'Not found' : 'Something went wrong' }),
    alertBox(
      missing
        ? 'It does not exist, or it belongs to a project you are not a member of.'
        : describeError(err),
    ),
    h('p', null, h('a', { href: link.projects(), text: 'Back to your projects' })),
  );
}

async function route() {
  if (current) current.leave();
  current = null;
  delete document.body.dataset.page;
  // Last page's toast must not linger over the next one.
  document.getElementById('status').textContent = '';

  const hash = location.hash;
  if (!hash || hash === '#' || hash === '#/') {
    location.replace(api.getToken() ? link.projects() : link.signIn());
    return;
  }
  const parsed = parse(hash);
  const def = parsed.page ? PAGES[parsed.page] : null;
  if (!def) {
    const view = makeView(parsed);
    current = view;
    renderHeader(view, { public: !api.getToken() });
    notFound(view);
    document.body.dataset.page = 'not-found';
    return;
  }
  if (!def.public && !api.getToken()) {
    location.replace(link.signIn(parsed.hash));
    return;
  }

  const view = makeView(parsed);
  current = view;
  main.replaceChildren(h('p', { class: 'loading', text: 'Loading…' }));
  try {
    if (def.project) view.project = await session.loadProject(parsed.params.projectId, view.signal);
    if (!view.alive()) return;
    renderHeader(view, def);
    document.title = [def.title, view.project && view.project.name, 'Keyhold'].filter(Boolean).join(' · ');
    await def.render(view);
  } catch (err) {
    if (!view.alive() || api.isAbort(err) || err instanceof api.SignedOut) return;
    renderHeader(view, def);
    errorPage(view, err);
  }
  if (!view.alive()) return;
  document.body.dataset.page = parsed.page;
  const message = session.takeFlash();
  if (message) announce(message);
  // Move focus to the new page's heading so screen readers hear where they are.
  const heading = main.querySelector('h1');
  if (heading && !main.contains(document.activeElement)) heading.focus({ preventScroll: true });
}

api.onUnauthorized(() => {
  const here = location.hash;
  // Stop the page at once, so it cannot claim to have rendered while the redirect is pending.
  if (current) current.leave();
  current = null;
  session.forgetProjects();
  session.flash('Your session has ended. Sign in again to continue.');
  location.replace(link.signIn(safeNext(here)));
});

// The skip link's "#main" would be read as a route; focus the content instead.
document.getElementById('skip-link').addEventListener('click', (event) => {
  event.preventDefault();
  main.focus();
});

window.addEventListener('hashchange', route);
route();
