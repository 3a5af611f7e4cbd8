/**
 * Long-lived requests held open through a proxy, for its memory under many of them: execs (a WebSocket
 * upgrade, the command running until the socket closes) and watches (a response whose body never ends).
 * Each on a connection of its own, as separate kubectl invocations would; HTTPS, its certificate not
 * checked (loopback).
 */
import { randomBytes } from 'node:crypto';
import { request } from 'node:https';
import type { Socket } from 'node:net';
import { inBatches } from '../in-batches.js';

export interface HeldStreams {
  count: number;
  close(): void;
}

function held(open: (keep: (socket: Socket) => void) => Promise<void>, count: number): Promise<HeldStreams> {
  const sockets: Socket[] = [];
  return inBatches(Array.from({ length: count }, (_, i) => i), 50, () => open((socket) => sockets.push(socket))).then(
    () => ({ count: sockets.length, close: () => sockets.forEach((socket) => socket.destroy()) }),
    (error: unknown) => {
      sockets.forEach((socket) => socket.destroy());
      throw error;
    },
  );
}

/** `count` execs of `command` in `pod`, each upgraded (WebSocket, v5/v4 channel protocol) and left running. */
export function holdExecs(url: string, token: string, namespace: string, pod: string, command: string[], count: number): Promise<HeldStreams> {
  const query = [...command.map((part) => `command=${encodeURIComponent(part)}`), 'stdout=true'].join('&');
  const target = `${url}/api/v1/namespaces/${namespace}/pods/${pod}/exec?${query}`;
  const headers = {
    Authorization: `Bearer ${token}`,
    Connection: 'Upgrade',
    Upgrade: 'websocket',
    'Sec-WebSocket-Version': '13',
    'Sec-WebSocket-Protocol': 'v5.channel.k8s.io, v4.channel.k8s.io',
  };
  return held(
    (keep) =>
      new Promise((resolve, reject) => {
        const req = request(target, { headers: { ...headers, 'Sec-WebSocket-Key': randomBytes(16).toString('base64') }, rejectUnauthorized: false, agent: false });
        req.on('upgrade', (_res, socket) => {
          socket.on('error', () => undefined);
          socket.resume(); // the command's frames, dropped
          keep(socket);
          resolve();
        });
        req.on('response', (res) => reject(new Error(`exec through ${url}: HTTP ${res.statusCode}, not upgraded`)));
        req.on('error', reject);
        req.end();
      }),
    count,
  );
}

/** `count` watches of the ConfigMaps of `namespace`, each answered and left open. */
export function holdWatches(url: string, token: string, namespace: string, count: number): Promise<HeldStreams> {
  const target = `${url}/api/v1/namespaces/${namespace}/configmaps?watch=1&timeoutSeconds=600`;
  return held(
    (keep) =>
      new Promise((resolve, reject) => {
        const req = request(target, { headers: { Authorization: `Bearer ${token}` }, rejectUnauthorized: false, agent: false }, (res) => {
          if (res.statusCode !== 200) return reject(new Error(`watch through ${url}: HTTP ${res.statusCode}`));
          res.on('error', () => undefined);
          res.resume();
          keep(res.socket);
          resolve();
        });
        req.on('error', reject);
        req.end();
      }),
    count,
  );
}
