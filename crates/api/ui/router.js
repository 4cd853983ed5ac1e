// Hash routes, so the server serves one page and a reload keeps the place. Ids are matched as
// opaque segments; the API answers 404/422 for bad ones and the page shows that.

const SEG = '([^/?#]+)';

const ROUTES = [
  { page: 'sign-in', pattern: /^\/sign-in$/, keys: [] },
  { page: 'projects', pattern: /^\/projects$/, keys: [] },
  { page: 'identities', pattern: /^\/identities$/, keys: [] },
  { page: 'audit-all', pattern: /^\/audit$/, keys: [] },
  { page: 'audit-streams-all', pattern: /^\/audit-streams$/, keys: [] },
  { page: 'connections', pattern: new RegExp(`^/projects/${SEG}/connections$`), keys: ['projectId'] },
  // Before the detail route, which would otherwise take "new" for an id.
  { page: 'connection-new', pattern: new RegExp(`^/projects/${SEG}/connections/new$`), keys: ['projectId'] },
  {
    page: 'connection-edit',
    pattern: new RegExp(`^/projects/${SEG}/connections/${SEG}/edit$`),
    keys: ['projectId', 'connectionId'],
  },
  {
    page: 'connection-detail',
    pattern: new RegExp(`^/projects/${SEG}/connections/${SEG}$`),
    keys: ['projectId', 'connectionId'],
  },
  { page: 'rotations', pattern: new RegExp(`^/projects/${SEG}/rotations$`), keys: ['projectId'] },
  { page: 'rotation-new', pattern: new RegExp(`^/projects/${SEG}/rotations/new$`), keys: ['projectId'] },
  {
    page: 'rotation-detail',
    pattern: new RegExp(`^/projects/${SEG}/rotations/${SEG}$`),
    keys: ['projectId', 'rotationId'],
  },
  { page: 'audit', pattern: new RegExp(`^/projects/${SEG}/audit$`), keys: ['projectId'] },
  { page: 'audit-streams', pattern: new RegExp(`^/projects/${SEG}/audit-streams$`), keys: ['projectId'] },
  { page: 'members', pattern: new RegExp(`^/projects/${SEG}/members$`), keys: ['projectId'] },
  { page: 'secrets', pattern: new RegExp(`^/projects/${SEG}/secrets$`), keys: ['projectId'] },
  { page: 'webhooks', pattern: new RegExp(`^/projects/${SEG}/webhooks$`), keys: ['projectId'] },
  { page: 'webhook-new', pattern: new RegExp(`^/projects/${SEG}/webhooks/new$`), keys: ['projectId'] },
  {
    page: 'webhook-detail',
    pattern: new RegExp(`^/projects/${SEG}/webhooks/${SEG}$`),
    keys: ['projectId', 'webhookId'],
  },
];

function decode(segment) {
  try {
    return decodeURIComponent(segment);
  } catch {
    return segment;
  }
}

/** `#/projects/p/connections?cursor=x` → `{ page, params, query, hash }`; page `null` if unknown. */
export function parse(hash) {
  const raw = hash.startsWith('#') ? hash.slice(1) : hash;
  const at = raw.indexOf('?');
  const path = at === -1 ? raw : raw.slice(0, at);
  const query = new URLSearchParams(at === -1 ? '' : raw.slice(at + 1));
  for (const route of ROUTES) {
    const match = route.pattern.exec(path);
    if (!match) continue;
    const params = {};
    route.keys.forEach((key, i) => {
      params[key] = decode(match[i + 1]);
    });
    return { page: route.page, params, query, path, hash: `#${raw}` };
  }
  return { page: null, params: {}, query, path, hash: `#${raw}` };
}

const enc = encodeURIComponent;

/** Builders for every link, so no page spells a route by hand. */
export const link = {
  signIn: (next) => (next ? `#/sign-in?next=${enc(next)}` : '#/sign-in'),
  projects: () => '#/projects',
  identities: () => '#/identities',
  auditAll: () => '#/audit',
  connections: (p) => `#/projects/${enc(p)}/connections`,
  connectionNew: (p) => `#/projects/${enc(p)}/connections/new`,
  connection: (p, c) => `#/projects/${enc(p)}/connections/${enc(c)}`,
  connectionEdit: (p, c) => `#/projects/${enc(p)}/connections/${enc(c)}/edit`,
  rotations: (p) => `#/projects/${enc(p)}/rotations`,
  rotationNew: (p, connectionId) =>
    `#/projects/${enc(p)}/rotations/new${connectionId ? `?connectionId=${enc(connectionId)}` : ''}`,
  rotation: (p, r) => `#/projects/${enc(p)}/rotations/${enc(r)}`,
  audit: (p) => `#/projects/${enc(p)}/audit`,
  auditStreams: (p) => `#/projects/${enc(p)}/audit-streams`,
  auditStreamsAll: () => '#/audit-streams',
  members: (p) => `#/projects/${enc(p)}/members`,
  /** The secrets of environment `env` at folder `path` (the first environment, at `/`, when absent). */
  secrets: (p, env, path) => {
    const query = new URLSearchParams();
    if (env) query.set('env', env);
    if (path && path !== '/') query.set('path', path);
    const text = query.toString();
    return `#/projects/${enc(p)}/secrets${text ? `?${text}` : ''}`;
  },
  webhooks: (p) => `#/projects/${enc(p)}/webhooks`,
  webhookNew: (p) => `#/projects/${enc(p)}/webhooks/new`,
  webhook: (p, w) => `#/projects/${enc(p)}/webhooks/${enc(w)}`,
};

/** Only in-app hash routes are acceptable as a post-sign-in destination. */
export function safeNext(next) {
  if (typeof next !== 'string' || !next.startsWith('#/')) return null;
  if (next.startsWith('#/sign-in')) return null;
  return next;
}
