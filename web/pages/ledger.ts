/**
 * `/grants/NS/NAME[?at=TIME]`: a grant's access ledger — who asked, who decided, the bindings it made,
 * when it ended — and its ApprovalRequest's, from the store, whether or not the objects still exist.
 * A chain with a hole, a changed entry or a bad signature is flagged as the session page flags a
 * tampered recording.
 */
import { api, ApiError, type LedgerChain, type LedgerEntry } from '../api.js';
import { badge, errorBox, facts, h, link, replace, type Child } from '../dom.js';
import { accessLines, nameOf, time } from '../format.js';
import type { PageContext } from '../router.js';

const eventTones: Record<string, 'ok' | 'bad' | 'warn' | 'muted' | 'info'> = { created: 'info', decision: 'info', approved: 'ok', activated: 'ok', denied: 'bad', revoked: 'warn', expired: 'muted', deleted: 'muted' };

function integrity(chain: LedgerChain, what: string): HTMLElement {
  const signers = [...new Set(chain.entries.map((entry) => entry.signedBy).filter(Boolean))];
  if (chain.problems.length === 0) {
    const signed = signers.length > 0 ? `, signed by ${signers.join(', ')}` : ', unsigned';
    return h('div', { class: 'verification', 'data-testid': 'ledger-integrity' }, badge('✓ intact', 'ok'), h('span', { class: 'dim' }, ` ${chain.entries.length} entries of ${what}, each hash-chained to the one before${signed}`));
  }
  return h(
    'div',
    { class: ['verification', 'verification-tampered'], 'data-testid': 'ledger-integrity', role: 'alert' },
    badge('✗ tampered', 'bad'),
    h('span', {}, ` the ledger of ${what} does not match what was written:`),
    h('ul', {}, chain.problems.map((problem) => h('li', {}, problem))),
  );
}

/** What an entry says beyond its event, in words. */
function details(entry: LedgerEntry): Child[] {
  const decision = entry.decision ? badge(entry.decision === 'Approve' ? 'approved' : 'denied', entry.decision === 'Approve' ? 'ok' : 'bad') : null;
  return [
    decision,
    entry.subject ? h('div', {}, 'for ', h('strong', {}, nameOf(entry.subject))) : null,
    entry.access ? h('ul', { class: 'access' }, accessLines(entry.access).map((line) => h('li', {}, h('code', {}, line)))) : null,
    entry.duration ? h('div', { class: 'dim' }, `for ${entry.duration}`) : null,
    entry.bindings ? h('ul', { class: 'access' }, entry.bindings.map((b) => h('li', {}, h('code', {}, `${b.kind} ${b.namespace ? `${b.namespace}/` : ''}${b.name} → ${b.roleRef.kind} ${b.roleRef.name}`)))) : null,
    entry.event === 'activated' && entry.expiresAt ? h('div', { class: 'dim' }, `until ${time(entry.expiresAt)}`) : null,
    entry.pullRequest ? h('div', {}, 'pull request ', h('code', {}, entry.pullRequest.url)) : null,
    entry.reason ? h('div', { class: 'quote' }, entry.reason) : null,
    entry.message && !entry.reason ? h('div', { class: 'dim' }, entry.message) : null,
  ];
}

function entriesTable(chain: LedgerChain): HTMLElement {
  return h(
    'table',
    { class: ['list', 'ledger'], 'data-testid': 'ledger' },
    h('thead', {}, h('tr', {}, ['Time', 'Event', 'By', 'What', 'Signed'].map((label) => h('th', {}, label)))),
    h(
      'tbody',
      {},
      chain.entries.map((entry) =>
        h(
          'tr',
          { 'data-event': entry.event },
          h('td', { class: 'nowrap', title: `recorded ${time(entry.recordedAt)}` }, time(entry.at)),
          h('td', {}, badge(entry.event, eventTones[entry.event] ?? 'muted')),
          h('td', {}, entry.actor ?? h('span', { class: 'dim' }, 'the operator')),
          h('td', {}, details(entry)),
          // the key is named once above the table; here only whether this entry carries a signature
          h('td', { title: entry.signedBy ? `signed by ${entry.signedBy}` : 'no signature' }, entry.signedBy ? badge('✓ signed', 'ok') : badge('unsigned', 'muted')),
        ),
      ),
    ),
  );
}

export function ledgerPage(root: HTMLElement, context: PageContext): void {
  const [namespace = '', name = ''] = context.params;
  const body = h('div', {}, h('p', { class: 'dim' }, 'Loading…'));
  replace(root, h('div', { class: 'page-head' }, h('h1', {}, 'Grant ', h('code', {}, `${namespace}/${name}`)), link('/grants', '← active grants')), body);
  api
    .ledger(namespace, name, context.query.get('at') ?? undefined)
    .then((ledger) => {
      const created = ledger.entries.find((entry) => entry.event === 'created');
      const approval = ledger.approval;
      replace(
        body,
        facts([
          ['Subject', created?.subject ? nameOf(created.subject) : undefined],
          ['Requested by', created?.actor],
          ['Policy', created?.policy],
          ['Reason', created?.reason ? h('span', { class: 'quote' }, created.reason) : undefined],
          ['UID', ledger.uid ? h('code', { class: 'dim' }, ledger.uid) : undefined],
        ]),
        h('h2', {}, 'Access ledger'),
        integrity(ledger, 'this grant'),
        entriesTable(ledger),
        approval ? h('h2', {}, 'ApprovalRequest ', h('code', {}, approval.name)) : null,
        approval && 'missing' in approval ? h('p', { class: 'notice' }, approval.missing) : null,
        approval && 'entries' in approval ? [integrity(approval, 'its ApprovalRequest'), entriesTable(approval)] : null,
      );
    })
    .catch((error: unknown) =>
      // a policy without storage keeps no ledger: a word, not an alarm
      replace(body, error instanceof ApiError && error.status === 404 ? h('p', { class: 'empty', 'data-testid': 'no-ledger' }, error.message) : errorBox(error)),
    );
}
