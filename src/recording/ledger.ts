/**
 * The access ledger: each AccessGrant's and ApprovalRequest's lifecycle, kept in the recording store
 * beside the sessions it authorised, so the audit trail outlives the objects (FORMAT.md, "The access
 * ledger"). One chain per object uid, one JSON object per file:
 *
 *   ledger/YYYY/MM/DD/<namespace>/<resource>/<name>/<uid>/<seq>.json
 *
 * dated by the object's creation (UTC), so a chain is one prefix listing. Each entry carries the SHA-256
 * of the previous entry's bytes. Appending is level-triggered and idempotent: the writer states every
 * entry the object's state calls for (`LedgerFacts`, each with an `id` unique in its chain), reads the
 * chain, and writes only those whose id is not in it yet, in order, continuing its `seq` and hashes — a
 * reconcile repeated after a crash finds what it wrote and neither duplicates nor forks.
 */
import { createHash } from 'node:crypto';
import { KeyRing, signedPayload, type Signature, type Signer } from '../pki/signing.js';
import { evidenceDefaults, publishKey } from './evidence.js';
import { encodeKeySegment } from './key-segment.js';
import type { PutOptions, RecordingStore } from './store.js';

export const ledgerSchema = 'kubegate.ledger/v1';

export type LedgerResource = 'accessgrants' | 'approvalrequests';
export type LedgerKind = 'AccessGrant' | 'ApprovalRequest';
export type LedgerEvent = 'created' | 'decision' | 'approved' | 'denied' | 'expired' | 'activated' | 'revoked' | 'deleted';

export const ledgerResources: Record<LedgerKind, LedgerResource> = { AccessGrant: 'accessgrants', ApprovalRequest: 'approvalrequests' };

/** The object a chain is about. */
export interface LedgerObject {
  kind: LedgerKind;
  namespace: string;
  name: string;
  uid: string;
  /** Its creationTimestamp (RFC 3339): the date in the chain's key. */
  createdAt: string;
}

export interface LedgerBinding {
  kind: 'RoleBinding' | 'ClusterRoleBinding';
  namespace?: string;
  name: string;
  roleRef: { kind: 'Role' | 'ClusterRole'; name: string };
  subjects: Array<{ kind: string; name: string; namespace?: string }>;
}

export interface LedgerPullRequest {
  url: string;
  author?: string;
  approvers?: string[];
  mergedAt?: string;
}

/** What an entry says, before the chain places it (`seq`, `previousSha256`, `recordedAt`). */
export interface LedgerFacts extends LedgerObject {
  /** Unique in the chain: `created`, `decision-N`, `activated`… */
  id: string;
  event: LedgerEvent;
  /** When it happened, as the object says. */
  at: string;
  policy?: string;
  actor?: string;
  message?: string;
  // created
  /** An AccessGrant's subject. */
  subject?: { kind: string; name: string; namespace?: string };
  /** An ApprovalRequest's subject: a name (one type per field, so a table engine reads every entry alike). */
  subjectName?: string;
  reason?: string;
  access?: Array<{ namespace?: string; clusterRole?: string; role?: string }>;
  duration?: string;
  expiresAt?: string;
  approvalRequired?: boolean;
  requester?: string;
  target?: { kind: string; name: string; uid?: string };
  request?: Record<string, unknown>;
  // decision
  decision?: 'Approve' | 'Deny';
  pullRequest?: LedgerPullRequest;
  // approved / denied / expired of an ApprovalRequest
  approvals?: number;
  // activated
  approvalRequest?: string;
  bindings?: LedgerBinding[];
}

export interface LedgerEntry extends LedgerFacts {
  schema: typeof ledgerSchema;
  seq: number;
  /** Hex SHA-256 of entry `seq - 1`'s bytes; null for the first. */
  previousSha256: string | null;
  recordedAt: string;
  /** Over `signedPayload('ledger-entry', entry)` by the policy's recording key; absent where the operator had none. */
  signature?: Signature;
}

const utcDate = (time: string) => new Date(time).toISOString().slice(0, 10).split('-');

/** The folder of an object's chain, ending in `/`. */
export function chainPrefix(object: LedgerObject): string {
  return `${namePrefix(object, object.createdAt)}${encodeKeySegment(object.uid)}/`;
}

/** The folder of every chain of objects of that kind and name created on the day of `day` (any uid). */
export function namePrefix(object: Pick<LedgerObject, 'kind' | 'namespace' | 'name'>, day: string): string {
  const [year, month, date] = utcDate(day);
  return `ledger/${year}/${month}/${date}/${encodeKeySegment(object.namespace)}/${ledgerResources[object.kind]}/${encodeKeySegment(object.name)}/`;
}

export function entryKey(object: LedgerObject, seq: number): string {
  return `${chainPrefix(object)}${String(seq).padStart(6, '0')}.json`;
}

/** The bytes of an entry as stored: one line of compact JSON. */
export function entryBytes(entry: LedgerEntry): Buffer {
  return Buffer.from(`${JSON.stringify(entry)}\n`);
}

export const sha256 = (bytes: Buffer) => createHash('sha256').update(bytes).digest('hex');

/** The entries of `desired` whose id is not among those the chain holds, in `desired`'s order. */
export function dueEntries(desired: LedgerFacts[], writtenIds: Iterable<string>): LedgerFacts[] {
  const have = new Set(writtenIds);
  return desired.filter((facts) => !have.has(facts.id));
}

/** Places facts after `previous` (undefined: the chain is empty). */
export function chainEntry(facts: LedgerFacts, previous: { seq: number; bytes: Buffer } | undefined, recordedAt: Date): LedgerEntry {
  return { schema: ledgerSchema, seq: previous ? previous.seq + 1 : 0, previousSha256: previous ? sha256(previous.bytes) : null, recordedAt: recordedAt.toISOString(), ...facts };
}

export interface StoredEntry {
  key: string;
  entry: LedgerEntry;
  bytes: Buffer;
}

/** What is wrong with an entry's signature, by the keys `ring` trusts; once one entry is signed, every later one must be. */
function signatureProblem(entry: LedgerEntry, ring: KeyRing, signedBefore: boolean): string | undefined {
  if (!entry.signature) return signedBefore ? 'unsigned after a signed entry (the chain was rewritten from here by someone without the key)' : undefined;
  const check = ring.check(signedPayload('ledger-entry', entry), entry.signature);
  if (check === 'unknown-key') return `signed by ${entry.signature.keyId}, a key the store's keys/ does not hold`;
  return check === 'invalid' ? `its signature by ${entry.signature.keyId} does not match it (changed after signing)` : undefined;
}

/**
 * What is wrong with a chain read in key order: a hole, an entry out of place, a hash that does not match,
 * and, given the trusted keys, a signature that is bad, by an unknown key, or missing after a signed entry.
 */
export function chainProblems(stored: StoredEntry[], ring?: KeyRing): string[] {
  const problems: string[] = [];
  let signed = false;
  stored.forEach(({ key, entry }, index) => {
    if (entry.schema !== ledgerSchema) problems.push(`${key}: schema ${String(entry.schema)}, expected ${ledgerSchema}`);
    if (entry.seq !== index) problems.push(`${key}: seq ${entry.seq} where ${index} was expected`);
    const expected = index === 0 ? null : sha256(stored[index - 1]!.bytes);
    if (entry.previousSha256 !== expected) problems.push(`${key}: previousSha256 does not match entry ${index - 1}`);
    const signature = ring && signatureProblem(entry, ring, signed);
    if (signature) problems.push(`${key}: ${signature}`);
    signed ||= entry.signature !== undefined;
  });
  return problems;
}

async function readBytes(store: RecordingStore, key: string): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of await store.get(key)) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

/** The entries under `prefix` (one chain, or every chain of a name), in key order. */
export async function readEntries(store: RecordingStore, prefix: string): Promise<StoredEntry[]> {
  const stored: StoredEntry[] = [];
  for await (const info of store.list(prefix)) {
    if (!info.key.endsWith('.json')) continue;
    const bytes = await readBytes(store, info.key);
    stored.push({ key: info.key, bytes, entry: JSON.parse(bytes.toString('utf8')) as LedgerEntry });
  }
  return stored;
}

export interface AppendOptions {
  now: () => Date;
  /** The object lock the policy asks for, counted from each entry's recordedAt. */
  retention?: { mode: 'GOVERNANCE' | 'COMPLIANCE'; days: number };
  /** Signs each entry (the policy's recording key); its public key is published in `keys/` first. */
  signer?: Signer;
}

/** The keys this process has published in each store: a key is looked for (and put) once per store, not once per entry. */
const publishedKeys = new WeakMap<RecordingStore, Set<string>>();

/** The entry signed, its key published beside the gateway's (COMPLIANCE, as the gateway locks its keys). */
async function signed(store: RecordingStore, entry: LedgerEntry, options: AppendOptions, now: Date): Promise<LedgerEntry> {
  if (!options.signer) return entry;
  const signature = await options.signer.sign(signedPayload('ledger-entry', entry));
  let published = publishedKeys.get(store);
  if (!published) publishedKeys.set(store, (published = new Set()));
  if (!published.has(signature.keyId)) {
    const days = (options.retention?.days || evidenceDefaults.retentionDays) + evidenceDefaults.keyExtraDays;
    await publishKey(store, options.signer, signature.keyId, { mode: 'COMPLIANCE', retainUntil: new Date(now.getTime() + days * 86_400_000) });
    published.add(signature.keyId);
  }
  return { ...entry, signature };
}

/** Writes the entries of `desired` that the object's chain lacks; returns the ids of the chain's entries and those written. */
export async function appendDue(store: RecordingStore, object: LedgerObject, desired: LedgerFacts[], options: AppendOptions): Promise<{ ids: string[]; written: LedgerEntry[] }> {
  const stored = await readEntries(store, chainPrefix(object));
  const due = dueEntries(desired, stored.map((s) => s.entry.id));
  let previous = stored.length > 0 ? { seq: stored[stored.length - 1]!.entry.seq, bytes: stored[stored.length - 1]!.bytes } : undefined;
  const written: LedgerEntry[] = [];
  for (const facts of due) {
    const now = options.now();
    const entry = await signed(store, chainEntry(facts, previous, now), options, now);
    const bytes = entryBytes(entry);
    const put: PutOptions = { contentType: 'application/json', ...(options.retention ? { retention: { mode: options.retention.mode, retainUntil: new Date(now.getTime() + options.retention.days * 86_400_000) } } : {}) };
    await store.put(entryKey(object, entry.seq), bytes, put);
    written.push(entry);
    previous = { seq: entry.seq, bytes };
  }
  return { ids: [...stored.map((s) => s.entry.id), ...written.map((entry) => entry.id)], written };
}
