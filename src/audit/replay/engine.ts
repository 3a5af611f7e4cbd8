/**
 * Re-executes a recorded sequence of API calls against a target cluster and compares each result with
 * what was recorded. Calls go as the target kubeconfig's identity (an admin), or, with `actAs`
 * (`--as-recorded`, recorded-identity.ts), impersonating the identity the gateway sent them as; the
 * replay's own reads and its seeding of prior state always go as the admin.
 */
import { describeApiCall } from '../api-call.js';
import { isKubernetesProtobuf } from '../../kube/kube-protobuf.js';
import { maskedSecretData, maskedValue } from '../../policy/masking/paths.js';
import { callKind, requestBytes, type RecordedCall } from './calls.js';
import { diffObjects, type FieldDifference } from './diff.js';
import { bodyValue, collectionPath, controllerOf, objectPath, objectsRead, pathOnly, recordedValue, stripServerFields, type KubeObject } from './objects.js';
import { createdPath, priorState } from './prior-state.js';
import { impersonationHeaders, type Impersonation } from './recorded-identity.js';

/** The cluster calls are replayed to (src/kube/raw-client.ts is the real one). */
export interface ReplayTarget {
  request(method: string, path: string, body?: Buffer, contentType?: string, accept?: string, headers?: Record<string, string | string[]>): Promise<{ status: number; body: string; bytes: Buffer; contentType?: string }>;
  getJson<T = Record<string, unknown>>(path: string): Promise<T | undefined>;
}

export type Outcome = 'reproduced' | 'differed' | 'skipped';

export interface CallReport {
  sessionId: string;
  seq: number;
  time: string;
  call: string;
  method: string;
  path: string;
  contentType?: string;
  outcome: Outcome;
  /** Why a call was skipped, or a note on how it was replayed. */
  reason?: string;
  recordedStatus?: number;
  replayedStatus?: number;
  differences: FieldDifference[];
  /** A controller's object found in the target by its owner: the target's own name for it. */
  matchedByOwner?: { owner: string; name: string };
  /** With `actAs`: the user the call was sent as, or `admin` where no recorded identity was known. */
  as?: string;
}

export interface StreamCall {
  sessionId: string;
  seq: number;
  call: string;
  command?: string[];
  hint: string;
}

export interface SeededObject {
  path: string;
  status: number;
}

export interface ReplayResult {
  /** Whom the calls were sent as: the admin, the recorded identities, or some of each (`identities` says which grant how). */
  as: 'admin' | 'recorded' | 'mixed';
  dryRun: boolean;
  seeded: SeededObject[];
  calls: CallReport[];
  streams: StreamCall[];
  /** Time spent waiting for the target's controllers to make objects matched by owner. */
  waitedMs: number;
}

export interface ReplayOptions {
  dryRun?: boolean;
  /** Stop after the call recorded with this `seq`. */
  until?: number;
  /** `--step`: asked before each call; 'skip' leaves it out, 'quit' ends the replay. */
  confirm?: (call: RecordedCall) => Promise<'yes' | 'skip' | 'quit'>;
  /** How long to wait for a controller to make an object matched by owner. */
  ownerWaitMs?: number;
  /** Whom to send a call as (impersonated); undefined: as the target's own identity. */
  actAs?: (call: RecordedCall) => Impersonation | undefined;
  sleep?: (ms: number) => Promise<void>;
  now?: () => number;
}

/** The recording marks no masking: a masked body is known by the masker's placeholders, or by the note that stands for a body it could not read. */
const maskPlaceholders = [maskedValue, maskedSecretData];
const unreadBody = '[not recorded:';

/** Why a mutating call cannot be re-sent as recorded; undefined when it can. */
export function notReproducible(call: RecordedCall): string | undefined {
  if (!call.response) return 'not reproducible: no response was recorded';
  if (call.decision && call.decision.action !== 'Allow') return `not sent in the recording (decision ${call.decision.action})`;
  if (call.request?.truncated) return 'not reproducible: the recorded request body was truncated (maxBodyBytes)';
  const text = call.request?.encoding === 'base64' ? '' : (call.request?.text ?? '');
  if (text.startsWith(unreadBody) || maskPlaceholders.some((placeholder) => text.includes(placeholder))) return 'not reproducible: the recorded request body was masked';
  return undefined;
}

/** A pod the scheduler has placed (any object without `spec.nodeName` counts as not placed). */
const isScheduled = (object: KubeObject | undefined) => {
  const spec = object?.spec as { nodeName?: unknown } | undefined;
  return typeof spec?.nodeName === 'string' && spec.nodeName !== '';
};

/** What an object matched by owner must be: made by `owner`, not matched yet, and scheduled when the recorded one was. */
interface OwnedMatch {
  owner: { kind: string; name: string };
  taken: Set<string>;
  scheduled: boolean;
}

/** Recorded identities for every call sent, for none, or for some. */
function sentAs(calls: CallReport[]): ReplayResult['as'] {
  const sent = calls.filter((call) => call.as !== undefined);
  const admin = sent.filter((call) => call.as === 'admin').length;
  return admin === 0 ? 'recorded' : admin === sent.length ? 'admin' : 'mixed';
}

const withQuery = (path: string, parameter: string) => `${path}${path.includes('?') ? '&' : '?'}${parameter}`;

export class Replay {
  private readonly known = new Set<string>();
  /** A recorded object's path → the target's path for it (controller-made objects matched by owner). */
  private readonly renamed = new Map<string, string>();
  private readonly read = new Map<string, KubeObject>();
  private readonly listed = new Set<string>();
  private waitedMs = 0;
  private readonly sleep: (ms: number) => Promise<void>;
  private readonly now: () => number;

  constructor(
    private readonly target: ReplayTarget,
    private readonly options: ReplayOptions = {},
  ) {
    this.sleep = options.sleep ?? ((ms) => new Promise((resolve) => setTimeout(resolve, ms)));
    this.now = options.now ?? Date.now;
  }

  async run(calls: RecordedCall[], onCall: (report: CallReport) => void = () => {}): Promise<ReplayResult> {
    const result: ReplayResult = { as: 'admin', dryRun: this.options.dryRun ?? false, seeded: await this.seed(calls), calls: [], streams: [], waitedMs: 0 };
    for (const call of calls) {
      if (this.options.until !== undefined && call.seq > this.options.until) break;
      const kind = callKind(call);
      if (kind === 'read') this.remember(call);
      else if (kind === 'stream') result.streams.push({ sessionId: call.sessionId, seq: call.seq, call: describeApiCall(call.attributes), ...(call.stream?.command ? { command: call.stream.command } : {}), hint: `kubegate sessions play ${call.sessionId}` });
      if (kind !== 'mutation') continue;
      const decision = this.options.confirm ? await this.options.confirm(call) : 'yes';
      if (decision === 'quit') break;
      const report = decision === 'skip' ? this.skipped(call, 'skipped at the prompt (--step)') : await this.replayCall(call);
      result.calls.push(report);
      onCall(report);
    }
    result.waitedMs = this.waitedMs;
    if (this.options.actAs) result.as = sentAs(result.calls);
    return result;
  }

  /** Namespaces first, then the objects the session read before changing them. */
  private async seed(calls: RecordedCall[]): Promise<SeededObject[]> {
    const prior = priorState(calls);
    const seeded: SeededObject[] = [];
    for (const [name, recorded] of prior.namespaces) {
      const path = `/api/v1/namespaces/${name}`;
      if (await this.target.getJson(path)) continue;
      seeded.push(await this.create('/api/v1/namespaces', path, recorded ?? { apiVersion: 'v1', kind: 'Namespace', metadata: { name } }));
    }
    for (const [path, object] of prior.objects) seeded.push(await this.create(path.slice(0, path.lastIndexOf('/')), path, object));
    return seeded;
  }

  private async create(collection: string, path: string, object: KubeObject): Promise<SeededObject> {
    const response = await this.target.request('POST', this.options.dryRun ? withQuery(collection, 'dryRun=All') : collection, Buffer.from(JSON.stringify(stripServerFields(object))), 'application/json');
    if (response.status < 300 || response.status === 409) this.known.add(path);
    return { path, status: response.status };
  }

  private remember(call: RecordedCall): void {
    for (const [path, object] of objectsRead(call)) this.read.set(path, object);
    if (call.attributes.verb === 'list' && call.response?.status === 200) this.listed.add(pathOnly(call.path));
  }

  private skipped(call: RecordedCall, reason: string): CallReport {
    return { ...this.describe(call), outcome: 'skipped', reason, ...(call.response ? { recordedStatus: call.response.status } : {}), differences: [] };
  }

  private describe(call: RecordedCall): Pick<CallReport, 'sessionId' | 'seq' | 'time' | 'call' | 'method' | 'path' | 'contentType'> {
    return { sessionId: call.sessionId, seq: call.seq, time: call.time, call: describeApiCall(call.attributes), method: call.method, path: call.path, ...(call.request?.contentType ? { contentType: call.request.contentType } : {}) };
  }

  /** Where the call's object is in the target; a reason when the replay does not know it. */
  private async locate(call: RecordedCall): Promise<{ path?: string; owner?: CallReport['matchedByOwner']; unknown?: string }> {
    const { verb } = call.attributes;
    if (verb === 'create') return {};
    if (verb === 'deletecollection') {
      const collection = collectionPath(call);
      const made = [...this.known].some((path) => path.startsWith(`${collection}/`));
      return this.listed.has(collection) || made ? {} : { unknown: 'prior state unknown: the session neither listed the collection nor made objects in it' };
    }
    const path = objectPath(call)!;
    if (this.renamed.has(path)) return { path: this.renamed.get(path)! };
    if (this.known.has(path)) return { path };
    const owner = controllerOf(this.read.get(path));
    if (!owner) return { unknown: 'prior state unknown: the session neither made nor read this object before changing it' };
    const name = await this.matchByOwner(collectionPath(call), owner, isScheduled(this.read.get(path)));
    if (!name) return { unknown: `prior state unknown: no object of ${owner.kind}/${owner.name} appeared in the target` };
    const targetPath = `${collectionPath(call)}/${name}`;
    this.renamed.set(path, targetPath);
    return { path: targetPath, owner: { owner: `${owner.kind}/${owner.name}`, name } };
  }

  /**
   * A live object in the target made by the same controller, not yet matched to another recorded one; waits for the controller,
   * and for the scheduler when the recorded pod was on a node (the API server deletes an unscheduled pod at once, a scheduled one gracefully).
   */
  private async matchByOwner(collection: string, owner: { kind: string; name: string }, scheduled: boolean): Promise<string | undefined> {
    const taken = new Set(this.renamed.values());
    const started = this.now();
    const deadline = started + (this.options.ownerWaitMs ?? 60_000);
    try {
      return await this.findOwned(collection, { owner, taken, scheduled }, deadline);
    } finally {
      this.waitedMs += this.now() - started;
    }
  }

  private async findOwned(collection: string, wanted: OwnedMatch, deadline: number): Promise<string | undefined> {
    const { owner, taken, scheduled } = wanted;
    for (;;) {
      const list = await this.target.getJson<{ items?: KubeObject[] }>(collection);
      const match = list?.items?.find((item) => {
        const controller = controllerOf(item);
        return controller?.kind === owner.kind && controller.name === owner.name && !item.metadata?.deletionTimestamp
          && !taken.has(`${collection}/${item.metadata?.name}`) && (!scheduled || isScheduled(item));
      });
      if (match) return match.metadata!.name;
      if (this.now() >= deadline) return undefined;
      await this.sleep(200);
    }
  }

  private async replayCall(call: RecordedCall): Promise<CallReport> {
    const reason = notReproducible(call);
    if (reason) return this.skipped(call, reason);
    const location = await this.locate(call);
    if (location.unknown) return this.skipped(call, location.unknown);
    const recordedObject = objectPath(call);
    let path = location.path && recordedObject ? location.path + call.path.slice(recordedObject.length) : call.path;
    if (this.options.dryRun) path = withQuery(path, 'dryRun=All');
    const body = await this.bodyFor(call, location.path);
    // a protobuf request is recorded as the JSON object it stands for; a protobuf answer is asked for again, to be read the same way
    const contentType = isKubernetesProtobuf(call.request?.contentType) && call.request?.encoding !== 'base64' ? 'application/json' : call.request?.contentType;
    const accept = isKubernetesProtobuf(call.response!.contentType) ? `${call.response!.contentType}, application/json` : 'application/json';
    const identity = this.options.actAs?.(call);
    const response = await this.target.request(call.method, path, body, contentType, accept, identity ? impersonationHeaders(identity) : undefined);
    const replayed = bodyValue(response.bytes, response.contentType);
    if (call.attributes.verb === 'create' && response.status < 300) {
      const made = createdPath(call, replayed);
      if (made) this.known.add(made);
    }
    const differences = this.compare(call, replayed, location.owner !== undefined);
    const recordedStatus = call.response!.status;
    const outcome: Outcome = recordedStatus === response.status && differences.length === 0 ? 'reproduced' : 'differed';
    return {
      ...this.describe(call), outcome, recordedStatus, replayedStatus: response.status, differences,
      ...(location.owner ? { matchedByOwner: location.owner } : {}),
      ...(this.options.actAs ? { as: identity?.user ?? 'admin' } : {}),
      ...(call.response!.truncated ? { reason: 'the recorded response was truncated: statuses compared, not objects' } : {}),
    };
  }

  /** The recorded body; an update's `metadata.resourceVersion` replaced by the target's current one. */
  private async bodyFor(call: RecordedCall, path: string | undefined): Promise<Buffer | undefined> {
    const bytes = requestBytes(call);
    if (!bytes || call.method !== 'PUT' || !path || call.request?.encoding === 'base64') return bytes;
    const object = JSON.parse(bytes.toString('utf8')) as KubeObject;
    if (!object.metadata?.resourceVersion) return bytes;
    const current = await this.target.getJson<KubeObject>(path);
    if (current?.metadata?.resourceVersion) object.metadata.resourceVersion = current.metadata.resourceVersion;
    return Buffer.from(JSON.stringify(object));
  }

  private compare(call: RecordedCall, replayed: unknown, controllerMade: boolean): FieldDifference[] {
    if (call.response!.truncated) return [];
    return diffObjects(recordedValue(call.response!), replayed, { keepStatus: call.attributes.subresource === 'status', controllerMade });
  }
}

