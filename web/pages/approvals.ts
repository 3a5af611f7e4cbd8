/**
 * `/approvals` and `/approvals/NS/NAME`: ApprovalRequests, pending first — the exact request (or the
 * grant's access), the rule that asked for approval, who asked and for whom. Approve or Deny needs a
 * reason and is written as the viewer: when the API server's admission refuses it (the requester
 * approving their own request, a viewer who is no approver), its message is shown as it came.
 */
import { api, type Approval } from '../api.js';
import { badge, errorBox, facts, h, link, reasonForm, replace } from '../dom.js';
import { accessLines, relative, time } from '../format.js';
import type { PageContext } from '../router.js';

const phaseTones: Record<string, 'ok' | 'bad' | 'warn' | 'muted'> = { Pending: 'warn', Approved: 'ok', Denied: 'bad', Expired: 'muted' };

function what(item: Approval): HTMLElement {
  if (item.request) {
    return h(
      'div',
      { class: 'request' },
      h('code', { class: 'verb' }, item.request.verb),
      ' ',
      h('code', {}, item.request.path),
      item.request.body ? h('details', { open: true }, h('summary', {}, 'request body (masked)'), h('pre', {}, item.request.body)) : null,
    );
  }
  if (item.grant) {
    return h(
      'div',
      { class: 'request' },
      h('span', {}, 'grant ', h('strong', {}, item.grant.name), item.grant.duration ? ` for ${item.grant.duration}` : ''),
      h('ul', { class: 'access' }, accessLines(item.grant.access).map((line) => h('li', {}, h('code', {}, line)))),
    );
  }
  return h('div', { class: 'dim' }, 'no request recorded');
}

function decisionsList(item: Approval): HTMLElement | null {
  if (item.decisions.length === 0) return null;
  return h(
    'ul',
    { class: 'decisions' },
    item.decisions.map((d) => h('li', {}, /^approve/i.test(d.decision) ? badge('approved', 'ok') : badge(/^den/i.test(d.decision) ? 'denied' : d.decision, 'bad'), ` by ${d.by}`, h('span', { class: 'dim' }, ` · ${time(d.time)}`), d.reason ? h('div', { class: 'quote' }, d.reason) : null)),
  );
}

/** The decision part of a card: the form, or why there is none. */
function decision(item: Approval, me: string, onDecided: () => void): HTMLElement | null {
  if (item.phase !== 'Pending') return null;
  if (item.decisions.some((d) => d.by === me)) return h('p', { class: 'dim', 'data-testid': 'decided' }, 'Your decision is recorded; the operator acts on it in a moment (or once enough approvers agree).');
  if (!item.canDecide) {
    const why = item.requester === me ? 'You asked for this' : item.subject === me || item.subject.endsWith(`/${me}`) ? 'This is for you' : undefined;
    return h('p', { class: 'dim', 'data-testid': 'may-not-decide' }, why ? `${why}: another approver must decide it.` : "Only the policy's approvers may decide this request.");
  }
  return reasonForm({
    placeholder: 'Reason (required): why you approve or deny',
    buttons: [
      { label: 'Approve', tone: 'primary' },
      { label: 'Deny', tone: 'danger' },
    ],
    act: async (button, reason) => {
      await api.decide(item.namespace, item.name, button === 'Approve' ? 'Approve' : 'Deny', reason);
      onDecided();
    },
  });
}

function card(item: Approval, me: string, onDecided: () => void): HTMLElement {
  return h(
    'article',
    { class: ['card', item.phase === 'Pending' && 'card-pending'], 'data-testid': 'approval', 'data-name': `${item.namespace}/${item.name}` },
    h(
      'div',
      { class: 'card-head' },
      badge(item.phase, phaseTones[item.phase] ?? 'muted'),
      h('span', { class: 'kind' }, item.kind === 'grant' ? 'Grant' : 'Request'),
      link(`/approvals/${encodeURIComponent(item.namespace)}/${encodeURIComponent(item.name)}`, `${item.namespace}/${item.name}`),
      h('span', { class: 'dim', title: time(item.created) }, relative(item.created)),
    ),
    what(item),
    facts([
      ['Requester', item.requester],
      ['Subject', item.subject],
      ['Policy', item.policy],
      ['Rule', item.rule ? h('code', {}, item.rule) : undefined],
      ['Reason', item.reason ? h('span', { class: 'quote' }, item.reason) : undefined],
    ]),
    decisionsList(item),
    decision(item, me, onDecided),
  );
}

/** How often the list is read again: new requests appear, and a decision's outcome shows without a reload. */
const refreshMs = 3_000;

export function approvalsPage(root: HTMLElement, context: PageContext): () => void {
  const [namespace, name] = context.params;
  const single = namespace !== undefined && name !== undefined;
  const list = h('div', { class: 'cards' }, h('p', { class: 'dim' }, 'Loading…'));
  replace(root, h('div', { class: 'page-head' }, h('h1', {}, single ? `Approval ${namespace}/${name}` : 'Approvals'), single ? link('/approvals', '← all approvals') : null), list);
  const onDecided = () => {
    context.refreshNav();
    void load();
  };
  // a reason being typed is never wiped by a refresh
  const typing = () => [...list.querySelectorAll('input')].some((input) => input.value !== '' || input === document.activeElement);
  const load = () =>
    api
      .approvals()
      .then(({ items }) => {
        const shown = single ? items.filter((item) => item.namespace === namespace && item.name === name) : items;
        if (shown.length === 0) return replace(list, h('p', { class: 'empty' }, single ? `No ApprovalRequest ${namespace}/${name}.` : 'No approval requests.'));
        const pending = shown.filter((item) => item.phase === 'Pending');
        const done = shown.filter((item) => item.phase !== 'Pending');
        replace(
          list,
          single ? null : h('h2', {}, pending.length > 0 ? `Pending (${pending.length})` : 'Pending'),
          pending.length > 0 || single ? pending.map((item) => card(item, context.me.user, onDecided)) : h('p', { class: 'empty' }, 'Nothing waits for a decision.'),
          done.length > 0 && !single ? h('h2', {}, 'Decided') : null,
          done.map((item) => card(item, context.me.user, onDecided)),
        );
      })
      .catch((error: unknown) => replace(list, errorBox(error)));
  void load();
  const timer = setInterval(() => {
    if (!typing()) void load().then(context.refreshNav);
  }, refreshMs);
  return () => clearInterval(timer);
}
