/**
 * `/live`: the sessions in progress on every gateway, followed as they happen (/api/live relays the
 * gateways' events: a snapshot, then one message per event). Each session shows its requests and
 * streams as they arrive and a tail of its exec output; "End session" revokes the session's grant and
 * closes its streams, for viewers allowed to.
 */
import { api } from '../api.js';
import { badge, h, reasonForm, replace } from '../dom.js';
import { clock, nameOf } from '../format.js';
import { plainTerminalText, requestTarget } from '../text.js';
import type { PageContext } from '../router.js';

interface LiveStream {
  stream: string;
  kind: string;
  command?: string[];
  pod: string;
  namespace: string;
}

interface LiveSession {
  session: string;
  subject: { kind: string; name: string; namespace?: string } | string;
  grant: { namespace: string; name: string } | string;
  policy: { namespace: string; name: string };
  started: string;
  worker?: number | string;
  streams: LiveStream[];
}

interface RequestEvent {
  session: string;
  time: string;
  verb: string;
  path: string;
  namespace?: string;
  resource?: string;
  name?: string;
  decision: string;
  rule?: string;
  status?: number;
}

/** Requests and output kept per session: enough to follow, bounded however long it runs. */
const keptRequests = 30;
const keptOutput = 8 * 1024;

const tones: Record<string, 'ok' | 'bad' | 'warn'> = { Allow: 'ok', Deny: 'bad', RequireApproval: 'warn' };

/** One session's card, updated in place by the events that name it. */
class SessionCard {
  readonly element: HTMLElement;
  private readonly requests = h('tbody', {});
  /** Shown from the first request on (a session opens before its first request arrives). */
  private readonly requestsTable = h('table', { class: ['list', 'compact'], hidden: true }, h('thead', {}, h('tr', {}, ['Time', 'Verb', 'Request', 'Decision', 'Status'].map((label) => h('th', {}, label)))), this.requests);
  private readonly streams = h('div', { class: 'live-streams' });
  /** Until something happens: a card of a session that opened before this page shows no request of its past. */
  private readonly quiet = h('p', { class: 'dim' }, 'No request since this page opened: its requests and streams appear here as they happen.');
  private readonly tails = new Map<string, { tail: HTMLElement; state: HTMLElement }>();
  private readonly state = badge('live', 'info');

  constructor(
    readonly info: LiveSession,
    canEnd: boolean,
    /** Ending this session revoked its grant: the other sessions of that grant are told. */
    onGrantRevoked: (grant: string) => void,
  ) {
    const end = canEnd
      ? reasonForm({
          placeholder: 'Reason (required): why this session ends now',
          buttons: [{ label: 'End session', tone: 'danger' }],
          act: async (_button, reason) => {
            const result = await api.endSession(info.session, reason);
            const unreached = result.errors?.length ? ` (not reached: ${result.errors.join('; ')})` : '';
            this.ended(`ended by you: grant ${result.grant.namespace}/${result.grant.name} revoked${unreached}`);
            onGrantRevoked(nameOf(result.grant));
          },
        })
      : null;
    this.element = h(
      'article',
      { class: ['card', 'live-session'], 'data-testid': 'live-session', 'data-session': info.session },
      h('div', { class: 'card-head' }, this.state, h('strong', {}, nameOf(info.subject)), h('span', { class: 'dim' }, `grant ${nameOf(info.grant)} · policy ${nameOf(info.policy)}`), h('span', { class: 'dim', title: info.started }, `started ${clock(info.started).slice(0, 8)}`), h('a', { href: `/sessions/${encodeURIComponent(info.session)}` }, 'recording')),
      this.quiet,
      this.requestsTable,
      this.streams,
      end,
    );
    info.streams.forEach((stream) => this.streamOpened(stream, info.started));
  }

  request(event: RequestEvent): void {
    this.requests.append(
      h('tr', {}, h('td', { class: 'dim nowrap' }, clock(event.time)), h('td', {}, event.verb), h('td', {}, h('code', { title: event.path }, requestTarget(event))), h('td', {}, badge(event.decision, tones[event.decision] ?? 'warn'), event.rule ? h('span', { class: 'rule' }, ` ${event.rule}`) : null), h('td', { class: 'num' }, event.status ?? '…')),
    );
    this.requestsTable.hidden = false;
    this.quiet.hidden = true;
    while (this.requests.children.length > keptRequests) this.requests.firstElementChild?.remove();
  }

  streamOpened(stream: LiveStream, time: string): void {
    const tail = h('pre', { class: 'tail', 'data-testid': 'live-tail' });
    const state = h('span', { class: 'dim' }, `opened ${clock(time)}`);
    const title = stream.kind === 'portforward' ? `port-forward ${stream.namespace}/${stream.pod}` : `${stream.kind} ${stream.namespace}/${stream.pod}${stream.command ? `: ${stream.command.join(' ')}` : ''}`;
    this.tails.set(stream.stream, { tail, state });
    this.quiet.hidden = true;
    this.streams.append(h('section', { class: 'stream' }, h('div', { class: 'stream-head' }, h('code', { class: 'stream-title' }, title), state), stream.kind === 'portforward' ? null : tail));
  }

  data(stream: string, channel: string, text: string): void {
    const target = this.tails.get(stream)?.tail;
    if (!target) return;
    target.append(channel === 'stdin' ? h('span', { class: 'channel-stdin' }, plainTerminalText(text)) : plainTerminalText(text));
    while ((target.textContent ?? '').length > keptOutput && target.firstChild) target.firstChild.remove();
    target.scrollTop = target.scrollHeight;
  }

  streamClosed(stream: string, time: string, reason?: string): void {
    const state = this.tails.get(stream)?.state;
    if (state) state.textContent = `closed ${clock(time)}${reason ? `: ${reason}` : ''}`;
  }

  /** Its grant was revoked from this page: it can make no request any more, so there is nothing left to end. */
  grantRevoked(): void {
    replace(this.state, 'grant revoked');
    this.state.className = 'badge badge-warn';
    this.element.querySelector('.reason-form')?.replaceWith(h('p', { class: 'notice' }, 'Its grant was revoked: this session can make no more requests, and closes once its gateway idles it out.'));
  }

  ended(reason: string): void {
    replace(this.state, 'ended');
    this.state.className = 'badge badge-muted';
    this.element.classList.add('live-ended');
    this.element.querySelector('.reason-form')?.replaceWith(h('p', { class: 'dim', 'data-testid': 'live-ended' }, reason));
  }
}

export function livePage(root: HTMLElement, context: PageContext): () => void {
  const status = h('span', { class: 'connection' }, badge('connecting…', 'muted'));
  const list = h('div', { class: 'cards' });
  const empty = h('p', { class: 'empty' }, 'No session is in progress. Sessions appear here as soon as they start.');
  replace(root, h('div', { class: 'page-head' }, h('h1', {}, 'Live sessions'), status), list);
  if (!context.me.can.watchSessions) {
    replace(list, h('p', { class: 'empty' }, 'You may not watch live sessions (RBAC: watch on sessions.kubegate.dev).'));
    return () => undefined;
  }
  const cards = new Map<string, SessionCard>();
  const show = () => (cards.size === 0 ? list.replaceChildren(empty) : empty.remove());
  const add = (info: LiveSession) => {
    const card = new SessionCard(info, context.me.can.endSessions, (grant) => {
      for (const other of cards.values()) if (other !== card && nameOf(other.info.grant) === grant) other.grantRevoked();
    });
    cards.set(info.session, card);
    list.prepend(card.element);
    show();
  };
  const source = new EventSource('/api/live');
  const on = <T extends { session: string }>(type: string, handle: (card: SessionCard, data: T) => void) =>
    source.addEventListener(type, (message) => {
      const data = JSON.parse((message as MessageEvent<string>).data) as T;
      const card = cards.get(data.session);
      if (card) handle(card, data);
    });
  source.addEventListener('open', () => replace(status, badge('● following', 'ok')));
  source.addEventListener('error', () => replace(status, badge('reconnecting…', 'warn')));
  source.addEventListener('gateway-error', (message) => {
    const { gateway, error } = JSON.parse((message as MessageEvent<string>).data) as { gateway: string; error: string };
    replace(status, h('span', { title: error }, badge(`gateway ${gateway} unreachable`, 'warn')));
  });
  source.addEventListener('snapshot', (message) => {
    const { sessions } = JSON.parse((message as MessageEvent<string>).data) as { sessions: LiveSession[] };
    cards.clear();
    list.replaceChildren();
    sessions.forEach(add);
    show();
  });
  source.addEventListener('session-start', (message) => {
    const data = JSON.parse((message as MessageEvent<string>).data) as Omit<LiveSession, 'started' | 'streams'> & { time: string };
    if (!cards.has(data.session)) add({ ...data, started: data.time, streams: [] });
  });
  on<RequestEvent>('request', (card, data) => card.request(data));
  on<LiveStream & { session: string; time: string }>('stream-open', (card, data) => card.streamOpened(data, data.time));
  on<{ session: string; stream: string; channel: string; text: string }>('stream-data', (card, data) => card.data(data.stream, data.channel, data.text));
  on<{ session: string; stream: string; time: string; reason?: string }>('stream-close', (card, data) => card.streamClosed(data.stream, data.time, data.reason));
  on<{ session: string; time: string; reason?: string }>('session-end', (card, data) => card.ended(`ended ${clock(data.time)}${data.reason ? `: ${data.reason}` : ''}`));
  return () => source.close();
}
