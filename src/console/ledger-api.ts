/**
 * `GET /api/grants/NS/NAME/ledger[?at=TIME]`: a grant's chain in the access ledger (src/audit/ledger.ts)
 * — created, decisions, activated, revoked, expired, deleted — and its ApprovalRequest's, each with the
 * chain's problems (a hole, a changed entry, a bad or missing signature), read from the console's store
 * against the keys it publishes. The ledger outlives the objects: a deleted grant's chain is still shown.
 * It lies beside the recordings of the grant's policy: a viewer who may `get` sessions.kubegate.dev in the
 * grant's namespace may read it (as one session).
 */
import { loadKeyRing } from '../audit/evidence-check.js';
import { findChain, lastOf, type LedgerChain } from '../audit/ledger.js';
import type { LedgerEntry, LedgerKind } from '../recording/ledger.js';
import { kubeName } from './approvals-api.js';
import { maySessions, type ApiCall, type ConsoleServices } from './context.js';
import { badRequest, forbidden, notFound, sendJson } from './http.js';

/** An entry as the page shows it: its facts, the key that signed it instead of the signature's bytes. */
type ShownEntry = Omit<LedgerEntry, 'signature' | 'schema' | 'previousSha256' | 'kind' | 'namespace' | 'name'> & { signedBy?: string };

function shown({ signature, schema: _schema, previousSha256: _previous, kind: _kind, namespace: _namespace, name: _name, ...facts }: LedgerEntry): ShownEntry {
  return { ...facts, ...(signature ? { signedBy: signature.keyId } : {}) };
}

function chainOf(chain: LedgerChain) {
  return { uid: chain.entries[0]?.uid, entries: chain.entries.map(shown), problems: chain.problems };
}

/** The time by which the grant existed (`at`, default now): the ledger's chains are found by it. */
function existedAt(url: URL, now: number): string {
  const at = url.searchParams.get('at');
  if (!at) return new Date(now).toISOString();
  if (Number.isNaN(Date.parse(at))) throw badRequest(`at must be a time (RFC 3339), got "${at}"`);
  return at;
}

export async function grantLedger(services: ConsoleServices, call: ApiCall): Promise<void> {
  const [namespace, name] = [kubeName(call.params[0], 'namespace'), kubeName(call.params[1], 'AccessGrant')];
  const at = existedAt(call.url, services.now());
  if (!(await maySessions(services, call.viewer, 'get', namespace))) throw forbidden(`${call.viewer.user} may not get sessions.kubegate.dev in ${namespace}, where the ledger of this grant lies`);
  const ring = await loadKeyRing(services.store);
  const find = (kind: LedgerKind, objectName: string, time: string) => findChain(services.store, { kind, namespace, name: objectName }, time, ring);
  const grant = await find('AccessGrant', name, at);
  if (!grant) throw notFound(`the access ledger in ${services.store.url} has no chain of AccessGrant ${namespace}/${name} (a policy without storage keeps none)`);
  const approvalName = lastOf(grant, 'activated')?.approvalRequest ?? lastOf(grant, 'denied')?.approvalRequest;
  const approval = approvalName ? await find('ApprovalRequest', approvalName, lastOf(grant, 'activated')?.at ?? at) : undefined;
  sendJson(call.response, 200, {
    namespace,
    name,
    ...chainOf(grant),
    ...(approvalName ? { approval: approval ? { name: approvalName, ...chainOf(approval) } : { name: approvalName, missing: `the ledger has no chain of ApprovalRequest ${namespace}/${approvalName}` } } : {}),
  });
}
