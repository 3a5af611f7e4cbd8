/**
 * `/sessions/ID`: one recorded session — who, under which grant, whether its recording is intact,
 * every API call with the policy's decision and the rule that made it, approvals, the terminal of each
 * exec and attach played back, and what each port-forward carried.
 */
import { api, query, type Body, type SessionDetail, type SessionRow, type TimelineEntry, type Verification } from '../api.js';
import { badge, errorBox, facts, h, link, replace, type Child } from '../dom.js';
import { clock, duration, time } from '../format.js';
import { castRows } from '../text.js';
import type { PageContext } from '../router.js';

type Api = Extract<TimelineEntry, { kind: 'api' }>;
type StreamKind = 'exec' | 'attach' | 'portforward';

interface Stream {
  id: string;
  kind: StreamKind;
  call: string;
  command?: string[];
  opened: string;
  closed?: Extract<TimelineEntry, { kind: 'stream-close' }>;
}

const tones: Record<string, 'ok' | 'bad' | 'warn' | 'muted'> = { Allow: 'ok', Deny: 'bad', RequireApproval: 'warn' };

function verificationBadge(result: Verification): HTMLElement {
  const size = result.segments !== undefined ? ` (${result.segments} segment${result.segments === 1 ? '' : 's'}, ${result.events ?? 0} events)` : '';
  if (result.status === 'intact') return h('div', { class: 'verification', 'data-testid': 'verification' }, badge('✓ intact', 'ok'), h('span', { class: 'dim' }, ` every segment matches its manifest and the hash chain${size}`));
  if (result.status === 'open') return h('div', { class: 'verification', 'data-testid': 'verification' }, badge('open', 'muted'), h('span', { class: 'dim' }, ' not verified yet: the hash chain is checked once the session ends'));
  return h(
    'div',
    { class: ['verification', 'verification-tampered'], 'data-testid': 'verification', role: 'alert' },
    badge('✗ tampered', 'bad'),
    h('span', {}, ' this recording does not match what was written:'),
    h('ul', {}, result.problems.map((problem) => h('li', {}, problem))),
    h('div', {}, 'What the timeline and the players below show may not be what happened.'),
  );
}

function summary(session: SessionRow, counts: SessionDetail['counts']): HTMLElement {
  return facts([
    ['Subject', session.subject],
    // the grant may be gone: its ledger is found by the name it had when the session started
    ['Grant', link(`/grants/${session.grant.split('/').map(encodeURIComponent).join('/')}${query({ at: session.started })}`, session.grant)],
    ['Policy', session.policy],
    ['Client', session.client ? h('code', {}, session.client) : undefined],
    ['Started', time(session.started)],
    session.open ? ['State', [badge('open', 'info'), h('span', { class: 'dim' }, ' still recording: a session ends once its client has been idle a minute, or its gateway stops')]] : ['Ended', `${time(session.ended)} (${duration(session.started, session.ended)})`],
    ['Requests', counts ? [String(counts.requests), counts.denied > 0 ? h('span', { class: 'denied' }, `, ${counts.denied} denied`) : null] : undefined],
    ['Streams', counts?.streams],
    ['Writers', session.writers > 1 ? `${session.writers} gateway workers` : undefined],
  ]);
}

/** The streams of the session, their kind read from the API call that opened them. */
function streamsOf(timeline: TimelineEntry[]): Stream[] {
  const calls = new Map<string, string>();
  const streams = new Map<string, Stream>();
  for (const entry of timeline) {
    if (entry.kind === 'api') calls.set(entry.requestId, entry.call);
    if (entry.kind === 'stream-open') {
      const call = calls.get(entry.requestId) ?? '';
      const kind: StreamKind = /\/portforward\b/.test(call) ? 'portforward' : /\/attach\b/.test(call) ? 'attach' : 'exec';
      streams.set(entry.requestId, { id: entry.requestId, kind, call, opened: entry.time, ...(entry.command ? { command: entry.command } : {}) });
    }
    if (entry.kind === 'stream-close') {
      const stream = streams.get(entry.requestId);
      if (stream) stream.closed = entry;
    }
  }
  return [...streams.values()];
}

function bytes(n: number): string {
  return n < 1024 ? `${n} B` : n < 1024 * 1024 ? `${(n / 1024).toFixed(1)} KiB` : `${(n / 1024 / 1024).toFixed(1)} MiB`;
}

let playerScript: Promise<void> | undefined;

/** asciinema-player's bundle, loaded the first time a page plays a terminal (it compiles WebAssembly: no page needs it but this one). */
function loadPlayer(): Promise<void> {
  return (playerScript ??= new Promise<void>((resolve, reject) => {
    const script = h('script', { src: '/assets/asciinema-player/asciinema-player.min.js' });
    script.addEventListener('load', () => resolve());
    script.addEventListener('error', () => {
      playerScript = undefined;
      reject(new Error('the terminal player could not be loaded'));
    });
    document.head.append(script);
  }));
}

function streamCard(sessionId: string, stream: Stream, players: AsciinemaPlayerInstance[]): HTMLElement {
  const title = stream.kind === 'portforward' ? `port-forward ${stream.call.replace(/^\S+\s+\S+\s*/, '')}` : `${stream.kind}${stream.command ? `: ${stream.command.join(' ')}` : ''}`;
  const closed = stream.closed ? `${clock(stream.closed.time)} ${stream.closed.reason}` : 'still open';
  const head = h('div', { class: 'stream-head' }, h('code', { class: 'stream-title' }, title), h('span', { class: 'dim' }, `${clock(stream.opened)} → ${closed}`));
  const counts = Object.entries(stream.closed?.bytes ?? {});
  const sizes = counts.length > 0 ? h('ul', { class: 'byte-counts' }, counts.map(([channel, n]) => h('li', {}, `${channel}: `, h('strong', {}, bytes(n))))) : null;
  if (stream.kind === 'portforward') return h('section', { class: 'stream', 'data-testid': 'portforward' }, head, sizes ?? h('p', { class: 'dim' }, 'no bytes recorded'));
  const screen = h('div', { class: 'player', 'data-testid': 'player' });
  Promise.all([api.cast(sessionId, stream.id), loadPlayer()])
    .then(([cast]) => screen.isConnected && players.push(AsciinemaPlayer.create({ data: cast }, screen, { fit: 'width', rows: castRows(cast), idleTimeLimit: 2, poster: 'npt:0:0.5' })))
    .catch((error: unknown) => replace(screen, errorBox(`This terminal cannot be played: ${error instanceof Error ? error.message : String(error)}`)));
  return h('section', { class: 'stream', 'data-testid': 'terminal' }, head, screen, sizes);
}

/** A JSON text indented; any other text (or JSON cut short) as it is. */
function pretty(body: Body): string {
  const text = body.text ?? '';
  if (body.cut || !/json/i.test(body.contentType ?? 'json')) return text;
  try {
    return JSON.stringify(JSON.parse(text), null, 2);
  } catch {
    return text;
  }
}

/** One side's body, folded: its type and size on the summary line, the masked text (or why none) inside. */
function bodyDetails(sessionId: string, requestId: string, side: 'request' | 'response', body: Body | undefined): HTMLElement | null {
  if (!body) return null;
  const size = `${bytes(body.bytes)}${body.totalBytes ? ` of ${bytes(body.totalBytes)} (the gateway recorded the first part)` : ''}`;
  const head = h('summary', {}, `${side} body`, h('span', { class: 'dim' }, ` · ${body.contentType ?? 'no content type'} · ${size}`));
  if (body.text === undefined) return h('details', { class: 'body' }, head, h('p', { class: 'dim' }, 'Recorded as bytes, not text (protobuf, CBOR): not shown.'));
  const whole = h('a', { href: api.bodyUrl(sessionId, requestId, side), target: '_blank', rel: 'noopener' }, 'the whole body');
  return h('details', { class: 'body', 'data-testid': `${side}-body` }, head, h('pre', {}, pretty(body)), body.cut ? h('p', { class: 'notice' }, `Only the first ${bytes(new TextEncoder().encode(body.text).length)} are shown: open `, whole, '.') : null);
}

function apiRow(sessionId: string, entry: Api): Child[] {
  const more = [
    entry.message && entry.action !== 'Allow' ? h('div', { class: 'message' }, entry.message) : null,
    entry.approval ? h('div', { class: 'approval' }, '✓ ', entry.approval) : null,
    bodyDetails(sessionId, entry.requestId, 'request', entry.requestBody),
    bodyDetails(sessionId, entry.requestId, 'response', entry.responseBody),
  ];
  return [
    h('td', {}, h('code', {}, entry.call), entry.object ? [' ', link(`/history${query({ ...entry.object })}`, 'history')] : null, more),
    h('td', { class: 'nowrap' }, entry.action ? badge(entry.action, tones[entry.action] ?? 'muted') : null, entry.rule ? h('div', { class: 'rule' }, entry.rule) : null),
    h('td', { class: ['num', entry.status !== undefined && entry.status >= 400 && 'denied'] }, entry.status ?? '…', entry.durationMs !== undefined ? h('div', { class: 'dim' }, `${entry.durationMs} ms`) : null),
  ];
}

/** One timeline entry as a table row: what happened, the decision and rule, the status. */
function timelineRow(sessionId: string, entry: TimelineEntry): HTMLElement {
  const cells = ((): Child[] => {
    switch (entry.kind) {
      case 'api':
        return apiRow(sessionId, entry);
      case 'decision':
        return [h('td', {}, h('span', { class: 'dim' }, 'stdin: '), entry.message, entry.approval ? h('div', { class: 'approval' }, '✓ ', entry.approval) : null), h('td', {}, badge(entry.action, tones[entry.action] ?? 'muted'), entry.rule ? h('div', { class: 'rule' }, entry.rule) : null), h('td', {})];
      case 'stream-open':
        return [h('td', { colspan: 3 }, h('span', { class: 'dim' }, 'stream opened '), entry.command ? h('code', {}, entry.command.join(' ')) : entry.protocol)];
      case 'stream-line':
        return [h('td', { colspan: 3 }, h('span', { class: ['channel', `channel-${entry.channel}`] }, entry.channel), h('code', { class: 'line' }, entry.line))];
      case 'stream-close':
        return [h('td', { colspan: 3 }, h('span', { class: 'dim' }, 'stream closed: '), entry.reason)];
      case 'gap':
        return [h('td', { colspan: 3, class: 'gap' }, `⚠ events missing after #${entry.afterSeq}: ${entry.reason}${entry.writer ? ` (writer ${entry.writer})` : ''}`)];
      case 'session-start':
        return [h('td', { colspan: 3 }, h('strong', {}, 'session started'), ` by ${entry.subject} under ${entry.grant}`, entry.client.userAgent ? h('span', { class: 'dim' }, ` · ${entry.client.userAgent}`) : null, entry.client.address ? h('span', { class: 'dim' }, ` from ${entry.client.address}`) : null)];
      case 'writer-start':
        return [h('td', { colspan: 3, class: 'dim' }, `gateway worker ${entry.writer} joined`)];
      case 'writer-end':
        return [h('td', { colspan: 3, class: 'dim' }, `gateway worker ${entry.writer} left: ${entry.reason}`)];
      case 'session-end':
        return [h('td', { colspan: 3 }, h('strong', {}, 'session ended'), `: ${entry.reason}`)];
    }
  })();
  return h('tr', { class: `entry-${entry.kind}` }, h('td', { class: ['nowrap', 'dim'] }, clock(entry.time)), cells);
}

function timelineTable(sessionId: string, timeline: TimelineEntry[]): HTMLElement {
  return h(
    'table',
    { class: ['list', 'timeline'], 'data-testid': 'timeline' },
    h('thead', {}, h('tr', {}, ['Time', 'Request', 'Decision · rule', 'Status'].map((label) => h('th', {}, label)))),
    h('tbody', {}, timeline.map((entry) => timelineRow(sessionId, entry))),
  );
}

export function sessionPage(root: HTMLElement, context: PageContext): () => void {
  const id = context.params[0] ?? '';
  const verification = h('div', { class: 'verification' }, badge('verifying…', 'muted'));
  const body = h('div', {}, h('p', { class: 'dim' }, 'Loading…'));
  replace(root, h('div', { class: 'page-head' }, h('h1', {}, 'Session ', h('code', {}, id)), link('/', '← all sessions')), verification, body);
  const players: AsciinemaPlayerInstance[] = [];
  api.verify(id).then((result) => verification.replaceWith(verificationBadge(result))).catch((error: unknown) => replace(verification, errorBox(error)));
  api
    .session(id)
    .then(({ session, counts, timeline, truncated, error }) => {
      const streams = streamsOf(timeline);
      replace(
        body,
        summary(session, counts),
        streams.length > 0 ? [h('h2', {}, 'Streams'), h('div', { class: 'streams' }, streams.map((stream) => streamCard(id, stream, players)))] : null,
        h('h2', {}, 'Timeline'),
        error ? errorBox(error) : null,
        timelineTable(id, timeline),
        truncated ? h('p', { class: 'notice' }, `The timeline stops here, after ${timeline.length} entries; the terminal players above play the streams in full.`) : null,
      );
    })
    .catch((error: unknown) => replace(body, errorBox(error)));
  return () => players.forEach((player) => player.dispose());
}
