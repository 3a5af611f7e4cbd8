/**
 * The one selection language of the audit commands (`sessions list`, `sessions search`, `history`, and
 * next `replay` and `report`): the same flags mean the same thing everywhere.
 *
 *   --subject NAME|NS/NAME  --grant NAME|NS/NAME  --namespace NS      who, under what, where
 *   --verb VERB  --resource RES  --name NAME                          which call (`po`, `pod`, `pods/exec` as kubectl takes them)
 *   --decision ACTION  --rule RULE  --exit-code N                     how it was judged and how it ended
 *
 * A session is selected when one of its calls matches every call criterion (and its subject and grant
 * match). What a session's index holds (subject, grant, namespaces, verbs, resources, decisions) is
 * checked first, without opening it; a name, a rule or an exit code are only in its calls, so a
 * selection with one of those follows the session's calls (`CallTracker`, the same code that writes
 * the per-object index). A create counts under the name of the object it made, taken from its bodies.
 */
import type { Command } from 'commander';
import { CallTracker, type ObjectIndexEntry } from '../recording/object-index.js';
import { subjectName, type SessionIndex } from '../recording/format.js';
import { canonicalResource } from './api-call.js';
import type { SessionEvent } from './reader.js';

export interface Selection {
  subject?: string;
  grant?: string;
  namespace?: string;
  verb?: string;
  resource?: string;
  name?: string;
  decision?: string;
  rule?: string;
  exitCode?: number;
}

/** The flags as commander parses them (`--exit-code` still text). */
export type SelectionFlags = Omit<Selection, 'exitCode'> & { exitCode?: string };

/** "sessions with a call of this verb", "calls of this verb". */
const viaCall = (what: string) => (what === 'calls' ? '' : ' with a call');

const flagHelp: Array<[keyof Selection, string, (what: string) => string]> = [
  ['subject', '--subject <name>', (what) => `${what} of this subject (name, or namespace/name for a ServiceAccount)`],
  ['grant', '--grant <name>', (what) => `${what} under this AccessGrant (name or namespace/name)`],
  ['namespace', '--namespace <namespace>', (what) => `${what} with a request in this namespace`],
  ['verb', '--verb <verb>', (what) => `${what}${viaCall(what)} of this verb (get, create, patch, delete…)`],
  ['resource', '--resource <resource>', (what) => `${what}${viaCall(what)} on this resource (pods, po, deployments, pods/exec…)`],
  ['name', '--name <name>', (what) => `${what}${viaCall(what)} on an object of this name (a create: the object it made)`],
  ['decision', '--decision <action>', (what) => `${what}${viaCall(what)} decided so (Allow, Deny, RequireApproval)`],
  ['rule', '--rule <rule>', (what) => `${what}${viaCall(what)} decided by this policy rule`],
  ['exitCode', '--exit-code <n>', (what) => `${what}${what === 'calls' ? ' of an exec' : ' with an exec'} whose command exited with this code`],
];

/** Adds the selection flags to a command (`what`: "sessions" or "calls", for the help), but those in `except` (a command that says it another way). */
export function selectionOptions(command: Command, what: string, except: Array<keyof Selection> = []): Command {
  for (const [key, flag, help] of flagHelp) if (!except.includes(key)) command.option(flag, help(what));
  return command;
}

export function selectionFrom(flags: SelectionFlags): Selection {
  const { exitCode, ...rest } = flags;
  const selection: Selection = {};
  for (const key of ['subject', 'grant', 'namespace', 'verb', 'resource', 'name', 'decision', 'rule'] as const) if (rest[key] !== undefined) selection[key] = rest[key];
  if (exitCode !== undefined) {
    if (!/^\d+$/.test(exitCode)) throw new Error(`--exit-code must be a number ≥ 0, got "${exitCode}"`);
    selection.exitCode = Number(exitCode);
  }
  return selection;
}

const callCriteria = ['namespace', 'verb', 'resource', 'name', 'decision', 'rule', 'exitCode'] as const;

/** The selection names something only a session's calls say (not its index). */
export function needsCalls(selection: Selection): boolean {
  return selection.name !== undefined || selection.rule !== undefined || selection.exitCode !== undefined;
}

/** The selection has criteria on calls, not only on sessions. */
export function selectsCalls(selection: Selection): boolean {
  return callCriteria.some((key) => selection[key] !== undefined);
}

const same = (a: string, b: string) => a.toLowerCase() === b.toLowerCase();

function subjectMatches(wanted: string, subject: string): boolean {
  return wanted === subject || wanted.replace('/', '.') === subject;
}

function grantMatches(wanted: string, grant: string): boolean {
  return wanted === grant || grant.endsWith(`/${wanted}`) || wanted.replace('.', '/') === grant;
}

function resourceMatches(wanted: string, call: Pick<ObjectIndexEntry, 'resource' | 'subresource'>): boolean {
  const [resource, subresource] = wanted.split('/', 2) as [string, string | undefined];
  return canonicalResource(resource) === call.resource && (subresource === undefined || subresource === call.subresource);
}

/** Whether one call (an object index entry, or a call a reader followed) matches every criterion given. */
export function callMatches(call: ObjectIndexEntry, selection: Selection): boolean {
  const { subject, grant, namespace, verb, resource, name, decision, rule, exitCode } = selection;
  if (subject !== undefined && !subjectMatches(subject, call.subject)) return false;
  if (grant !== undefined && !grantMatches(grant, call.grant)) return false;
  if (namespace !== undefined && call.namespace !== namespace && !(call.resource === 'namespaces' && call.name === namespace)) return false;
  if (verb !== undefined && !same(verb, call.verb)) return false;
  if (resource !== undefined && !resourceMatches(resource, call)) return false;
  if (name !== undefined && call.name !== name) return false;
  if (decision !== undefined && !same(decision, call.decision)) return false;
  if (rule !== undefined && call.rule !== rule) return false;
  return exitCode === undefined || call.exitCode === exitCode;
}

function named(wanted: string, ref: { name: string; namespace?: string }): boolean {
  return wanted === ref.name || (ref.namespace !== undefined && (wanted === `${ref.namespace}/${ref.name}` || wanted === `${ref.namespace}.${ref.name}`));
}

/** What a session's index can say: false only when no call of the session can match. */
export function sessionMayMatch(index: SessionIndex, selection: Selection): boolean {
  const { subject, grant, namespace, verb, resource, decision } = selection;
  if (subject !== undefined && !named(subject, index.subject)) return false;
  if (grant !== undefined && !named(grant, index.grant)) return false;
  if (namespace !== undefined && !index.namespaces.includes(namespace)) return false;
  if (verb !== undefined && !index.verbs.includes(verb)) return false;
  if (resource !== undefined && !index.resources.some((seen) => canonicalResource(seen) === canonicalResource(resource))) return false;
  return decision === undefined || index.decisions.some((seen) => same(seen, decision));
}

/**
 * Follows a session's events and says which of its calls the selection picks. `hold` keeps what a
 * reader found in a call (search matches) until the call has ended and can be judged, then releases it
 * or drops it; things outside any call (the session's command line) pass as they come.
 */
export class SelectedCalls<T> {
  private readonly tracker: CallTracker;
  private readonly held = new Map<string, T[]>();
  private readonly active: boolean;
  matched = 0;

  constructor(
    private readonly selection: Selection,
    index: Pick<SessionIndex, 'sessionId' | 'subject' | 'grant' | 'v'>,
  ) {
    this.active = selectsCalls(selection);
    const grant = `${index.grant.namespace}/${index.grant.name}`;
    this.tracker = new CallTracker({ v: index.v, session: index.sessionId, writer: '', subject: subjectName(index.subject), grant }, [], false);
  }

  /** Follows `event`; returns what may be shown now: `found` (what the event matched) and whatever an ended call released. */
  hold(event: SessionEvent, found: T[]): T[] {
    const requestId = 'requestId' in event ? event.requestId : undefined;
    if (event.type === 'session-start' || event.type === 'session-end' || event.type === 'gap') return found;
    const ended = this.tracker.observe({ ...event, seq: event.seq, time: event.time } as Parameters<CallTracker['observe']>[0], 0);
    if (!this.active || requestId === undefined) {
      if (ended && callMatches(ended, this.selection)) this.matched++;
      return found;
    }
    if (found.length > 0) this.held.set(requestId, [...(this.held.get(requestId) ?? []), ...found]);
    return ended ? this.judge(ended) : [];
  }

  /** The session ended: calls still open are judged as they stand. */
  end(): T[] {
    return this.tracker.endAll().flatMap((call) => this.judge(call));
  }

  private judge(call: ObjectIndexEntry): T[] {
    const kept = this.held.get(call.requestId) ?? [];
    this.held.delete(call.requestId);
    if (!callMatches(call, this.selection)) return [];
    this.matched++;
    return kept;
  }
}
