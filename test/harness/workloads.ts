import type { Kubectl } from './kubectl.js';

/** Retries `check` until it passes or `timeoutMs` ends; rethrows its last failure. */
export async function eventually(check: () => Promise<void>, timeoutMs = 15_000, intervalMs = 200): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      await check();
      return;
    } catch (error) {
      if (Date.now() > deadline) throw error;
      await new Promise((resolve) => setTimeout(resolve, intervalMs));
    }
  }
}

/** A Deployment whose pods land on the kwok node (the image is never pulled there). */
export function deploymentYaml(name: string, replicas: number): string {
  return JSON.stringify({
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name },
    spec: {
      replicas,
      selector: { matchLabels: { app: name } },
      template: {
        metadata: { labels: { app: name } },
        spec: { containers: [{ name, image: 'registry.example/app:1.0', ports: [{ containerPort: 8080 }] }] },
      },
    },
  });
}

export async function podNames(kubectl: Kubectl, namespace: string, selector: string): Promise<string[]> {
  const out = await kubectl.ok(['get', 'pods', '-n', namespace, '-l', selector, '-o', 'jsonpath={.items[*].metadata.name}']);
  return out.split(' ').filter(Boolean);
}

/**
 * Waits for an AccessGrant to be Active. A test's operator is fresh and reconciles every object the
 * shared sandbox holds before the test's own, hence the generous default.
 */
export async function grantActive(kubectl: Kubectl, namespace: string, grant: string, timeoutMs = 60_000): Promise<void> {
  await eventually(async () => {
    const phase = (await kubectl.ok(['get', 'accessgrant', grant, '-n', namespace, '-o', 'jsonpath={.status.phase}'])).trim();
    if (phase !== 'Active') throw new Error(`AccessGrant ${namespace}/${grant} is ${phase || 'without a phase'}, not Active`);
  }, timeoutMs, 250);
}
