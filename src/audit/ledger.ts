/**
 * Reading the access ledger (src/recording/ledger.ts): an object's chain found from what a recording knows
 * of it — namespace, name, often its uid, and a time by which it existed.
 *
 * A chain's folder is dated by the object's creation, which a recording does not know; an object
 * existed by the time a session used it, so its folder is on that day or an earlier one: the days are
 * listed backwards from there, at most `lookbackDays` (a grant lasts at most 168h once Active, and waits
 * for approval at most the ApprovalRequest's lifetime, 1h by default: 31 days leave room for a grant
 * that waited long for its policy).
 */
import { chainProblems, namePrefix, readEntries, type LedgerEntry, type LedgerKind, type StoredEntry } from '../recording/ledger.js';
import type { RecordingStore } from '../recording/store.js';

export const lookbackDays = 31;

export interface LedgerChain {
  entries: LedgerEntry[];
  /** The chain's own problems: a hole, a previousSha256 that does not match (an entry removed or changed). */
  problems: string[];
}

export interface ChainQuery {
  kind: LedgerKind;
  namespace: string;
  name: string;
  /** Without a uid: the newest object of that name created by `existedAt`. */
  uid?: string;
}

/** The chain of the object, or undefined when the ledger has none within the lookback. */
export async function findChain(store: RecordingStore, query: ChainQuery, existedAt: Date | string, days = lookbackDays): Promise<LedgerChain | undefined> {
  const existed = new Date(existedAt);
  for (let day = 0; day <= days; day++) {
    const stored = await readEntries(store, namePrefix(query, new Date(existed.getTime() - day * 86_400_000).toISOString()));
    const chains = new Map<string, StoredEntry[]>();
    for (const entry of stored) chains.set(entry.entry.uid, [...(chains.get(entry.entry.uid) ?? []), entry]);
    // by uid when known; else the newest object of that name that existed by then
    const candidates = [...chains.values()]
      .filter((chain) => (query.uid ? chain[0]!.entry.uid === query.uid : Date.parse(chain[0]!.entry.createdAt) <= existed.getTime()))
      .sort((a, b) => Date.parse(b[0]!.entry.createdAt) - Date.parse(a[0]!.entry.createdAt));
    const chain = candidates[0];
    if (chain) return { entries: chain.map((s) => s.entry), problems: chainProblems(chain) };
  }
  return undefined;
}

/** The latest entry of that event in the chain. */
export function lastOf<E extends LedgerEntry['event']>(chain: LedgerChain, event: E): LedgerEntry | undefined {
  return chain.entries.filter((entry) => entry.event === event).at(-1);
}

/** What a grant's chain says it made while Active: its bindings, and the identity the gateway used. */
export interface RecordedAccess {
  bindings: NonNullable<LedgerEntry['bindings']>;
  subject: { kind: string; name: string; namespace?: string };
  activatedAt: string;
  problems: string[];
}

/** The access the ledger recorded for the grant; a reason when it cannot tell. */
export async function recordedAccess(store: RecordingStore, grant: { namespace: string; name: string; uid: string }, existedAt: string): Promise<RecordedAccess | { missing: string }> {
  const chain = await findChain(store, { kind: 'AccessGrant', ...grant }, existedAt);
  if (!chain) return { missing: `the access ledger in ${store.url} has no chain for AccessGrant ${grant.namespace}/${grant.name} (uid ${grant.uid})` };
  const activated = lastOf(chain, 'activated');
  const created = lastOf(chain, 'created');
  if (!activated?.bindings || !created?.subject) return { missing: `the ledger of AccessGrant ${grant.namespace}/${grant.name} records no activation` };
  return { bindings: activated.bindings, subject: created.subject, activatedAt: activated.at, problems: chain.problems };
}
