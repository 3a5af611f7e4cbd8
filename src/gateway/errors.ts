/**
 * Every way the gateway refuses a request, in one list: a code, the HTTP status and the Kubernetes
 * `Status` reason, so that kubectl prints a clear "error: …" line. Nothing else writes an error body.
 */
import type { ServerResponse } from 'node:http';

export const gatewayErrors = {
  KG_UNAUTHENTICATED: { status: 401, reason: 'Unauthorized', message: 'a kubegate JIT token is required (use the kubeconfig from `kubegate kubeconfig`)' },
  KG_TOKEN_INVALID: { status: 401, reason: 'Unauthorized', message: 'the token is not valid for this gateway' },
  KG_GRANT_INACTIVE: { status: 401, reason: 'Unauthorized', message: 'the access grant behind this token is not active' },
  KG_BAD_PATH: { status: 400, reason: 'BadRequest', message: 'the request path is not a plain Kubernetes API path' },
  KG_BODY_TOO_LARGE: { status: 413, reason: 'RequestEntityTooLarge', message: 'the request body is larger than the gateway accepts' },
  KG_HEADERS_TOO_LARGE: { status: 431, reason: 'BadRequest', message: 'the request headers are larger than the gateway accepts' },
  KG_DENIED: { status: 403, reason: 'Forbidden', message: 'denied by policy' },
  KG_APPROVAL_REQUIRED: { status: 403, reason: 'Forbidden', message: 'this request needs approval' },
  KG_COMMAND_BLOCKED: { status: 403, reason: 'Forbidden', message: 'this command is blocked by policy' },
  KG_RECORDING_UNAVAILABLE: { status: 503, reason: 'ServiceUnavailable', message: 'the session cannot be recorded, and the policy forbids unrecorded access' },
  KG_UPSTREAM_UNAVAILABLE: { status: 502, reason: 'ServiceUnavailable', message: 'the Kubernetes API server could not be reached' },
  KG_SHUTTING_DOWN: { status: 503, reason: 'ServiceUnavailable', message: 'the gateway is shutting down; retry' },
} as const;

export type GatewayErrorCode = keyof typeof gatewayErrors;

export class GatewayError extends Error {
  readonly status: number;
  readonly reason: string;

  constructor(
    readonly code: GatewayErrorCode,
    detail?: string,
  ) {
    const entry = gatewayErrors[code];
    super(detail ? `${entry.message}: ${detail}` : entry.message);
    this.status = entry.status;
    this.reason = entry.reason;
  }

  /** The Kubernetes Status body kubectl understands. */
  toStatus(): object {
    return { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message: `kubegate: ${this.message}`, reason: this.reason, code: this.status, details: { causes: [{ reason: this.code }] } };
  }
}

export function statusBody(error: GatewayError): string {
  return JSON.stringify(error.toStatus());
}

export function sendError(res: ServerResponse, error: GatewayError): void {
  if (res.headersSent) {
    res.destroy(error);
    return;
  }
  const body = statusBody(error);
  res.writeHead(error.status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body), ...(error.status === 401 ? { 'www-authenticate': 'Bearer realm="kubegate"' } : {}) });
  res.end(body);
}

/** The same refusal on a raw socket (an upgrade request has no ServerResponse). */
export function rawErrorResponse(error: GatewayError): string {
  const body = statusBody(error);
  return `HTTP/1.1 ${error.status} ${error.reason}\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`;
}
