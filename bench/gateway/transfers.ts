/**
 * Bulk transfers through one path (direct, kubegate, the Go peer): a large LIST read over HTTPS, the
 * stdout of `kubectl exec`, and a TCP stream through `kubectl port-forward`. Each returns the bytes that
 * arrived and the seconds they took; a short transfer is an error, not a fast one.
 */
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { connect, createServer } from 'node:net';
import { forwardedLocalPort, type Kubectl } from '../../test/harness/kubectl.js';

export interface Transfer {
  bytes: number;
  seconds: number;
}

export function megabytesPerSecond(transfer: Transfer): number {
  return transfer.bytes / 1e6 / transfer.seconds;
}

/** One GET over a fresh connection, the body counted and dropped (HTTPS, its certificate not checked: loopback; or plain HTTP). */
export function httpGet(url: string, token: string): Promise<Transfer> {
  const started = performance.now();
  const request = url.startsWith('https:') ? httpsRequest : httpRequest;
  return new Promise((resolve, reject) => {
    const req = request(url, { headers: { ...(token ? { Authorization: `Bearer ${token}` } : {}), Accept: 'application/json' }, rejectUnauthorized: false, agent: false }, (res) => {
      let bytes = 0;
      res.on('data', (chunk: Buffer) => (bytes += chunk.length));
      res.on('error', reject);
      res.on('end', () => {
        if (res.statusCode !== 200) reject(new Error(`GET ${url}: HTTP ${res.statusCode}`));
        else resolve({ bytes, seconds: (performance.now() - started) / 1000 });
      });
    });
    req.on('error', reject);
    req.end();
  });
}

/**
 * `kubectl exec POD -- head -c BYTES /dev/zero` (kwok runs it on this machine), timed from the first
 * byte of output to the last, so kubectl's own start-up and discovery are not counted.
 */
export function execTransfer(kubectl: Kubectl, namespace: string, pod: string, bytes: number): Promise<Transfer> {
  const child = kubectl.start(['exec', '-n', namespace, pod, '--', 'head', '-c', String(bytes), '/dev/zero']);
  child.stdin!.end();
  let received = 0;
  let first = 0;
  let last = 0;
  let errors = '';
  child.stdout!.on('data', (chunk: Buffer) => {
    last = performance.now();
    if (received === 0) first = last;
    received += chunk.length;
  });
  child.stderr!.on('data', (chunk: Buffer) => (errors += chunk.toString()));
  return new Promise((resolve, reject) => {
    child.once('error', reject);
    child.once('close', (code) => {
      if (code !== 0 || received !== bytes) reject(new Error(`kubectl exec exited ${code} after ${received}/${bytes} bytes: ${errors.trim()}`));
      else resolve({ bytes, seconds: (last - first) / 1000 });
    });
  });
}

/** A TCP server on 127.0.0.1 that sends `bytes` zero bytes to every connection, then closes it. */
export async function startByteSource(bytes: number): Promise<{ port: number; close(): void }> {
  const chunk = Buffer.alloc(1 << 20);
  const server = createServer((socket) => {
    socket.on('error', () => socket.destroy());
    let left = bytes;
    const pump = () => {
      while (left > 0) {
        const piece = left >= chunk.length ? chunk : chunk.subarray(0, left);
        left -= piece.length;
        if (!socket.write(piece)) return void socket.once('drain', pump);
      }
      socket.end();
    };
    pump();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  if (!address || typeof address === 'string') throw new Error('byte source has no port');
  return { port: address.port, close: () => server.close() };
}

/**
 * `kubectl port-forward` to the pod's `remotePort` (which kwok points at a byte source), then one TCP
 * connection to the local end read until `bytes` have arrived, timed from connect to the last byte.
 */
export async function portForwardTransfer(kubectl: Kubectl, namespace: string, pod: string, remotePort: number, bytes: number): Promise<Transfer> {
  const forward = kubectl.start(['port-forward', '-n', namespace, `pod/${pod}`, `:${remotePort}`]);
  forward.stdin!.end();
  try {
    const localPort = await forwardedLocalPort(forward, remotePort);
    return await new Promise<Transfer>((resolve, reject) => {
      const started = performance.now();
      let received = 0;
      const socket = connect(localPort, '127.0.0.1');
      socket.on('data', (chunk: Buffer) => {
        received += chunk.length;
        if (received >= bytes) {
          resolve({ bytes: received, seconds: (performance.now() - started) / 1000 });
          socket.destroy();
        }
      });
      socket.on('error', reject);
      socket.on('close', () => reject(new Error(`port-forward connection closed after ${received}/${bytes} bytes`)));
    });
  } finally {
    forward.kill();
  }
}
