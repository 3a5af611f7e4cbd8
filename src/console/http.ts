/**
 * The console's HTTP plumbing: one error type a handler throws to answer `{"error", "code"}` with a
 * status, the JSON body reader (bounded), cookies, and the security headers every answer carries.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';

export class HttpError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
    this.name = 'HttpError';
  }
}

export const badRequest = (message: string) => new HttpError(400, 'BadRequest', message);
export const forbidden = (message: string) => new HttpError(403, 'Forbidden', message);
export const notFound = (message: string) => new HttpError(404, 'NotFound', message);

/**
 * No framing, no inline script, no caching of API answers, no sniffing: on every answer. Scripts may
 * compile WebAssembly ('wasm-unsafe-eval', not 'unsafe-eval': no eval of strings): asciinema-player's
 * terminal emulator is WebAssembly, and without it no terminal plays.
 */
export function securityHeaders(response: ServerResponse): void {
  response.setHeader('Content-Security-Policy', "default-src 'self'; script-src 'self' 'wasm-unsafe-eval'; img-src 'self' data:; frame-ancestors 'none'; base-uri 'none'; form-action 'self'");
  response.setHeader('X-Frame-Options', 'DENY');
  response.setHeader('X-Content-Type-Options', 'nosniff');
  response.setHeader('Referrer-Policy', 'no-referrer');
}

export function sendJson(response: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  response.writeHead(status, { 'Content-Type': 'application/json; charset=utf-8', 'Content-Length': Buffer.byteLength(text), 'Cache-Control': 'no-store' });
  response.end(text);
}

export function sendError(response: ServerResponse, error: HttpError): void {
  sendJson(response, error.status, { error: error.message, code: error.code });
}

const maxBodyBytes = 64 * 1024;

/** A request's JSON object body (at most 64 KiB); an empty body is `{}`. */
export async function readJsonObject(request: IncomingMessage): Promise<Record<string, unknown>> {
  const type = request.headers['content-type'] ?? '';
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of request as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > maxBodyBytes) throw new HttpError(413, 'TooLarge', `the request body is larger than ${maxBodyBytes} bytes`);
    chunks.push(chunk);
  }
  if (size === 0) return {};
  if (!/^application\/json\s*(;|$)/i.test(type)) throw badRequest('the request body must be application/json');
  let body: unknown;
  try {
    body = JSON.parse(Buffer.concat(chunks).toString('utf8'));
  } catch {
    throw badRequest('the request body is not valid JSON');
  }
  if (typeof body !== 'object' || body === null || Array.isArray(body)) throw badRequest('the request body must be a JSON object');
  return body as Record<string, unknown>;
}

/** A string field of a request body: `required` ones must be non-empty. */
export function stringField(body: Record<string, unknown>, name: string, options: { required?: boolean; max?: number } = {}): string {
  const value = body[name] ?? '';
  if (typeof value !== 'string') throw badRequest(`"${name}" must be a string`);
  if (options.required && value.trim() === '') throw badRequest(`"${name}" is required`);
  if (value.length > (options.max ?? 1000)) throw badRequest(`"${name}" is longer than ${options.max ?? 1000} characters`);
  return value;
}

export function cookieValue(request: IncomingMessage, name: string): string | undefined {
  for (const part of (request.headers.cookie ?? '').split(';')) {
    const eq = part.indexOf('=');
    if (eq > 0 && part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim();
  }
  return undefined;
}
