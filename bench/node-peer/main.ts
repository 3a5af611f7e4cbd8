/**
 * The Node floor of the gateway benchmark: the least a Node.js proxy in kubegate's place does per request
 * — TLS toward the client, the client's identity headers dropped, the request forwarded over kept-alive
 * TLS connections to the API server with the gateway's bearer token and Impersonate-User/Group/Extra,
 * the answer streamed back — and nothing else: no authentication of the caller, no policy, no recording.
 * What it costs per request is what Node's HTTP and TLS cost on this machine; what the gateway costs
 * beyond it is kubegate's own work. Run by bench/gateway/node-peer.ts.
 * Args: UPSTREAM CA_FILE TOKEN_FILE USER GROUP
 */
import { readFileSync } from 'node:fs';
import { createServer, request, Agent } from 'node:https';
import type { IncomingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createCertificateAuthority } from '../../src/pki/certificates.js';

const [upstream, caFile, tokenFile, user, group] = process.argv.slice(2) as [string, string, string, string, string];
const target = new URL(upstream);
const agent = new Agent({ keepAlive: true, maxSockets: 256, ca: readFileSync(caFile) });
const identity = {
  authorization: `Bearer ${readFileSync(tokenFile, 'utf8').trim()}`,
  'impersonate-user': user,
  'impersonate-group': group,
  'impersonate-extra-kubegate.dev%2fsession-id': 'node-peer',
};

/** The client's headers less every identity claim, plus the gateway's own. */
function forwardedHeaders(headers: IncomingHttpHeaders): IncomingHttpHeaders {
  const kept: IncomingHttpHeaders = {};
  for (const [name, value] of Object.entries(headers)) {
    if (name === 'authorization' || name === 'host' || name.startsWith('impersonate-') || name.startsWith('x-remote-')) continue;
    kept[name] = value;
  }
  return { ...kept, ...identity, host: target.host };
}

const serving = await createCertificateAuthority('kubegate-bench-node-peer', 1);
const server = createServer({ cert: serving.certPem, key: serving.keyPem }, (req, res) => {
  const out = request({ agent, hostname: target.hostname, port: target.port, method: req.method, path: req.url, headers: forwardedHeaders(req.headers) }, (answer) => {
    res.writeHead(answer.statusCode ?? 502, answer.headers);
    answer.pipe(res);
  });
  out.on('error', () => res.destroy());
  req.pipe(out);
});
server.keepAliveTimeout = 90_000;
server.listen(0, '127.0.0.1', () => console.log(`serving on https://127.0.0.1:${(server.address() as AddressInfo).port}`));
