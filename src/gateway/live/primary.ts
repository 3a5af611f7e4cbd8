/**
 * The live feed in the gateway's primary process: the hub every worker reports to, and the events
 * endpoint that serves it. `forked` links each node:cluster worker to the hub: its IPC messages in,
 * the hub's messages out, its start of serving and its exit.
 */
import type { Worker } from 'node:cluster';
import type { RawKubeClient } from '../../kube/raw-client.js';
import type { Logger } from 'pino';
import type { ServingTls } from '../serving-tls.js';
import { LiveHub } from './hub.js';
import { kubernetesAuthorizer, LiveEventsServer } from './server.js';

export interface LiveFeedOptions {
  listen: { host: string; port: number };
  tls: ServingTls;
  /** The API as the gateway itself: it makes the TokenReviews and SubjectAccessReviews. */
  api: RawKubeClient;
  /** The policy's namespace: where `sessions.kubegate.dev` are authorised. */
  namespace: string;
  logger: Logger;
}

export class LiveFeed {
  private readonly hub: LiveHub;
  private readonly server: LiveEventsServer;

  constructor(options: LiveFeedOptions) {
    const logger = options.logger.child({ component: 'live-events' });
    this.hub = new LiveHub({ logger });
    this.server = new LiveEventsServer({ hub: this.hub, tls: options.tls, listen: options.listen, authorize: kubernetesAuthorizer(options.api, options.namespace), logger });
  }

  async start(): Promise<void> {
    await this.server.start();
  }

  port(): number {
    return this.server.port();
  }

  /** A worker just forked with `index`; `ready` settles once it serves. */
  forked(index: number, worker: Worker, ready: Promise<void>): void {
    const link = this.hub.connect(index, (message) => {
      if (worker.isConnected()) worker.send(message, undefined, () => undefined);
    });
    worker.on('message', (message: unknown) => link.receive(message));
    worker.once('exit', () => link.exited());
    void ready.then(() => link.serving());
  }

  stop(): Promise<void> {
    return this.server.close();
  }
}
