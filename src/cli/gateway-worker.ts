/**
 * A `kubegate gateway` worker's entry point (the primary forks it: gateway-workers.ts): the gateway built
 * from the flags the primary parsed and served, with the serving certificate the primary gives it.
 */
import { serveAsWorker, servingTlsFromPrimary, workerStart } from './gateway-workers.js';

const { index, flags } = workerStart();
await serveAsWorker(async () => (await import('./gateway-build.js')).buildGateway(flags, { worker: index, tls: await servingTlsFromPrimary() }));
