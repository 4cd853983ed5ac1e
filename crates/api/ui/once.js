// The panel that shows a secret once (a signing secret, an identity's client secret) with a copy
// button. The secret lives only in the panel's DOM: removed when the view is left, when the tab
// is hidden for good, and by the returned `wipe`; never stored or put in the URL.

import { h } from './dom.js';

/**
 * `title` heads the panel, `once` says why it is shown only now, `explain` (text or nodes) tells
 * the reader what to do with it, `dismiss` is the control that ends it (the caller wires it up),
 * `ids` names the secret's element and the copy button (`{ value, copy }`).
 * Returns `{ panel, wipe, value }`.
 */
export function oneTimeSecret(view, secret, { title, once, explain = [], dismiss, ids }) {
  const value = h('code', { id: ids.value, class: 'secret', tabindex: '-1', text: secret });
  const note = h('p', { id: 'copy-status', class: 'hint', role: 'status' });
  const copy = h('button', { type: 'button', id: ids.copy, class: 'button secondary', text: 'Copy' });
  copy.addEventListener('click', async () => {
    try {
      await navigator.clipboard.writeText(value.textContent);
      note.textContent = 'Copied to the clipboard.';
    } catch {
      // No clipboard access (an insecure origin, a refused permission): select it for Ctrl+C.
      const range = document.createRange();
      range.selectNodeContents(value);
      const selection = window.getSelection();
      selection.removeAllRanges();
      selection.addRange(range);
      note.textContent = 'Could not copy automatically: the secret is selected, press Ctrl+C (⌘C on a Mac).';
    }
  });
  const panel = h(
    'section',
    { class: 'reveal-panel one-time-secret', id: 'one-time-secret', 'aria-labelledby': 'one-time-secret-heading' },
    h('h2', { id: 'one-time-secret-heading', text: title }),
    h('p', { class: 'once', id: 'secret-once', text: once }),
    explain.map((part) => (part instanceof Node ? part : h('p', { text: part }))),
    value,
    h('div', { class: 'actions' }, copy, dismiss),
    note,
  );
  const wipe = () => {
    value.textContent = '';
    note.textContent = '';
    panel.remove();
  };
  view.onLeave(wipe);
  window.addEventListener('pagehide', wipe, { once: true });
  view.onLeave(() => window.removeEventListener('pagehide', wipe));
  return { panel, wipe, value };
}

const SIGNING_SECRET = {
  title: 'Signing secret',
  once: 'Copy it now: you will not see this secret again. Keyhold keeps it sealed and never shows it twice.',
  ids: { value: 'signing-secret', copy: 'copy-signing-secret' },
};

/** A Standard Webhooks signing secret's panel (webhooks and audit log streams). */
export function signingSecretPanel(view, secret, { explain, dismiss }) {
  return oneTimeSecret(view, secret, { ...SIGNING_SECRET, explain, dismiss });
}
