import type { Command } from 'commander';
import { pino } from 'pino';
import { runOperator } from '../operator/operator.js';
import { defaultConnection } from '../kube/connection.js';
import { fromKubeconfig } from './output.js';
import { parseListen } from './listen.js';
import { parseDuration } from '../util/duration.js';

interface OperatorFlags {
  namespace: string;
  leaderElect: boolean;
  healthListen: string;
  gatewayImage: string;
  sweepCron: string;
  workers: string;
  leaseDuration: string;
  renewDeadline: string;
  retryPeriod: string;
  kubeconfig?: string;
  gatewayPods: boolean;
  ledger: boolean;
}

export function registerOperatorCommand(program: Command): void {
  program
    .command('operator')
    .description('run the operator: AccessGrants, ApprovalRequests and SessionPolicies reconciled into RBAC, approvals and gateways')
    .option('--namespace <namespace>', "the operator's own namespace (Lease, token signing keys)", process.env.POD_NAMESPACE ?? 'kubegate-system')
    .option('--leader-elect', 'run with Lease leader election (one active replica)', false)
    .option('--health-listen <host:port>', '/healthz, /readyz and /metrics', '0.0.0.0:8081')
    .option('--gateway-image <image>', 'image of the gateways the operator runs', 'ghcr.io/kubegate/kubegate:0.1.0')
    .option('--sweep-cron <cron>', 'schedule of the safety sweep of stray bindings', '0 * * * * *')
    .option('--workers <n>', 'concurrent reconciles per controller', '4')
    .option('--lease-duration <duration>', 'how long a leader holds the Lease without renewing it', '15s')
    .option('--renew-deadline <duration>', 'how long a leader keeps trying to renew before it gives up', '10s')
    .option('--retry-period <duration>', 'how often to try to take or renew the Lease', '2s')
    .option('--kubeconfig <file>', 'outside a cluster: the kubeconfig to use')
    .option('--no-gateway-pods', 'give each policy\'s gateway Deployment no replicas: its gateways run elsewhere (kubegate dev runs them as local processes; the sandbox\'s kwok node runs no images)')
    .option('--no-ledger', "keep no access ledger: grants and approvals are not written to their policy's store (an operator without credentials for it)")
    .action(async (options: OperatorFlags) => {
      const logger = pino({ name: 'kubegate-operator', level: process.env.KUBEGATE_LOG_LEVEL ?? 'info' });
      const stop = new AbortController();
      for (const signal of ['SIGTERM', 'SIGINT'] as const) {
        process.once(signal, () => {
          logger.info({ signal }, 'shutting down');
          stop.abort();
        });
      }
      await runOperator(
        {
          // read without client-node, which would cost the operator ~40 MiB (kube/client.ts)
          kubeconfig: fromKubeconfig(options.kubeconfig, () => defaultConnection(options.kubeconfig)),
          namespace: options.namespace,
          leaderElect: options.leaderElect,
          healthListen: parseListen(options.healthListen),
          lease: {
            durationMs: parseDuration(options.leaseDuration),
            renewDeadlineMs: parseDuration(options.renewDeadline),
            retryPeriodMs: parseDuration(options.retryPeriod),
          },
          gatewayImage: options.gatewayImage,
          gatewayPods: options.gatewayPods,
          sweepCron: options.sweepCron,
          workers: Number(options.workers),
          ledger: options.ledger,
          logger,
        },
        stop.signal,
      );
    });
}
