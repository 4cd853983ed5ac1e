// What the dashboard remembers between pages of one sign-in: the projects seen (with the caller's
// role in each, which decides which controls are offered) and a message for the next page.
// Only in memory: a reload asks the API again, and signing out forgets it all.

import * as api from './api.js';

const projects = new Map();

export function rememberProjects(list) {
  for (const project of list) projects.set(project.id, project);
}

export function forgetProjects() {
  projects.clear();
  instanceAdmin = null;
}

/** Replaces what is remembered of a project (renamed) or forgets it (deleted: `null`). */
export function updateProject(id, project) {
  if (project) projects.set(id, project);
  else projects.delete(id);
}

let instanceAdmin = null;

/**
 * Whether the caller is an instance admin (who manages identities). Only the API knows: listing
 * identities is theirs alone, so a 403 there means no. Asked once per sign-in.
 */
export async function isInstanceAdmin(signal) {
  if (instanceAdmin !== null) return instanceAdmin;
  try {
    await api.get('/api/v1/identities', { query: { limit: 1 }, signal });
    instanceAdmin = true;
  } catch (err) {
    if (err instanceof api.ApiError && err.status === 403) instanceAdmin = false;
    else throw err;
  }
  return instanceAdmin;
}

/** The project (from memory, else the API); the API's 404 means "not yours" as much as "absent". */
export async function loadProject(id, signal) {
  const known = projects.get(id);
  if (known) return known;
  const { data } = await api.get(`/api/v1/projects/${encodeURIComponent(id)}`, { signal });
  projects.set(data.project.id, data.project);
  return data.project;
}

// The API checks every request anyway; these only decide what is worth offering.
export const canWrite = (project) => Boolean(project) && (project.role === 'member' || project.role === 'admin');
export const isAdmin = (project) => Boolean(project) && project.role === 'admin';

let pending = null;

/** A message for the page about to be shown ("Connection deleted."). */
export function flash(message) {
  pending = message;
}

export function takeFlash() {
  const message = pending;
  pending = null;
  return message;
}
