/**
 * Long-lived requests held open through a proxy, for its memory under many of them: execs (a WebSocket
 * upgrade, the command running until the socket closes) and watches (a response whose body never ends).
 * Each on a connection of its own, as separate kubectl invocations would; HTTPS, its certificate not
 * checked (loopback).
 */
import { randomBytes } from 'node:crypto';
import type { ClientRequest } from 'node:http';
import { request } from 'node:https';
import type { Socket } from 'node:net';
import { inBatches } from '../in-batches.js';

export interface HeldStreams {
  /** How many were answered (upgraded, or their watch begun) within `answerMs` each. */
  count: number;
  close(): void;
}

/** How long one stream may take to be answered before it counts as not answered (a proxy out of connections queues it). */
const answerMs = 20_000;

function held(open: (keep: (socket: Socket) => void) => ClientRequest, count: number): Promise<HeldStreams> {
  const sockets: Socket[] = [];
  const opened: ClientRequest[] = [];
  const one = () =>
    new Promise<void>((resolve, reject) => {
      const req = open((socket) => {
        sockets.push(socket);
        resolve();
      });
      opened.push(req);
      req.on('error', reject);
      req.setTimeout(answerMs, () => {
        req.destroy();
        resolve();
      });
    });
  const close = () => [...sockets, ...opened].forEach((stream) => stream.destroy());
  return inBatches(Array.from({ length: count }, (_, i) => i), 50, one).then(
    () => ({ count: sockets.length, close }),
    (error: unknown) => {
      close();
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
  return held((keep) => {
    const req = request(target, { headers: { ...headers, 'Sec-WebSocket-Key': randomBytes(16).toString('base64') }, rejectUnauthorized: false, agent: false });
    req.on('upgrade', (_res, socket) => {
      socket.on('error', () => undefined);
      socket.resume(); // the command's frames, dropped
      req.setTimeout(0);
      keep(socket);
    });
    req.on('response', (res) => req.destroy(new Error(`exec through ${url}: HTTP ${res.statusCode}, not upgraded`)));
    req.end();
    return req;
  }, count);
}

/** `count` watches of the ConfigMaps of `namespace`, each answered and left open. */
export function holdWatches(url: string, token: string, namespace: string, count: number): Promise<HeldStreams> {
  const target = `${url}/api/v1/namespaces/${namespace}/configmaps?watch=1&timeoutSeconds=600`;
  return held((keep) => {
    const req = request(target, { headers: { Authorization: `Bearer ${token}` }, rejectUnauthorized: false, agent: false }, (res) => {
      if (res.statusCode !== 200) return void req.destroy(new Error(`watch through ${url}: HTTP ${res.statusCode}`));
      res.on('error', () => undefined);
      res.resume();
      req.setTimeout(0);
      keep(res.socket);
    });
    req.end();
    return req;
  }, count);
}
