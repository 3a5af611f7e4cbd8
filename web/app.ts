/**
 * The console's entry point: who is looking (/api/me), the top bar, and the router over the pages.
 * Without a session cookie the server answers 401 and the page says how to get one.
 */
import { api, ApiError, useCsrf, type Me } from './api.js';
import { errorBox, h, link, replace } from './dom.js';
import { approvalsPage } from './pages/approvals.js';
import { grantsPage } from './pages/grants.js';
import { historyPage } from './pages/history.js';
import { ledgerPage } from './pages/ledger.js';
import { livePage } from './pages/live.js';
import { sessionPage } from './pages/session.js';
import { sessionsPage } from './pages/sessions.js';
import { Router, type Route } from './router.js';

const routes: Route[] = [
  { pattern: /^\/$/, page: sessionsPage, section: 'sessions' },
  { pattern: /^\/sessions\/([^/]+)$/, page: sessionPage, section: 'sessions' },
  { pattern: /^\/live$/, page: livePage, section: 'live' },
  { pattern: /^\/approvals$/, page: approvalsPage, section: 'approvals' },
  { pattern: /^\/approvals\/([^/]+)\/([^/]+)$/, page: approvalsPage, section: 'approvals' },
  { pattern: /^\/grants$/, page: grantsPage, section: 'grants' },
  { pattern: /^\/grants\/([^/]+)\/([^/]+)$/, page: ledgerPage, section: 'grants' },
  { pattern: /^\/history$/, page: historyPage, section: 'history' },
];

const sections: [string, string, string][] = [
  ['sessions', 'Sessions', '/'],
  ['live', 'Live', '/live'],
  ['approvals', 'Approvals', '/approvals'],
  ['grants', 'Grants', '/grants'],
  ['history', 'History', '/history'],
];

async function logout(): Promise<void> {
  await api.logout().catch(() => undefined); // signed out already, or the server is gone: either way, start over
  location.assign('/');
}

function topBar(me: Me): { bar: HTMLElement; select: (section: string) => void; pending: HTMLElement } {
  const pending = h('span', { class: 'count', hidden: true, 'data-testid': 'pending-count' });
  const items = sections.map(([section, label, href]) => {
    const anchor = link(href, label, section === 'approvals' ? pending : null);
    anchor.dataset['section'] = section;
    return anchor;
  });
  const bar = h(
    'header',
    { class: 'topbar' },
    h('a', { href: '/', class: 'brand' }, 'kubegate'),
    h('nav', { 'aria-label': 'main' }, items),
    h(
      'div',
      { class: 'viewer' },
      h('span', { class: 'user', title: me.groups.join(', ') }, me.user),
      me.groups.length > 0 ? h('span', { class: 'groups' }, me.groups.join(', ')) : null,
      h('button', { type: 'button', class: ['button', 'button-quiet'], on: { click: () => void logout() } }, 'Log out'),
    ),
  );
  const select = (section: string) => items.forEach((a) => (a.dataset['section'] === section ? a.setAttribute('aria-current', 'page') : a.removeAttribute('aria-current')));
  return { bar, select, pending };
}

async function countPending(target: HTMLElement): Promise<void> {
  try {
    const { items } = await api.approvals();
    const count = items.filter((item) => item.phase === 'Pending').length;
    target.textContent = String(count);
    target.hidden = count === 0;
  } catch {
    target.hidden = true; // a viewer who may not list approvals sees no count; the page says why
  }
}

/** How this console lets people sign in besides a login link: its identity provider, if it has one. */
async function oidcButton(): Promise<HTMLElement | null> {
  const config = await api.authConfig().catch(() => ({ oidcError: undefined, oidc: undefined }));
  if (config.oidcError) return h('p', { class: 'notice' }, config.oidcError);
  if (!config.oidc) return null;
  const next = `${location.pathname}${location.search}`;
  return h('p', {}, h('a', { class: ['button', 'button-primary'], href: `${config.oidc.login}?next=${encodeURIComponent(next)}`, 'data-testid': 'oidc-sign-in' }, `Sign in with ${config.oidc.issuer}`));
}

async function signedOut(body: HTMLElement, error: unknown): Promise<void> {
  const unauthenticated = error instanceof ApiError && error.status === 401;
  const oidc = unauthenticated ? await oidcButton() : null;
  replace(
    body,
    h('header', { class: 'topbar' }, h('span', { class: 'brand' }, 'kubegate')),
    h(
      'main',
      { class: 'signed-out' },
      h('h1', {}, unauthenticated ? 'You are not signed in' : 'The console could not start'),
      oidc,
      unauthenticated
        ? h('p', {}, oidc ? 'Or open a one-time login link: ' : 'Open a one-time login link: ', h('code', {}, 'kubegate console'), ' prints one per ', h('code', {}, '--login-as'), ' when it starts, and ', h('code', {}, 'kubegate dev'), ' writes its link to ', h('code', {}, '.kubegate-dev/console-url'), '. A link works once, for 15 minutes.')
        : errorBox(error),
    ),
  );
}

async function start(): Promise<void> {
  const body = document.body;
  let me: Me;
  try {
    me = await api.me();
  } catch (error) {
    await signedOut(body, error);
    return;
  }
  useCsrf(me.csrf);
  const { bar, select, pending } = topBar(me);
  const main = h('main', { id: 'page', tabindex: '-1' });
  replace(body, bar, main);
  const refreshNav = () => void countPending(pending);
  const router = new Router(routes, main, { me, refreshNav }, (section) => {
    select(section);
    refreshNav();
  });
  router.render();
}

void start().catch((error: unknown) => replace(document.body, errorBox(error)));
