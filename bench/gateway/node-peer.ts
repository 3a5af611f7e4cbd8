/**
 * The Node floor (bench/node-peer/main.ts) as a peer process: what a bare Node.js proxy costs per request
 * on this machine, beside which the gateway's own work is told apart from Node's HTTP and TLS.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startPeer, type RunningPeer } from './peer-process.js';

export interface NodePeerOptions {
  upstream: string;
  upstreamCaFile: string;
  /** the bearer token sent upstream: the gateway's ServiceAccount's */
  upstreamToken: string;
  impersonateUser: string;
  impersonateGroup: string;
}

export function startNodePeer(options: NodePeerOptions): Promise<RunningPeer> {
  const dir = mkdtempSync(join(tmpdir(), 'kubegate-node-peer-'));
  const tokenFile = join(dir, 'token');
  writeFileSync(tokenFile, options.upstreamToken, { mode: 0o600 });
  const main = fileURLToPath(new URL('../node-peer/main.js', import.meta.url));
  return startPeer({
    name: 'node-peer',
    command: process.execPath,
    args: [main, options.upstream, options.upstreamCaFile, tokenFile, options.impersonateUser, options.impersonateGroup],
    dir,
    announcement: /serving on (https:\/\/\S+)/,
    url: (match) => match[1]!,
    cluster: { 'insecure-skip-tls-verify': true },
    user: { token: 'stripped-by-the-peer' },
  });
}
