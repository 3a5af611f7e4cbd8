import { resolve } from 'node:path';
import type { Command } from 'commander';
import * as k8s from '@kubernetes/client-node';
import { pino } from 'pino';
import { withConnectionPool } from '../kube/client.js';
import { Gateway } from '../gateway/server.js';
import { policyFromApi, policyFromDirectory } from '../gateway/policy-source.js';
import { FileRecorder } from '../gateway/recorder.js';
import { tlsFromDirectory, tlsIssuedFromSecret } from '../gateway/serving-tls.js';
import { CliError } from './output.js';
import { parseListen } from './operator.js';

interface GatewayFlags {
  policy: string;
  listen: string;
  adminListen: string;
  kubeconfig?: string;
  policyDir?: string;
  tlsDir?: string;
  tlsSan: string[];
  store?: string;
  spoolDir: string;
}

export function registerGatewayCommand(program: Command): void {
  program
    .command('gateway')
    .description("serve one SessionPolicy's gateway: authenticate JIT tokens, enforce the policy, forward by impersonation, record")
    .requiredOption('--policy <namespace/name>', 'the SessionPolicy to serve')
    .option('--listen <host:port>', 'HTTPS address for kubectl', '0.0.0.0:8443')
    .option('--admin-listen <host:port>', '/healthz, /readyz and /metrics', '0.0.0.0:8081')
    .option('--kubeconfig <file>', 'outside a cluster: the upstream API server and the gateway credentials (its ServiceAccount token)')
    .option('--policy-dir <dir>', 'the mounted compiled-policy ConfigMap (default: read it from the API)')
    .option('--tls-dir <dir>', 'the mounted TLS Secret (default: issue a serving certificate from the policy CA)')
    .option('--tls-san <name>', 'extra name or IP for an issued serving certificate (repeatable)', (value: string, all: string[]) => [...all, value], [])
    .option('--store <url>', 'where recordings go: file://DIR (default $KUBEGATE_STORE)')
    .option('--spool-dir <dir>', 'local recording spool', './kubegate-spool')
    .action(async (flags: GatewayFlags) => {
      const [namespace, name] = flags.policy.split('/');
      if (!namespace || !name) throw new CliError(`--policy must be NAMESPACE/NAME, got "${flags.policy}"`);
      const policy = { namespace, name };
      const logger = pino({ name: 'kubegate-gateway', level: process.env.KUBEGATE_LOG_LEVEL ?? 'info' });
      const upstream = new k8s.KubeConfig();
      if (flags.kubeconfig) upstream.loadFromFile(flags.kubeconfig);
      else upstream.loadFromCluster();
      withConnectionPool(upstream);
      const core = upstream.makeApiClient(k8s.CoreV1Api);
      const listen = parseListen(flags.listen);
      const store = flags.store ?? process.env.KUBEGATE_STORE ?? `file://${resolve(flags.spoolDir)}`;
      let recordingDir = resolve(flags.spoolDir);
      if (store.startsWith('file://')) recordingDir = store.slice('file://'.length);
      else logger.warn({ store }, 'this build records to the local spool only; the object store upload arrives with the recording component');
      const gateway = new Gateway({
        policy,
        listen,
        adminListen: parseListen(flags.adminListen),
        upstream,
        policyFiles: flags.policyDir ? policyFromDirectory(flags.policyDir) : policyFromApi(core, policy),
        tls: flags.tlsDir ? await tlsFromDirectory(flags.tlsDir) : await tlsIssuedFromSecret(core, policy, ['localhost', '127.0.0.1', listen.host, ...flags.tlsSan].filter((h) => h && h !== '0.0.0.0')),
        recorder: new FileRecorder(recordingDir),
        logger,
      });
      await gateway.start();
      await new Promise<void>((resolvePromise) => {
        for (const signal of ['SIGTERM', 'SIGINT'] as const) {
          process.once(signal, () => {
            logger.info({ signal }, 'draining');
            void gateway.stop().then(resolvePromise);
          });
        }
      });
    });
}
