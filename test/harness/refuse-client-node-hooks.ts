/**
 * Module resolution hooks (registered by refuse-client-node.ts) that refuse to load
 * @kubernetes/client-node: the import that reaches it fails, naming the importing module, so a process
 * that must not load the library (the gateway's primary and workers: kube/raw-client.ts says why) fails
 * where it would. Worker processes a gateway forks inherit NODE_OPTIONS, so they are held to it too.
 */
import { fileURLToPath } from 'node:url';

interface ResolveContext {
  parentURL?: string;
}
type NextResolve = (specifier: string, context: ResolveContext) => Promise<{ url: string }>;

const library = '/node_modules/@kubernetes/client-node/';

export async function resolve(specifier: string, context: ResolveContext, next: NextResolve): Promise<{ url: string }> {
  const resolved = await next(specifier, context);
  if (resolved.url.includes(library) && !context.parentURL?.includes(library)) {
    throw new Error(`${context.parentURL ?? 'the entry point'} loads @kubernetes/client-node (import '${specifier}')`);
  }
  return resolved;
}

/** The environment of a Node child process (a kubegate gateway) in which loading client-node fails. */
export function refuseClientNode(): NodeJS.ProcessEnv {
  const register = fileURLToPath(new URL('./refuse-client-node.js', import.meta.url));
  return { NODE_OPTIONS: `${process.env.NODE_OPTIONS ?? ''} --import=${register}`.trim() };
}
