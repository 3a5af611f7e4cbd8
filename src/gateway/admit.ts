/**
 * The phases every request passes before anything reaches the API server, in order, for plain and
 * upgraded requests alike: authenticate → attribute → (read body) → decide → record → enforce. A
 * request leaves here either admitted (with its session, attributes and decision recorded) or as a
 * GatewayError; there is no other way through.
 */
import { randomUUID } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import type { Logger } from 'pino';
import type { RawKubeClient } from '../kube/raw-client.js';
import { authenticate, type CallerIdentity, type GrantLookup, type PeopleOptions } from './auth.js';
import { CommandApprovals } from './command-approvals.js';
import { GatewayError } from './errors.js';
import { rbacAccessCheck } from './human-auth.js';
import { detectEscalation } from './escalation.js';
import { isKubernetesProtobuf } from '../kube/kube-protobuf.js';
import { PolicyEngine, type PolicyDecision } from './policy-engine.js';
import { readObject } from './request-body.js';
import { execCommand, mayUpgrade, parseRequestAttributes, type RequestAttributes } from './request-attributes.js';
import { patchUnmasks, recordedRequestBody } from '../policy/masking/bodies.js';
import type { Masker } from '../policy/masking/masker.js';
import { maskedAttributes, maskedCommand, maskedTarget } from '../policy/masking/request-target.js';
import type { LoadedPolicy } from './policy-source.js';
import type { Recorder } from '../recording/recorder.js';
import type { Session, SessionTable } from './sessions.js';
import type { IdTokenVerifier } from '../token/id-token.js';

export interface GatewayState {
  policyRef: { namespace: string; name: string };
  loaded: LoadedPolicy;
  engine: PolicyEngine;
  /** The policy's identity providers (absent when it names none): people's ID tokens. */
  verifier?: IdTokenVerifier;
}

export interface AdmitContext {
  state: () => GatewayState;
  grants: GrantLookup;
  sessions: SessionTable;
  recorder: Recorder;
  approvals: CommandApprovals;
  /** Asks the API server which of a person's grants covers a request (human-auth.ts), as the gateway itself. */
  api: RawKubeClient;
  logger: Logger;
  maxRequestBodyBytes: number;
}

export interface Admitted {
  requestId: string;
  identity: CallerIdentity;
  session: Session;
  attributes: RequestAttributes;
  decision: PolicyDecision;
  state: GatewayState;
  /** The buffered request body of a write (bodies are bounded; reads have none). */
  body?: Buffer;
  command?: string[];
  /** What masks this request's response, streams and recording: a Mask rule's masker, else the policy's. */
  masking: Masker;
}

const writeVerbs = new Set(['create', 'update', 'patch']);
/** What a request held for approval tells an agent to wait before it retries (the Status `retryAfterSeconds`). */
const approvalRetryAfterSeconds = 10;

async function readBody(request: IncomingMessage, limit: number): Promise<Buffer> {
  const declared = Number(request.headers['content-length'] ?? 0);
  if (declared > limit) throw new GatewayError('KG_BODY_TOO_LARGE', `${declared} bytes, limit ${limit}`);
  const chunks: Buffer[] = [];
  let size = 0;
  try {
    for await (const chunk of request as AsyncIterable<Buffer>) {
      size += chunk.length;
      if (size > limit) throw new GatewayError('KG_BODY_TOO_LARGE', `more than ${limit} bytes`);
      chunks.push(chunk);
    }
  } catch (error) {
    // the client's connection broke mid-body: its error, not the API server's
    if (error instanceof GatewayError) throw error;
    throw new GatewayError('KG_BAD_REQUEST', `the request body could not be read: ${(error as Error).message}`);
  }
  return Buffer.concat(chunks);
}

/**
 * The object a request body stands for, read as the API server reads it (by Content-Type): Kubernetes
 * protobuf through the built-in schema, anything else as JSON. Undefined where it cannot be read (YAML,
 * a kind the schema lacks, a protobuf body that could read two ways): the escalation checks fail closed
 * on it.
 */
export async function admit(context: AdmitContext, request: IncomingMessage, options: { upgrade: boolean }): Promise<Admitted> {
  const state = context.state();
  takeGrantPath(request);
  const identity = await authenticate(request.headers, { jwks: state.loaded.jwks, policy: state.policyRef, grants: context.grants, people: peopleOptions(context, state, request) });
  const attributes: RequestAttributes = parseRequestAttributes(request.method ?? 'GET', request.url ?? '/');
  const session = context.sessions.enter(request, identity);
  const requestId = randomUUID();
  try {
    const body = !options.upgrade && writeVerbs.has(attributes.verb) ? await readBody(request, context.maxRequestBodyBytes) : undefined;
    // undefined where the gateway cannot read the body as the API server does: escalation checks fail closed
    const binary = isKubernetesProtobuf(request.headers['content-type']);
    const parsed = body && body.length > 0 ? readObject(request.headers['content-type'], body) : undefined;
    // read from the query as parsed for the policy (as the API server reads it), never parsed a second way
    const execArgs = execCommand(attributes);
    const command = execArgs.length > 0 ? execArgs : undefined;
    const escalation = detectEscalation(attributes, parsed);
    const decision = state.engine.decide(attributes, { user: identity.user, command, escalation });
    const maxBody = state.loaded.compiled.recording.maxBodyBytes;
    const masking = decision.masking ?? state.engine.masking;
    const target = request.url ?? '/';
    await session.recorder.record({
      type: 'request',
      requestId,
      method: request.method ?? 'GET',
      path: maskedTarget(masking, target),
      attributes: maskedAttributes(masking, attributes),
      ...(request.headers['content-type'] ? { contentType: request.headers['content-type'] } : {}),
      ...(body ? recordedRequestBody(masking, attributes, { bytes: body, parsed, contentType: request.headers['content-type'], binary }, maxBody) : {}),
    });
    await session.recorder.record({ type: 'decision', requestId, action: decision.action, ...(decision.rule ? { rule: decision.rule } : {}), message: decision.message });
    if (options.upgrade && !mayUpgrade(attributes)) throw new GatewayError('KG_UPGRADE_NOT_ALLOWED', `${attributes.verb} ${attributes.resource}${attributes.subresource ? '/' + attributes.subresource : ''}`);
    const unmasks = patchUnmasks(masking, attributes, parsed);
    if (unmasks) throw new GatewayError('KG_DENIED', unmasks);
    if (state.loaded.compiled.recording.onStoreFailure === 'FailClosed' && !context.recorder.healthy()) throw new GatewayError('KG_RECORDING_UNAVAILABLE');
    if (decision.action === 'Deny') throw new GatewayError(decision.byCommand ? 'KG_COMMAND_BLOCKED' : 'KG_DENIED', decision.message);
    const admitted: Admitted = { requestId, identity, session, attributes, decision, state, ...(body ? { body } : {}), ...(command ? { command } : {}), masking };
    if (decision.action === 'RequireApproval') await consumeApproval(context, admitted, request.method ?? 'GET', request.url ?? '/');
    return admitted;
  } catch (error) {
    context.sessions.leave(session);
    if (error instanceof GatewayError) {
      await session.recorder.record({ type: 'response', requestId, status: error.status, body: error.message, bodyBytes: error.message.length, durationMs: 0 }).catch(() => undefined);
    }
    throw error;
  }
}

/** The grant a person names in the `Kubegate-Grant` header, or in the server path of their kubeconfig (below). */
export const chosenGrantHeader = 'kubegate-grant';

/**
 * `/kubegate/grants/NAME/…`: the server path a `kubegate login --grant NAME` kubeconfig points at, as
 * kubectl has no way to send a header of its own. The prefix is taken off before anything reads the path
 * (the rest goes through every check as any path does) and becomes the header.
 */
const grantPath = /^\/kubegate\/grants\/([a-z0-9](?:[-a-z0-9.]{0,251}[a-z0-9])?)(\/.*)$/s;

function takeGrantPath(request: IncomingMessage): void {
  const match = grantPath.exec(request.url ?? '');
  if (!match) return;
  request.url = match[2]!;
  request.headers[chosenGrantHeader] = match[1]!;
}

function peopleOptions(context: AdmitContext, state: GatewayState, request: IncomingMessage): PeopleOptions | undefined {
  if (!state.verifier) return undefined;
  const chosen = request.headers[chosenGrantHeader];
  return {
    verifier: state.verifier,
    ...(typeof chosen === 'string' ? { chosenGrant: chosen } : {}),
    covers: rbacAccessCheck(context.api, request.method ?? 'GET', request.url ?? '/'),
  };
}

/**
 * A request a RequireApproval rule holds: admitted once an approver has approved exactly this request
 * (command-approvals.ts opens the ApprovalRequest and consumes it once), refused with the request to
 * approve otherwise. What the ApprovalRequest keeps of the request is masked as the recording is.
 */
async function consumeApproval(context: AdmitContext, admitted: Admitted, method: string, target: string): Promise<void> {
  const { attributes, masking, command, decision, state, identity, session, requestId } = admitted;
  const outcome = await context.approvals.admit(
    {
      method,
      target,
      path: maskedTarget(masking, target),
      body: admitted.body,
      verb: attributes.verb,
      namespace: attributes.namespace,
      resource: attributes.resource,
      subresource: attributes.subresource,
      name: attributes.name,
      ...(command ? { command: maskedCommand(masking, command) } : {}),
      rule: decision.rule,
    },
    identity,
  );
  if (!outcome.admitted) {
    const ns = state.policyRef.namespace;
    throw new GatewayError(
      'KG_APPROVAL_REQUIRED',
      `${decision.message}; ApprovalRequest ${ns}/${outcome.request} is ${outcome.phase}; an approver runs: kubegate approve ${outcome.request} -n ${ns} --reason "…", then retry the same command`,
      {
        group: 'kubegate.dev',
        kind: 'approvalrequests',
        name: outcome.request,
        retryAfterSeconds: approvalRetryAfterSeconds,
        hint: `retry the same request once ApprovalRequest ${ns}/${outcome.request} is approved: kubegate approve ${outcome.request} -n ${ns}`,
      },
    );
  }
  await session.recorder.record({ type: 'decision', requestId, action: 'Allow', message: `approved once by ApprovalRequest ${outcome.request}` });
}
