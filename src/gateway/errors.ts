/**
 * Every way the gateway refuses a request, in one list: a code, the HTTP status and the Kubernetes
 * `Status` reason, so that kubectl prints a clear "error: …" line. Nothing else writes an error body.
 * Every code is thrown somewhere and documented in the README's table (test/unit/gateway-errors.test.ts).
 */
import type { ServerResponse } from 'node:http';

export const gatewayErrors = {
  KG_UNAUTHENTICATED: { status: 401, reason: 'Unauthorized', message: 'a kubegate JIT token or an ID token is required (use the kubeconfig from `kubegate kubeconfig` or `kubegate login`)' },
  KG_TOKEN_INVALID: { status: 401, reason: 'Unauthorized', message: 'the token is not valid for this gateway' },
  KG_GRANT_INACTIVE: { status: 401, reason: 'Unauthorized', message: 'the access grant behind this token is not active' },
  // a person's valid ID token (human-auth.ts), but no Active grant of this policy for them, or not the one they named
  KG_NO_GRANT: { status: 403, reason: 'Forbidden', message: 'no Active access grant of this policy lets this person in' },
  // DELETE /sessions/ID on the live events endpoint (live/server.ts): someone allowed to end sessions did
  KG_SESSION_ENDED: { status: 403, reason: 'Forbidden', message: 'this session was ended at the gateway' },
  KG_BAD_REQUEST: { status: 400, reason: 'BadRequest', message: 'the request is not one the gateway can read' },
  // request targets the API server could read differently from the gateway (request-attributes.ts)
  KG_METHOD_NOT_ALLOWED: { status: 405, reason: 'MethodNotAllowed', message: 'the HTTP method is not one the Kubernetes API serves' },
  KG_TARGET_TOO_LONG: { status: 414, reason: 'BadRequest', message: 'the request target is too long' },
  KG_NOT_ORIGIN_FORM: { status: 400, reason: 'BadRequest', message: 'the request target must be a path starting with "/"' },
  KG_FORBIDDEN_CHARACTER: { status: 400, reason: 'BadRequest', message: 'the request target contains a space, backslash, control or non-ASCII character' },
  KG_BAD_ESCAPE: { status: 400, reason: 'BadRequest', message: 'the request target contains a malformed percent-escape' },
  KG_NOT_UTF8: { status: 400, reason: 'BadRequest', message: 'the request target does not decode to UTF-8' },
  KG_ENCODED_SLASH: { status: 400, reason: 'BadRequest', message: 'the path contains an encoded slash (%2F)' },
  KG_ENCODED_DOT: { status: 400, reason: 'BadRequest', message: 'the path contains an encoded dot (%2E)' },
  KG_ENCODED_PERCENT: { status: 400, reason: 'BadRequest', message: 'the path contains an encoded percent sign (%25), which a second decoder would read again' },
  KG_DOT_SEGMENT: { status: 400, reason: 'BadRequest', message: 'the path contains a "." or ".." segment' },
  KG_EMPTY_SEGMENT: { status: 400, reason: 'BadRequest', message: 'the path contains an empty segment ("//")' },
  KG_QUERY_SEMICOLON: { status: 400, reason: 'BadRequest', message: 'the query contains ";" (Go drops such parameters; we will not guess)' },
  KG_BAD_QUERY_VALUE: { status: 400, reason: 'BadRequest', message: 'a query parameter has a value the API server could read differently' },
  KG_UPGRADE_NOT_ALLOWED: { status: 400, reason: 'BadRequest', message: 'only exec, attach, portforward and the proxy subresources take an Upgrade; send this request without one' },
  KG_NO_RESOURCE: { status: 400, reason: 'BadRequest', message: 'the path names a special verb but no resource' },
  KG_BODY_TOO_LARGE: { status: 413, reason: 'RequestEntityTooLarge', message: 'the request body is larger than the gateway accepts' },
  KG_HEADERS_TOO_LARGE: { status: 431, reason: 'BadRequest', message: 'the request headers are larger than the gateway accepts' },
  KG_DENIED: { status: 403, reason: 'Forbidden', message: 'denied by policy' },
  KG_APPROVAL_REQUIRED: { status: 403, reason: 'Forbidden', message: 'this request needs approval' },
  // a Deny by a rule with a `command` pattern, on the exec request that carries the command
  KG_COMMAND_BLOCKED: { status: 403, reason: 'Forbidden', message: 'this command is blocked by policy' },
  KG_RECORDING_UNAVAILABLE: { status: 503, reason: 'ServiceUnavailable', message: 'the session cannot be recorded, and the policy forbids unrecorded access' },
  KG_UPSTREAM_UNAVAILABLE: { status: 502, reason: 'ServiceUnavailable', message: 'the Kubernetes API server could not be reached' },
  KG_SHUTTING_DOWN: { status: 503, reason: 'ServiceUnavailable', message: 'the gateway is shutting down; retry' },
  // a bug: the detail goes to the gateway's log (with the stack), not to the caller
  KG_INTERNAL: { status: 500, reason: 'InternalError', message: 'the gateway failed unexpectedly; the error is in its log' },
} as const;

export type GatewayErrorCode = keyof typeof gatewayErrors;

/**
 * What a refusal names beyond its message, in the Status `details` (Kubernetes' StatusDetails): the
 * object it is about, when to retry, and `hint`, the cause's message — for a client that acts on it.
 */
export interface RefusalDetails {
  group: string;
  kind: string;
  name: string;
  retryAfterSeconds?: number;
  hint?: string;
}

export class GatewayError extends Error {
  readonly status: number;
  readonly reason: string;

  constructor(
    readonly code: GatewayErrorCode,
    detail?: string,
    readonly details?: RefusalDetails,
  ) {
    const entry = gatewayErrors[code];
    super(detail ? `${entry.message}: ${detail}` : entry.message);
    this.status = entry.status;
    this.reason = entry.reason;
  }

  /** The Kubernetes Status body kubectl understands. */
  toStatus(): object {
    const { hint, ...about } = this.details ?? {};
    const details = { ...about, causes: [{ reason: this.code, ...(hint ? { message: hint } : {}) }] };
    return { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message: `kubegate: ${this.message}`, reason: this.reason, code: this.status, details };
  }

  /** Headers of the refusal besides its content type and length. */
  headers(): Record<string, string> {
    return {
      ...(this.status === 401 ? { 'www-authenticate': 'Bearer realm="kubegate"' } : {}),
      ...(this.details?.retryAfterSeconds ? { 'retry-after': String(this.details.retryAfterSeconds) } : {}),
    };
  }
}

/**
 * Node's codes for a connection that could not be made or was lost: name resolution, TCP, TLS (the
 * `ERR_TLS_` and `ERR_SSL_` families and OpenSSL's certificate verdicts), and undici's socket failures.
 */
const connectionErrorCodes = new Set([
  'ENOTFOUND', 'EAI_AGAIN', 'ECONNREFUSED', 'ECONNRESET', 'ECONNABORTED', 'ETIMEDOUT', 'EHOSTUNREACH', 'EHOSTDOWN', 'ENETUNREACH', 'ENETDOWN', 'EPIPE', 'EPROTO',
  'CERT_HAS_EXPIRED', 'CERT_NOT_YET_VALID', 'DEPTH_ZERO_SELF_SIGNED_CERT', 'SELF_SIGNED_CERT_IN_CHAIN', 'UNABLE_TO_VERIFY_LEAF_SIGNATURE', 'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'UND_ERR_CONNECT_TIMEOUT', 'UND_ERR_SOCKET', 'UND_ERR_CLOSED', 'UND_ERR_HEADERS_TIMEOUT',
]);

/**
 * The failed or lost connection behind an error, if any: the error itself or one down its `cause`
 * chain. The Kubernetes client (undici's fetch) reports a refused connection as `TypeError: fetch
 * failed` with the socket's error as its cause, so the type alone says nothing.
 */
function connectionFailure(error: unknown): Error | undefined {
  for (let current = error, depth = 0; current instanceof Error && depth < 5; current = current.cause, depth++) {
    const code = (current as NodeJS.ErrnoException).code;
    if (typeof code === 'string' && (connectionErrorCodes.has(code) || code.startsWith('ERR_TLS_') || code.startsWith('ERR_SSL_'))) return current;
  }
  return undefined;
}

/**
 * What the caller is told of an error that ended a request: a GatewayError as it is; a failed connection
 * (the gateway connects to nothing but the API server) as `KG_UPSTREAM_UNAVAILABLE`; anything else is a
 * bug, `KG_INTERNAL`, which the caller must log.
 */
export function refusalFor(error: unknown): GatewayError {
  if (error instanceof GatewayError) return error;
  const connection = connectionFailure(error);
  return connection ? new GatewayError('KG_UPSTREAM_UNAVAILABLE', connection.message) : new GatewayError('KG_INTERNAL');
}

function statusBody(error: GatewayError): string {
  return JSON.stringify(error.toStatus());
}

export function sendError(res: ServerResponse, error: GatewayError): void {
  if (res.headersSent) {
    res.destroy(error);
    return;
  }
  const body = statusBody(error);
  res.writeHead(error.status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body), ...error.headers() });
  res.end(body);
}

/** The same refusal on a raw socket (an upgrade request has no ServerResponse). */
export function rawErrorResponse(error: GatewayError): string {
  const body = statusBody(error);
  const headers = Object.entries(error.headers()).map(([name, value]) => `${name}: ${value}\r\n`).join('');
  return `HTTP/1.1 ${error.status} ${error.reason}\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\n${headers}connection: close\r\n\r\n${body}`;
}
