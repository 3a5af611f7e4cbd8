/** `kubegate sessions verify ID | --all`: hash chain, signatures, checkpoints, order, completeness and object lock, per session. */
import { readFileSync } from 'node:fs';
import type { Command } from 'commander';
import { findSessions, resolveSession, sessionFolders, type FoundSession, type TimeRange } from '../audit/query.js';
import { storedSession } from '../audit/reader.js';
import type { RecordingStore } from '../recording/store.js';
import { verifyMissingSession, verifySession, type VerifyReport } from '../audit/verify.js';
import { checkpointedSessions, describeSigning, loadKeyRing } from '../audit/evidence-check.js';
import type { KeyRing, PublishedKey } from '../pki/signing.js';
import type { LockSummary } from '../audit/object-lock.js';
import { CliError } from './output.js';
import { JsonArrayWriter, storeOptions, withStore, type StoreFlags } from './sessions-common.js';

interface VerifyFlags extends StoreFlags {
  all?: boolean;
  requireLock?: boolean;
  keys?: string;
}

/** The trusted keys: exactly those of --keys (a JSON array of published keys, as the cluster's ConfigMap holds them), else the store's. */
async function keyRing(store: RecordingStore, file: string | undefined): Promise<KeyRing> {
  if (!file) return loadKeyRing(store);
  let keys: PublishedKey[];
  try {
    keys = JSON.parse(readFileSync(file, 'utf8')) as PublishedKey[];
  } catch (error) {
    throw new CliError(`--keys ${file}: ${error instanceof Error ? error.message : String(error)}`);
  }
  if (!Array.isArray(keys)) throw new CliError(`--keys ${file}: not a JSON array of keys`);
  return loadKeyRing(store, keys);
}

function describeLock(lock: LockSummary): string {
  if (lock.requested === 0) return 'no object lock requested';
  if (lock.modes.length === 0) return `object lock requested on ${lock.requested} objects, none in force (the store does not lock)`;
  return `object lock ${lock.modes.join('/')} until ${lock.earliestRetainUntil} on ${lock.locked}/${lock.requested} objects`;
}

function render(report: VerifyReport): string {
  const status = { intact: 'OK      ', open: 'OPEN    ', tampered: 'TAMPERED' }[report.status];
  const writers = report.writers.length > 1 ? `${report.writers.length} writers, ` : '';
  const size = `${writers}${report.segments} segments, ${report.events} events, ${report.bytes} bytes`;
  const chain = report.status === 'tampered' ? '' : '; hash chain intact';
  const lines = [`${status} ${report.sessionId}  ${size}${chain}; ${describeLock(report.objectLock)}; ${describeSigning(report.signing)}`];
  for (const problem of report.problems) lines.push(`    ✗ ${problem.message}`);
  for (const note of report.notes) lines.push(`    · ${note}`);
  return `${lines.join('\n')}\n`;
}

async function verify(store: RecordingStore, range: TimeRange, id: string | undefined, flags: VerifyFlags): Promise<void> {
  if (!id === !flags.all) throw new CliError('give a session id, or --all');
  const json = new JsonArrayWriter();
  let failed = 0;
  let checked = 0;
  const options = { requireLock: flags.requireLock ?? false, keys: await keyRing(store, flags.keys) };
  const verified = new Set<string>();
  const emit = async (report: VerifyReport) => {
    checked++;
    if (report.status === 'tampered') failed++;
    if (flags.output === 'json') await json.write(report);
    else process.stdout.write(render(report));
  };
  const check = async ({ sessionId, indexes }: Pick<FoundSession, 'sessionId' | 'indexes'>, folders: string[] = []) => {
    verified.add(sessionId);
    await emit(await verifySession(store, await storedSession(store, sessionId, indexes, folders), options));
  };
  if (id) {
    const found = await resolveSession(store, id, range).catch(async (error: unknown) => {
      // no index: the session's folder is verified as it is; a session only the checkpoint log names is reported as removed
      for await (const folder of sessionFolders(store, range)) if (folder.sessionId === id) return { sessionId: id, indexes: [], prefix: folder.prefix };
      for await (const checkpointed of checkpointedSessions(store, range)) if (checkpointed.sessionId === id) return checkpointed;
      throw error;
    });
    if ('folder' in found) await emit(await verifyMissingSession(store, found.sessionId, found.folder, options));
    else await check(found, 'prefix' in found ? [found.prefix] : []);
  } else {
    const indexed = new Set<string>();
    for await (const session of findSessions(store, {}, range)) {
      for (const index of session.indexes) indexed.add(index.prefix);
      await check(session);
    }
    for await (const folder of sessionFolders(store, range)) {
      if (!indexed.has(folder.prefix)) await check({ sessionId: folder.sessionId, indexes: [] }, [folder.prefix]);
    }
    for await (const { folder, sessionId } of checkpointedSessions(store, range)) {
      if (!verified.has(sessionId)) await emit(await verifyMissingSession(store, sessionId, folder, options));
    }
  }
  if (flags.output === 'json') json.end();
  if (failed > 0) throw new CliError(`${failed} of ${checked} session(s) failed verification`);
  if (flags.output !== 'json' && flags.all) process.stdout.write(`${checked} session(s) verified\n`);
}

export function verifyCommand(sessions: Command): void {
  storeOptions(
    sessions
      .command('verify [session]')
      .description('prove sessions are as written: hashes, hash chain, signatures, checkpoints, order, completeness, object lock; exits non-zero and names what changed'),
    'with --all: sessions',
  )
    .option('--all', 'verify every session in the time range (the last 7 days by default)')
    .option('--keys <file>', "trust exactly these public keys (a JSON array, as the cluster's ConfigMap kubegate-gateway-POLICY-recording-keys holds them), not the store's keys/")
    .option('--require-lock', 'fail when an object its manifest asks to lock holds no retention, even on a store that cannot lock')
    .action((id: string | undefined, flags: VerifyFlags) => withStore(flags, (store, range) => verify(store, range, id, flags)));
}
