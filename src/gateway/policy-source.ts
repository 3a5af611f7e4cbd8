/**
 * The compiled policy and token keys the gateway enforces, hot-reloaded: from the mounted ConfigMap
 * folder in a cluster, or read from the API outside one. Checked every `intervalMs`; a new version is
 * compiled once and swapped in whole, so a request sees one version from start to end.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type * as k8s from '@kubernetes/client-node';
import type { RawKubeClient } from '../kube/raw-client.js';
import type { JSONWebKeySet } from 'jose';
import type { CompiledPolicy } from '../policy/compile.js';
import { policyConfigMapName } from '../api/names.js';

export interface LoadedPolicy {
  compiled: CompiledPolicy;
  jwks: JSONWebKeySet;
  /** Changes with the policy and with key rotation. */
  fingerprint: string;
}

export type PolicyFiles = () => Promise<{ policy: string; jwks: string }>;

export function policyFromDirectory(dir: string): PolicyFiles {
  return async () => ({ policy: await readFile(join(dir, 'policy.json'), 'utf8'), jwks: await readFile(join(dir, 'jwks.json'), 'utf8') });
}

export function policyFromApi(api: RawKubeClient, policy: { namespace: string; name: string }): PolicyFiles {
  return async () => {
    const map = await api.requestJson<k8s.V1ConfigMap>('GET', `/api/v1/namespaces/${policy.namespace}/configmaps/${policyConfigMapName(policy.name)}`);
    const data = map.data ?? {};
    if (!data['policy.json'] || !data['jwks.json']) throw new Error(`ConfigMap ${policy.namespace}/${policyConfigMapName(policy.name)} has no compiled policy yet`);
    return { policy: data['policy.json'], jwks: data['jwks.json'] };
  };
}

export class PolicySource {
  private loaded: LoadedPolicy | undefined;
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly files: PolicyFiles,
    private readonly onChange: (policy: LoadedPolicy, previous?: LoadedPolicy) => void,
    private readonly onError: (error: unknown) => void,
  ) {}

  current(): LoadedPolicy | undefined {
    return this.loaded;
  }

  /** Loads once (failing if it cannot), then keeps polling. */
  async start(intervalMs = 2000): Promise<LoadedPolicy> {
    await this.refresh();
    this.timer = setInterval(() => void this.refresh().catch(this.onError), intervalMs);
    this.timer.unref();
    return this.loaded!;
  }

  stop(): void {
    clearInterval(this.timer);
  }

  private async refresh(): Promise<void> {
    const { policy, jwks } = await this.files();
    const fingerprint = `${policy.length}:${jwks.length}:${policy}${jwks}`;
    if (this.loaded?.fingerprint === fingerprint) return;
    const next: LoadedPolicy = { compiled: JSON.parse(policy) as CompiledPolicy, jwks: JSON.parse(jwks) as JSONWebKeySet, fingerprint };
    const previous = this.loaded;
    this.loaded = next;
    this.onChange(next, previous);
  }
}
