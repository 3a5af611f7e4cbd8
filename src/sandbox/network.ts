import { createServer } from 'node:net';
import { request as httpsRequest } from 'node:https';
import { request as httpRequest } from 'node:http';
import type { ManagedProcess } from './process.js';

/** A free TCP port on 127.0.0.1, chosen by the kernel. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => (typeof address === 'object' && address ? resolve(address.port) : reject(new Error('no port'))));
    });
  });
}

export interface ProbeOptions {
  url: string;
  ca?: string;
  headers?: Record<string, string>;
}

/** One GET; resolves with the status code and body, or the error message when nothing answered. */
export function probe(options: ProbeOptions): Promise<{ status: number; body: string }> {
  const url = new URL(options.url);
  const request = url.protocol === 'https:' ? httpsRequest : httpRequest;
  return new Promise((resolve) => {
    const req = request(url, { ca: options.ca, headers: options.headers, timeout: 2000, rejectUnauthorized: !!options.ca }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (body += chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', (error) => resolve({ status: 0, body: error.message }));
    req.end();
  });
}

/**
 * Polls `check` until it returns true. Fails early with the program's log tail when `process` exits, and
 * after `timeoutMs` with the last thing `check` reported.
 */
export async function waitUntil(
  what: string,
  check: () => Promise<true | string>,
  options: { timeoutMs?: number; process?: ManagedProcess; intervalMs?: number } = {},
): Promise<void> {
  const deadline = Date.now() + (options.timeoutMs ?? 60_000);
  let last = '';
  for (;;) {
    if (options.process && !options.process.running) {
      throw new Error(`${options.process.name} exited while waiting for ${what}:\n${options.process.logTail()}`);
    }
    const result = await check();
    if (result === true) return;
    last = result;
    if (Date.now() > deadline) {
      const tail = options.process ? `\n${options.process.logTail()}` : '';
      throw new Error(`timed out waiting for ${what} (last: ${last})${tail}`);
    }
    await new Promise((resolve) => setTimeout(resolve, options.intervalMs ?? 200));
  }
}

/** A check that passes once `url` answers 200. */
export function answers200(options: ProbeOptions): () => Promise<true | string> {
  return async () => {
    const { status, body } = await probe(options);
    return status === 200 ? true : `HTTP ${status} ${body.slice(0, 200)}`;
  };
}
