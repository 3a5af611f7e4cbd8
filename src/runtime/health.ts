/**
 * The probe and metrics endpoint of the operator (`--health-listen`) and the gateway (`--admin-listen`), what
 * their Deployments' probes and Prometheus call:
 * - `/healthz`: 200 while the process serves requests (liveness: restart only a wedged process);
 * - `/readyz`: 200 when every readiness check passes, else 500, with one `[+]name ok` / `[-]name failed`
 *   line per check as the Kubernetes API server writes them;
 * - `/metrics`: the registry in Prometheus text format.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Registry } from 'prom-client';

export type HealthCheck = () => boolean | Promise<boolean>;

export interface HealthServerOptions {
  /** 0 picks a free port; see `port()`. */
  port: number;
  /** Default: every interface, as the kubelet probes the pod IP. */
  host?: string;
  /** Readiness checks by name: `/readyz` passes when all of them do. */
  checks: Record<string, HealthCheck>;
  registry: Registry;
}

export class HealthServer {
  private readonly options: HealthServerOptions;
  private readonly server: Server;

  constructor(options: HealthServerOptions) {
    this.options = options;
    this.server = createServer((request, response) => {
      this.handle(request, response).catch((error: unknown) => {
        response.writeHead(500, { 'content-type': 'text/plain' }).end(`${error instanceof Error ? error.message : String(error)}\n`);
      });
    });
  }

  start(): Promise<void> {
    return new Promise((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(this.options.port, this.options.host, () => {
        this.server.off('error', reject);
        resolve();
      });
    });
  }

  /** The port listened on (the chosen one when `port` was 0). */
  port(): number {
    return (this.server.address() as AddressInfo).port;
  }

  close(): Promise<void> {
    return new Promise((resolve) => {
      this.server.close(() => resolve());
      // probes and scrapes keep connections alive; they must not hold up shutdown
      this.server.closeAllConnections();
    });
  }

  private async handle(request: IncomingMessage, response: ServerResponse): Promise<void> {
    const path = new URL(request.url ?? '/', 'http://probe').pathname;
    switch (path) {
      case '/healthz':
        response.writeHead(200, { 'content-type': 'text/plain' }).end('ok\n');
        return;
      case '/readyz': {
        const results = await Promise.all(
          Object.entries(this.options.checks).map(async ([name, check]) => [name, await Promise.resolve().then(check).catch(() => false)] as const),
        );
        const ready = results.every(([, passed]) => passed);
        const lines = results.map(([name, passed]) => (passed ? `[+]${name} ok` : `[-]${name} failed`));
        lines.push(ready ? 'readyz check passed' : 'readyz check failed');
        response.writeHead(ready ? 200 : 500, { 'content-type': 'text/plain' }).end(`${lines.join('\n')}\n`);
        return;
      }
      case '/metrics': {
        const body = await this.options.registry.metrics();
        response.writeHead(200, { 'content-type': this.options.registry.contentType }).end(body);
        return;
      }
      default:
        response.writeHead(404, { 'content-type': 'text/plain' }).end('not found\n');
    }
  }
}
