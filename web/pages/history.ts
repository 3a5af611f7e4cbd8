/**
 * `/history?resource=&name=&namespace=`: every recorded call on one object, oldest first, across sessions
 * and subjects (what `kubegate history` shows): who created, changed, exec'd into or deleted it, under which
 * grant, approval and rule. The object lives in the URL: the session page's timeline links each call here.
 */
import { api, query, type HistoryEntry } from '../api.js';
import { badge, errorBox, h, link, replace } from '../dom.js';
import { time } from '../format.js';
import type { PageContext } from '../router.js';

const fields: [string, string][] = [
  ['resource', 'resource (pods, deployments.apps)'],
  ['name', 'name'],
  ['namespace', 'namespace (default: default)'],
];

const tones: Record<string, 'ok' | 'bad' | 'warn'> = { Allow: 'ok', Deny: 'bad', RequireApproval: 'warn' };

function objectForm(context: PageContext): HTMLFormElement {
  const form = h(
    'form',
    { class: ['filters', 'object-form'], 'aria-label': 'object' },
    h(
      'div',
      { class: 'filter-row' },
      fields.map(([name, label]) => h('input', { type: 'text', name, value: context.query.get(name) ?? '', placeholder: label, 'aria-label': name, autocomplete: 'off' })),
      h('button', { type: 'submit', class: ['button', 'button-primary'] }, 'Show history'),
    ),
  );
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    const data = new FormData(form);
    context.go(`/history${query(Object.fromEntries(fields.map(([name]) => [name, String(data.get(name) ?? '').trim()])))}`);
  });
  return form;
}

function entryRow(entry: HistoryEntry): HTMLElement {
  const call = entry.subresource ? `${entry.verb} ${entry.subresource}` : entry.verb;
  const ended = entry.status === null ? 'open' : `${entry.status}${entry.exitCode === undefined ? '' : ` exit ${entry.exitCode}`}`;
  return h(
    'tr',
    {},
    h('td', { class: 'nowrap' }, time(entry.time)),
    h('td', {}, h('code', {}, call), entry.command ? h('div', {}, h('code', { class: 'dim' }, entry.command)) : null),
    h('td', {}, entry.subject),
    h('td', {}, entry.grant),
    h('td', {}, entry.approval ?? h('span', { class: 'dim' }, '–')),
    h('td', { class: 'nowrap' }, entry.decision ? badge(entry.decision, tones[entry.decision] ?? 'muted') : null, entry.rule ? h('div', { class: 'rule' }, entry.rule) : null),
    h('td', { class: ['num', entry.status !== null && entry.status >= 400 && 'denied'] }, ended),
    h('td', {}, link(`/sessions/${encodeURIComponent(entry.session)}`, h('code', {}, entry.session.slice(0, 8)))),
  );
}

export function historyPage(root: HTMLElement, context: PageContext): void {
  const results = h('div', { class: 'results' });
  replace(root, h('div', { class: 'page-head' }, h('h1', {}, 'Object history')), objectForm(context), results);
  const [resource, name, namespace] = fields.map(([field]) => context.query.get(field) ?? undefined);
  if (!resource || !name) return replace(results, h('p', { class: 'empty' }, 'Name an object (resource and name) to see every recorded call on it, oldest first.'));
  replace(results, h('p', { class: 'dim' }, 'Loading…'));
  const target = `${resource}/${name}${namespace ? ` in namespace ${namespace}` : ''}`;
  api
    .history({ resource, name, namespace })
    .then(({ items }) =>
      replace(
        results,
        h('p', { class: 'summary', 'data-testid': 'result-count' }, `${items.length} recorded call${items.length === 1 ? '' : 's'} on ${target}`),
        items.length > 0
          ? h('table', { class: 'list', 'data-testid': 'history' }, h('thead', {}, h('tr', {}, ['Time', 'Call', 'Subject', 'Grant', 'Approval', 'Decision', 'Status', 'Session'].map((label) => h('th', {}, label)))), h('tbody', {}, items.map(entryRow)))
          : h('p', { class: 'empty' }, `No recorded call on ${target}.`),
      ),
    )
    .catch((error: unknown) => replace(results, errorBox(error)));
}
