/**
 * `/grants`: the Active AccessGrants, soonest to expire first. Revoke (with a reason) sets
 * `spec.revoked` as the viewer; the operator then removes the bindings and the gateway ends the
 * grant's live sessions.
 */
import { api, type Grant } from '../api.js';
import { errorBox, h, link, reasonForm, replace } from '../dom.js';
import { accessLines, relative, time } from '../format.js';
import type { PageContext } from '../router.js';

function row(grant: Grant, onRevoked: () => void): HTMLElement[] {
  const form = h('tr', { class: 'revoke-row', hidden: true }, h('td', { colspan: 7 }, reasonForm({
    placeholder: `Reason (required): why ${grant.name} ends now`,
    buttons: [{ label: 'Revoke', tone: 'danger' }],
    act: async (_button, reason) => {
      await api.revoke(grant.namespace, grant.name, reason);
      onRevoked();
    },
  })));
  const toggle = h('button', { type: 'button', class: ['button', 'button-quiet'], on: { click: () => { form.hidden = !form.hidden; form.querySelector('input')?.focus(); } } }, 'Revoke…');
  const main = h(
    'tr',
    { 'data-testid': 'grant', 'data-name': `${grant.namespace}/${grant.name}` },
    h('td', {}, link(`/grants/${encodeURIComponent(grant.namespace)}/${encodeURIComponent(grant.name)}`, h('strong', {}, grant.name)), h('div', { class: 'dim' }, grant.namespace)),
    h('td', {}, grant.subject),
    h('td', {}, h('ul', { class: 'access' }, accessLines(grant.access).map((line) => h('li', {}, h('code', {}, line))))),
    h('td', {}, grant.policy),
    h('td', {}, grant.requestedBy),
    h('td', { class: 'nowrap', title: time(grant.expires) }, grant.expires ? relative(grant.expires) : 'no expiry'),
    h('td', {}, toggle),
  );
  return [main, form];
}

export function grantsPage(root: HTMLElement, context: PageContext): void {
  const body = h('div', {}, h('p', { class: 'dim' }, 'Loading…'));
  replace(root, h('div', { class: 'page-head' }, h('h1', {}, 'Active grants')), body);
  const load = () =>
    api
      .grants()
      .then(({ items }) => {
        if (items.length === 0) return replace(body, h('p', { class: 'empty' }, 'No grant is active.'));
        const sorted = [...items].sort((a, b) => (a.expires ?? '~').localeCompare(b.expires ?? '~'));
        const head = ['Grant', 'Subject', 'Access', 'Policy', 'Requested by', 'Expires', ''];
        replace(body, h('table', { class: 'list', 'data-testid': 'grants' }, h('thead', {}, h('tr', {}, head.map((label) => h('th', {}, label)))), h('tbody', {}, sorted.map((grant) => row(grant, () => { context.refreshNav(); void load(); })))));
      })
      .catch((error: unknown) => replace(body, errorBox(error)));
  void load();
}
