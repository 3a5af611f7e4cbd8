/**
 * A TLS front for the gateway that keeps the bytes of every upgraded connection: kubectl talks TLS to
 * the tap (under the tap's own CA; client-go sends no token over plain HTTP), the tap talks TLS to the
 * gateway, and what passes after the 101 is kept per direction — real kubectl stream traffic, as the
 * gateway reads it, for fixtures and fuzzing seeds.
 */
import type { AddressInfo, Socket } from 'node:net';
import { connect, createServer, type Server } from 'node:tls';
import { createCertificateAuthority, issueCertificate } from '../../src/pki/certificates.js';

export interface TappedUpgrade {
  /** The request line's target, e.g. `/api/v1/namespaces/x/pods/y/exec?command=…`. */
  path: string;
  transport: 'websocket' | 'spdy';
  /** `Sec-WebSocket-Protocol` or `X-Stream-Protocol-Version` of the 101. */
  protocol: string;
  clientToServer: Buffer;
  serverToClient: Buffer;
}

export interface StreamTap {
  url: string;
  /** PEM of the CA the tap's serving certificate chains to. */
  ca: string;
  /** The upgraded connections so far (closed or not), in the order they connected. */
  upgrades(): TappedUpgrade[];
  close(): Promise<void>;
}

const headEnd = Buffer.from('\r\n\r\n');

/** The bytes after the HTTP head that starts with `first`, or undefined when the connection has none. */
function afterHead(bytes: Buffer, first: RegExp): { head: string; rest: Buffer } | undefined {
  for (let at = 0; at < bytes.length; ) {
    const end = bytes.indexOf(headEnd, at);
    if (end === -1) return undefined;
    const head = bytes.toString('latin1', at, end);
    if (first.test(head)) return { head, rest: bytes.subarray(end + headEnd.length) };
    at = end + headEnd.length;
  }
  return undefined;
}

export async function startStreamTap(gateway: { url: string; ca: string }): Promise<StreamTap> {
  const target = new URL(gateway.url);
  const connections: { client: Buffer[]; server: Buffer[] }[] = [];
  const sockets = new Set<Socket>();
  const ca = await createCertificateAuthority('kubegate-test-tap');
  const serving = await issueCertificate(ca, { subject: 'CN=tap', ipAddresses: ['127.0.0.1'], server: true });
  const server: Server = createServer({ cert: serving.certPem, key: serving.keyPem }, (client) => {
    const seen = { client: [] as Buffer[], server: [] as Buffer[] };
    connections.push(seen);
    const upstream = connect({ host: target.hostname, port: Number(target.port), ca: gateway.ca });
    for (const socket of [client, upstream]) {
      sockets.add(socket);
      socket.on('error', () => socket.destroy());
      socket.on('close', () => (client.destroy(), upstream.destroy()));
    }
    client.on('data', (chunk: Buffer) => (seen.client.push(chunk), upstream.write(chunk)));
    upstream.on('data', (chunk: Buffer) => (seen.server.push(chunk), client.write(chunk)));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `https://127.0.0.1:${(server.address() as AddressInfo).port}`,
    ca: ca.certPem,
    upgrades: () =>
      connections.flatMap(({ client, server: answer }) => {
        const request = afterHead(Buffer.concat(client), /\r\nupgrade:/i);
        const response = afterHead(Buffer.concat(answer), /^HTTP\/1\.1 101/);
        if (!request || !response) return [];
        const protocol = /\r\n(?:sec-websocket-protocol|x-stream-protocol-version): *([^\r]*)/i.exec(response.head)?.[1] ?? '';
        const transport = /\r\nupgrade: *websocket/i.test(response.head) ? ('websocket' as const) : ('spdy' as const);
        return [{ path: request.head.split(' ')[1]!, transport, protocol, clientToServer: request.rest, serverToClient: response.rest }];
      }),
    close: async () => {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
