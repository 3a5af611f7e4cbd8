/**
 * The admission policies that make grants and approvals trustworthy (config/admission) are part of the
 * operator's contract: the leader applies them at start, so a cluster never runs grants without them.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type * as k8s from '@kubernetes/client-node';
import { parseAllDocuments } from 'yaml';
import { packageRoot } from '../util/package-root.js';
import { apply, type KubeClients } from '../kube/client.js';

export function admissionManifests(dir = join(packageRoot(), 'config', 'admission')): k8s.KubernetesObject[] {
  return readdirSync(dir)
    .filter((file) => file.endsWith('.yaml') && file !== 'kustomization.yaml')
    .sort()
    .flatMap((file) => parseAllDocuments(readFileSync(join(dir, file), 'utf8')).map((doc) => doc.toJS() as k8s.KubernetesObject))
    .filter((object) => object?.kind);
}

export async function ensureAdmissionPolicies(clients: KubeClients): Promise<string[]> {
  const applied: string[] = [];
  for (const manifest of admissionManifests()) {
    await apply(clients, manifest);
    applied.push(`${manifest.kind}/${manifest.metadata?.name}`);
  }
  return applied;
}
