/**
 * `/`: recorded sessions, newest first, a page at a time (the server reads its index, never the whole
 * store), with the CLI's filters, and a full-text search over commands, stdin and output. The filters
 * live in the URL, so back, forward and a shared link show the same list. Keys: `/` search, j/k move,
 * Enter open.
 */
import { api, query, type SearchHit, type SessionRow } from '../api.js';
import { badge, errorBox, h, link, replace, type Child } from '../dom.js';
import { duration, time } from '../format.js';
import type { PageContext } from '../router.js';
import { matchParts } from '../text.js';

const textFilters: [string, string][] = [
  ['subject', 'subject'],
  ['grant', 'grant'],
  ['namespace', 'namespace'],
  ['verb', 'verb'],
  ['resource', 'resource'],
];
const decisions = ['', 'Allow', 'Deny', 'RequireApproval'];
const sinces: [string, string][] = [['', 'any time'], ['1h', 'last hour'], ['24h', 'last day'], ['168h', 'last 7 days'], ['720h', 'last 30 days']];
const filterNames = ['q', ...textFilters.map(([name]) => name), 'decision', 'since'];

function filtersForm(context: PageContext): { form: HTMLFormElement; search: HTMLInputElement } {
  const value = (name: string) => context.query.get(name) ?? '';
  const search = h('input', { type: 'search', name: 'q', value: value('q'), placeholder: 'Search commands, stdin and output   ( / )', 'aria-label': 'search', class: 'search', autocomplete: 'off' });
  const select = (name: string, options: [string, string][]) =>
    h('select', { name, 'aria-label': name }, options.map(([v, label]) => h('option', { value: v, selected: v === value(name) }, label)));
  const form = h(
    'form',
    { class: 'filters', role: 'search' },
    h('div', { class: 'search-row' }, search, h('button', { type: 'submit', class: ['button', 'button-primary'] }, 'Search')),
    h(
      'div',
      { class: 'filter-row' },
      textFilters.map(([name, label]) => h('input', { type: 'text', name, value: value(name), placeholder: label, 'aria-label': label, autocomplete: 'off' })),
      select('decision', decisions.map((d) => [d, d === '' ? 'any decision' : d])),
      select('since', sinces),
      h('a', { href: '/', class: 'clear' }, 'Clear'),
    ),
  );
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    const data = new FormData(form);
    context.go(`/${query(Object.fromEntries(filterNames.map((name) => [name, String(data.get(name) ?? '').trim()])))}`);
  });
  form.addEventListener('change', (event) => {
    if ((event.target as Element).tagName === 'SELECT') form.requestSubmit();
  });
  return { form, search };
}

function sessionRows(items: SessionRow[]): { table: HTMLElement; rows: [HTMLElement, string][] } {
  const rows = items.map((s): [HTMLElement, string] => {
    const href = `/sessions/${encodeURIComponent(s.id)}`;
    const row = h(
      'tr',
      {},
      h('td', { class: 'nowrap' }, link(href, time(s.started))),
      h('td', {}, s.subject),
      h('td', {}, s.grant),
      h('td', { class: 'ran' }, ranOf(s)),
      // an open session's index is counted when it ends: no number rather than a wrong one
      h('td', { class: 'num', title: s.open ? 'counted when the session ends' : '' }, s.open && !s.events ? h('span', { class: 'dim' }, '–') : s.events),
      h('td', { class: 'nowrap' }, s.hasDenial ? badge('denied', 'bad') : null, ' ', s.hasApproval ? badge('approval', 'warn') : null, !s.hasDenial && !s.hasApproval ? h('span', { class: 'dim' }, s.decisions?.length ? 'allowed' : '–') : null),
      h('td', { class: 'nowrap' }, s.open ? badge('open', 'info') : badge('ended', 'muted'), ' ', h('span', { class: 'dim' }, duration(s.started, s.ended))),
    );
    return [row, href];
  });
  const head = ['Started', 'Subject', 'Grant', 'What ran', 'Events', 'Decisions', 'State'];
  return { table: table(head, rows.map(([row]) => row), 'sessions'), rows };
}

/** The kubectl command line and the exec commands of a session, the first few. */
function ranOf(session: SessionRow): Child {
  const all = [session.client, ...(session.commands ?? [])].filter((command): command is string => Boolean(command));
  if (all.length === 0) return null;
  const shown = all.slice(0, 2).map((command) => h('code', { title: command }, command));
  return [shown, all.length > 2 ? h('span', { class: 'dim' }, ` +${all.length - 2} more`) : null];
}

function searchRows(items: SearchHit[], text: string): { table: HTMLElement; rows: [HTMLElement, string][] } {
  const rows = items.map((hit): [HTMLElement, string] => {
    const href = `/sessions/${encodeURIComponent(hit.session)}`;
    const row = h('tr', {}, h('td', { class: 'nowrap' }, link(href, time(hit.time))), h('td', {}, h('code', { class: 'dim' }, hit.session.slice(0, 8))), h('td', {}, hit.subject), h('td', {}, hit.kind), h('td', { class: 'line' }, h('code', {}, matchParts(hit.line, text).map(({ text: piece, match }) => (match ? h('mark', {}, piece) : piece)))));
    return [row, href];
  });
  return { table: table(['Time', 'Session', 'Subject', 'Where', 'Line'], rows.map(([row]) => row), 'search-results'), rows };
}

function table(head: string[], rows: HTMLElement[], testId: string): HTMLElement {
  return h('table', { class: 'list', 'data-testid': testId }, h('thead', {}, h('tr', {}, head.map((label) => h('th', {}, label)))), h('tbody', {}, rows));
}

/** j/k move a highlighted row, Enter opens it, `/` jumps to the search box. */
function keys(rows: [HTMLElement, string][], search: HTMLInputElement, go: (path: string) => void): () => void {
  let selected = -1;
  const select = (index: number) => {
    rows[selected]?.[0].classList.remove('selected');
    selected = Math.max(0, Math.min(rows.length - 1, index));
    const row = rows[selected]?.[0];
    row?.classList.add('selected');
    row?.scrollIntoView({ block: 'nearest' });
  };
  rows.forEach(([row, href]) =>
    row.addEventListener('click', (event) => {
      if (!(event.target as Element).closest('a')) go(href); // a link in the row is followed by the router
    }),
  );
  const onKey = (event: KeyboardEvent) => {
    const typing = (event.target as Element).closest('input, select, textarea');
    if (event.key === 'Escape' && typing) return (typing as HTMLElement).blur();
    if (typing || event.ctrlKey || event.metaKey || event.altKey) return;
    if (event.key === 'Enter' && (event.target as Element).closest('a, button')) return; // the focused link or button acts
    if (event.key === '/') {
      event.preventDefault();
      search.focus();
      search.select();
    } else if (event.key === 'j') select(selected + 1);
    else if (event.key === 'k') select(selected - 1);
    else if (event.key === 'Enter') {
      const row = rows[selected];
      if (row) go(row[1]);
    }
  };
  document.addEventListener('keydown', onKey);
  return () => document.removeEventListener('keydown', onKey);
}

export function sessionsPage(root: HTMLElement, context: PageContext): () => void {
  const { form, search } = filtersForm(context);
  const results = h('div', { class: 'results' }, h('p', { class: 'dim' }, 'Loading…'));
  replace(root, h('div', { class: 'page-head' }, h('h1', {}, 'Sessions'), h('span', { class: 'hint' }, h('kbd', {}, '/'), ' search  ', h('kbd', {}, 'j'), h('kbd', {}, 'k'), ' move  ', h('kbd', {}, 'Enter'), ' open')), form, results);
  const filters = Object.fromEntries(filterNames.map((name) => [name, context.query.get(name) ?? undefined]));
  const text = filters['q'] ?? '';
  const cursor = context.query.get('cursor') ?? undefined;
  let stopKeys = keys([], search, context.go);
  const started = performance.now();
  const load = text ? api.search({ ...filters, cursor }) : api.sessions({ ...filters, q: undefined, cursor, limit: '50' });
  load
    .then((page) => {
      const { table: list, rows } = text ? searchRows(page.items as SearchHit[], text) : sessionRows(page.items as SessionRow[]);
      stopKeys();
      stopKeys = keys(rows, search, context.go);
      const took = `${Math.round(performance.now() - started)} ms`;
      const count = text ? `${page.items.length} matching line${page.items.length === 1 ? '' : 's'}` : page.total !== undefined ? `${page.total} session${page.total === 1 ? '' : 's'}` : `${page.items.length} shown`;
      // a search's `next` continues the scan of sessions not read yet; a list's, the next page
      const next = page.next ? link(`/${query({ ...filters, cursor: page.next })}`, text ? 'Search further →' : 'Next page →') : null;
      const first = cursor ? link(`/${query({ ...filters, cursor: undefined })}`, '← First page') : null;
      replace(
        results,
        h('p', { class: 'summary', 'data-testid': 'result-count' }, count, h('span', { class: 'dim' }, ` · ${took}`)),
        page.items.length > 0 ? list : h('p', { class: 'empty' }, text ? `Nothing recorded matches “${text}”.` : 'No sessions match these filters.'),
        next || first ? h('div', { class: 'pager' }, first, next) : null,
      );
    })
    .catch((error: unknown) => replace(results, errorBox(error)));
  return () => stopKeys();
}
