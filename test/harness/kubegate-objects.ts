/** Builders for kubegate objects in tests: realistic defaults, overridable per test. */
import { randomBytes } from 'node:crypto';

export function uniqueName(prefix: string): string {
  return `${prefix}-${randomBytes(3).toString('hex')}`;
}

export function sessionPolicy(namespace: string, name: string, spec: Record<string, unknown> = {}): object {
  return {
    apiVersion: 'kubegate.dev/v1alpha1',
    kind: 'SessionPolicy',
    metadata: { name, namespace },
    spec: {
      gateway: { replicas: 1, iamRoleArn: 'arn:aws:iam::123456789012:role/kubegate-test-gateway', storage: { url: 's3://kubegate-sessions/test' } },
      approvers: { groups: ['sre-leads'], minApprovals: 1 },
      gitops: { appliers: ['system:serviceaccount:flux-system:kustomize-controller'] },
      rules: [{ name: 'no-namespace-deletion', match: { verbs: ['delete'], resources: ['namespaces'] }, action: 'Deny' }],
      defaultAction: 'Allow',
      ...spec,
    },
  };
}

export function accessGrant(namespace: string, name: string, spec: Record<string, unknown>): object {
  return {
    apiVersion: 'kubegate.dev/v1alpha1',
    kind: 'AccessGrant',
    metadata: { name, namespace },
    spec: { reason: 'integration test (CHG-1)', ...spec },
  };
}
