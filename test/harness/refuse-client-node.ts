/**
 * `node --import` this module and any load of @kubernetes/client-node fails (refuse-client-node-hooks.ts,
 * whose `refuseClientNode()` gives a child process the environment for it).
 */
import { register } from 'node:module';

register(new URL('./refuse-client-node-hooks.js', import.meta.url));
