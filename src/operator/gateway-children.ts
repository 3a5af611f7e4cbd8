/**
 * The objects one SessionPolicy's gateway runs on, as desired state: its ServiceAccount (IRSA role),
 * serving TLS, compiled policy, Deployment, Service, its own namespaced RBAC, and the impersonation
 * ClusterRoles that name exactly the users and groups of the policy's Active grants.
 */
import type * as k8s from '@kubernetes/client-node';
import { fnv1a } from '../util/fnv.js';
import { gatewayName, impersonationRoleName, impersonationShardRoleName, policyConfigMapName, policyLabel, policyRefAnnotation, recordingSigningSecretName, tlsSecretName, versionAnnotation, type SessionPolicy } from '../api/index.js';
import type { CompiledPolicy } from '../policy/compile.js';
import { createCertificateAuthority, daysValid, issueCertificate, loadCertificateAuthority } from '../pki/certificates.js';
import { ownerReference, sessionPolicies } from '../kube/resources.js';

/** What the gateway's live events endpoint asks the API server (see `desiredImpersonation`). */
export const liveEventsReviews: k8s.V1PolicyRule[] = [
  { apiGroups: ['authentication.k8s.io'], resources: ['tokenreviews'], verbs: ['create'] },
  { apiGroups: ['authorization.k8s.io'], resources: ['subjectaccessreviews'], verbs: ['create'] },
];

/** The gateway's admin port (metrics, health) and live events port (`kubegate gateway`'s defaults) in its pod. */
const adminPort = 8081;
const eventsPort = 8082;

function port(policy: SessionPolicy): number {
  return policy.spec.gateway?.port ?? 8443;
}

function labels(policy: SessionPolicy): Record<string, string> {
  return { 'app.kubernetes.io/name': 'kubegate-gateway', 'app.kubernetes.io/managed-by': 'kubegate', [policyLabel]: policy.metadata!.name! };
}

export function meta(policy: SessionPolicy, name: string, extra: Partial<k8s.V1ObjectMeta> = {}): k8s.V1ObjectMeta {
  return { name, namespace: policy.metadata!.namespace!, labels: labels(policy), ownerReferences: [ownerReference(sessionPolicies, policy)], ...extra };
}

/** The in-cluster address of a policy's gateway and its CA, given its TLS Secret; undefined before that has a CA. */
export function gatewayEndpoint(policy: SessionPolicy, tlsSecret: k8s.V1Secret | undefined): { server: string; caPem: string } | undefined {
  const name = policy.metadata!.name!;
  const namespace = policy.metadata!.namespace!;
  const ca = tlsSecret?.data?.['ca.crt'];
  if (!ca) return undefined;
  return { server: `https://${gatewayName(name)}.${namespace}.svc:443`, caPem: Buffer.from(ca, 'base64').toString('utf8') };
}

/**
 * The gateway's TLS Secret: a CA of its own (kept across renewals, so pinned kubeconfigs stay valid) and
 * a serving certificate for the Service's names, renewed 30 days before it expires. The CA key is in the
 * Secret so that a gateway run outside the cluster can issue its own serving certificate.
 */
export async function desiredTlsSecret(policy: SessionPolicy, existing: k8s.V1Secret | undefined): Promise<k8s.V1Secret | undefined> {
  const name = policy.metadata!.name!;
  const namespace = policy.metadata!.namespace!;
  const data = existing?.data ?? {};
  const decode = (key: string) => (data[key] ? Buffer.from(data[key]!, 'base64').toString('utf8') : undefined);
  const [caCrt, caKey, tlsCrt] = [decode('ca.crt'), decode('ca.key'), decode('tls.crt')];
  if (caCrt && caKey && tlsCrt && daysValid(tlsCrt) > 30 && daysValid(caCrt) > 30) return undefined;
  const ca = caCrt && caKey && daysValid(caCrt) > 30 ? await loadCertificateAuthority(caCrt, caKey) : await createCertificateAuthority(`kubegate-gateway-${namespace}-${name}`);
  const service = gatewayName(name);
  const serving = await issueCertificate(ca, {
    subject: `CN=${service}.${namespace}.svc`,
    dnsNames: [service, `${service}.${namespace}`, `${service}.${namespace}.svc`, `${service}.${namespace}.svc.cluster.local`, 'localhost'],
    ipAddresses: ['127.0.0.1'],
    server: true,
    validDays: 365,
  });
  const b64 = (text: string) => Buffer.from(text).toString('base64');
  return {
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: meta(policy, tlsSecretName(name)),
    type: 'Opaque',
    data: { 'ca.crt': b64(ca.certPem), 'ca.key': b64(ca.keyPem), 'tls.crt': b64(serving.certPem), 'tls.key': b64(serving.keyPem) },
  };
}

export function desiredServiceAccount(policy: SessionPolicy): k8s.V1ServiceAccount {
  const role = policy.spec.gateway?.iamRoleArn;
  return {
    apiVersion: 'v1',
    kind: 'ServiceAccount',
    metadata: meta(policy, gatewayName(policy.metadata!.name!), role ? { annotations: { 'eks.amazonaws.com/role-arn': role } } : {}),
  };
}

export function desiredPolicyConfigMap(policy: SessionPolicy, compiled: CompiledPolicy, jwks: object): k8s.V1ConfigMap {
  return {
    apiVersion: 'v1',
    kind: 'ConfigMap',
    metadata: meta(policy, policyConfigMapName(policy.metadata!.name!), { annotations: { [versionAnnotation]: compiled.version } }),
    data: { 'policy.json': JSON.stringify(compiled, null, 2), 'jwks.json': JSON.stringify(jwks) },
  };
}

export function desiredService(policy: SessionPolicy): k8s.V1Service {
  return {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: meta(policy, gatewayName(policy.metadata!.name!)),
    spec: {
      selector: { 'app.kubernetes.io/name': 'kubegate-gateway', [policyLabel]: policy.metadata!.name! },
      ports: [{ name: 'https', port: 443, targetPort: port(policy) as unknown as k8s.IntOrString, protocol: 'TCP' }],
    },
  };
}

/** Where the EKS pod identity webhook mounts the web identity token; the SDK reads AWS_WEB_IDENTITY_TOKEN_FILE. */
export const eksTokenDir = '/var/run/secrets/eks.amazonaws.com/serviceaccount';

/**
 * The token volume, its mount and the environment exactly as the EKS pod identity webhook
 * (aws/amazon-eks-pod-identity-webhook, pkg/handler/handler.go, defaults: audience sts.amazonaws.com,
 * 86400 s, regional STS) adds them for a ServiceAccount annotated with `eks.amazonaws.com/role-arn`, in
 * its order. Rendering them ourselves makes the gateway work where no webhook runs, and where one does it
 * finds its volume and variables present and leaves the pod as it is.
 */
export function eksWebIdentity(roleArn: string, region: string | undefined): { env: k8s.V1EnvVar[]; volumeMount: k8s.V1VolumeMount; volume: k8s.V1Volume } {
  return {
    env: [
      { name: 'AWS_STS_REGIONAL_ENDPOINTS', value: 'regional' },
      ...(region ? [{ name: 'AWS_DEFAULT_REGION', value: region }, { name: 'AWS_REGION', value: region }] : []),
      { name: 'AWS_ROLE_ARN', value: roleArn },
      { name: 'AWS_WEB_IDENTITY_TOKEN_FILE', value: `${eksTokenDir}/token` },
    ],
    volumeMount: { name: 'aws-iam-token', readOnly: true, mountPath: eksTokenDir },
    volume: { name: 'aws-iam-token', projected: { sources: [{ serviceAccountToken: { audience: 'sts.amazonaws.com', expirationSeconds: 86400, path: 'token' } }] } },
  };
}

/** `pods: false`: no replicas — the policy's gateways run elsewhere (`kubegate dev` runs them as local processes). */
export function desiredDeployment(policy: SessionPolicy, compiled: CompiledPolicy, defaultImage: string, options: { pods?: boolean } = {}): k8s.V1Deployment {
  const name = policy.metadata!.name!;
  const namespace = policy.metadata!.namespace!;
  const podLabels = { 'app.kubernetes.io/name': 'kubegate-gateway', [policyLabel]: name };
  const resources = policy.spec.gateway?.resources ?? { requests: { cpu: '250m', memory: '256Mi' }, limits: { memory: '1Gi' } };
  const storage = policy.spec.gateway?.storage;
  const role = policy.spec.gateway?.iamRoleArn;
  const webIdentity = role ? eksWebIdentity(role, storage?.region) : undefined;
  const probe = (path: string): k8s.V1Probe => ({ httpGet: { path, port: adminPort as unknown as k8s.IntOrString }, periodSeconds: 10 });
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: meta(policy, gatewayName(name)),
    spec: {
      replicas: options.pods === false ? 0 : (policy.spec.gateway?.replicas ?? 2),
      selector: { matchLabels: podLabels },
      template: {
        // the compiled version on the template: a changed policy rolls the gateway
        metadata: { labels: { ...labels(policy), ...podLabels }, annotations: { [versionAnnotation]: compiled.version } },
        spec: {
          serviceAccountName: gatewayName(name),
          automountServiceAccountToken: true,
          // SIGTERM: up to 20 s of drain, then up to 10 s of uploading the spool (an emptyDir, gone with the pod)
          terminationGracePeriodSeconds: 45,
          securityContext: { runAsNonRoot: true, runAsUser: 65532, runAsGroup: 65532, fsGroup: 65532, seccompProfile: { type: 'RuntimeDefault' } },
          containers: [
            {
              name: 'gateway',
              image: policy.spec.gateway?.image ?? defaultImage,
              args: ['gateway', `--policy=${namespace}/${name}`, `--listen=0.0.0.0:${port(policy)}`, `--admin-listen=0.0.0.0:${adminPort}`, '--policy-dir=/etc/kubegate/policy', '--tls-dir=/etc/kubegate/tls', '--spool-dir=/var/spool/kubegate'],
              env: [
                ...(storage?.url ? [{ name: 'KUBEGATE_STORE', value: storage.url }] : []),
                // with a role, the region goes where the webhook puts it (below)
                ...(storage?.region && !webIdentity ? [{ name: 'AWS_REGION', value: storage.region }] : []),
                ...(storage?.endpoint ? [{ name: 'AWS_ENDPOINT_URL_S3', value: storage.endpoint }] : []),
                ...(webIdentity?.env ?? []),
              ],
              ports: [
                { name: 'https', containerPort: port(policy) },
                { name: 'admin', containerPort: adminPort },
                { name: 'events', containerPort: eventsPort },
              ],
              readinessProbe: probe('/readyz'),
              livenessProbe: probe('/healthz'),
              resources: resources as k8s.V1ResourceRequirements,
              securityContext: { allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, capabilities: { drop: ['ALL'] } },
              volumeMounts: [
                { name: 'policy', mountPath: '/etc/kubegate/policy', readOnly: true },
                { name: 'tls', mountPath: '/etc/kubegate/tls', readOnly: true },
                { name: 'spool', mountPath: '/var/spool/kubegate' },
                { name: 'tmp', mountPath: '/tmp' },
                ...(webIdentity ? [webIdentity.volumeMount] : []),
              ],
            },
          ],
          volumes: [
            ...(webIdentity ? [webIdentity.volume] : []),
            { name: 'policy', configMap: { name: policyConfigMapName(name) } },
            { name: 'tls', secret: { secretName: tlsSecretName(name) } },
            { name: 'spool', emptyDir: { sizeLimit: '10Gi' } },
            { name: 'tmp', emptyDir: {} },
          ],
        },
      },
    },
  };
}

/** What the gateway itself may do in its namespace: read grants (token checks), its policy and TLS, open and consume approvals. */
export function desiredGatewayRole(policy: SessionPolicy): [k8s.V1Role, k8s.V1RoleBinding] {
  const name = gatewayName(policy.metadata!.name!);
  return [
    {
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'Role',
      metadata: meta(policy, name),
      rules: [
        { apiGroups: ['kubegate.dev'], resources: ['accessgrants', 'sessionpolicies'], verbs: ['get', 'list', 'watch'] },
        { apiGroups: ['kubegate.dev'], resources: ['approvalrequests'], verbs: ['get', 'list', 'watch', 'create'] },
        { apiGroups: ['kubegate.dev'], resources: ['approvalrequests/status'], verbs: ['patch'] },
        { apiGroups: [''], resources: ['configmaps'], resourceNames: [policyConfigMapName(policy.metadata!.name!)], verbs: ['get', 'watch', 'list'] },
        // outside a cluster the gateway issues its own serving certificate from the policy's CA
        { apiGroups: [''], resources: ['secrets'], resourceNames: [tlsSecretName(policy.metadata!.name!)], verbs: ['get'] },
        // the keys it signs recordings with, read (again every few minutes: the operator rotates them) by name
        { apiGroups: [''], resources: ['secrets'], resourceNames: [recordingSigningSecretName(policy.metadata!.name!)], verbs: ['get'] },
      ],
    },
    {
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'RoleBinding',
      metadata: meta(policy, name),
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name },
      subjects: [{ kind: 'ServiceAccount', name, namespace: policy.metadata!.namespace! }],
    },
  ];
}

/** One Active grant as the gateway impersonates it: its subject's prefixed user and the grant's group. */
export interface ImpersonatedIdentity {
  user: string;
  group: string;
}

/** How many ClusterRoles a policy's impersonation rights are spread over (see `desiredImpersonation`). */
export const impersonationShards = 16;

/**
 * The shard a subject's rights live in: a hash of its impersonated user, so all of its grants share one.
 * FNV, not SHA-256: every policy reconcile places every Active grant again.
 */
export function impersonationShard(user: string): number {
  return fnv1a(user) % impersonationShards;
}

function clusterRoleAndBinding(policy: SessionPolicy, name: string, rules: k8s.V1PolicyRule[]): [k8s.V1ClusterRole, k8s.V1ClusterRoleBinding] {
  const ref = { namespace: policy.metadata!.namespace!, name: policy.metadata!.name! };
  const metadata = { name, labels: labels(policy), annotations: { [policyRefAnnotation]: `${ref.namespace}/${ref.name}` } };
  return [
    { apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'ClusterRole', metadata, rules },
    {
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'ClusterRoleBinding',
      metadata,
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name },
      subjects: [{ kind: 'ServiceAccount', name: gatewayName(ref.name), namespace: ref.namespace }],
    },
  ];
}

/** Impersonation of exactly these users and groups by name, with the session-id extra; none for none. */
function impersonationRules(identities: ImpersonatedIdentity[]): k8s.V1PolicyRule[] {
  // an empty resourceNames list would mean "everyone": no identity, no rule
  if (identities.length === 0) return [];
  const sorted = (list: string[]) => [...new Set(list)].sort();
  return [
    { apiGroups: [''], resources: ['users'], verbs: ['impersonate'], resourceNames: sorted(identities.map((i) => i.user)) },
    { apiGroups: [''], resources: ['groups'], verbs: ['impersonate'], resourceNames: sorted(identities.map((i) => i.group)) },
    { apiGroups: ['authentication.k8s.io'], resources: ['userextras/kubegate.dev/session-id'], verbs: ['impersonate'] },
  ];
}

/**
 * The gateway's cluster-wide roles, each bound to its ServiceAccount. `impersonationRoleName` holds the
 * reviews its live events endpoint asks the API server for (who a subscriber is, and whether they may
 * watch or end sessions): TokenReviews and SubjectAccessReviews, which are cluster-scoped. Impersonation
 * is exactly as wide as the policy's Active grants — their prefixed users and grant groups by name, and
 * the session-id extra — spread over `impersonationShards` ClusterRoles by a hash of the subject
 * (`impersonationShardRoleName`): a grant that starts or ends rewrites the one shard of its subject, a
 * sixteenth of the rights, where one role of every grant's names was rewritten whole each time (at
 * 5,000 grants, 10,000 names per write). A shard without an Active grant has no rules at all.
 */
export function desiredImpersonation(policy: SessionPolicy, identities: ImpersonatedIdentity[]): k8s.KubernetesObject[] {
  const ref = { namespace: policy.metadata!.namespace!, name: policy.metadata!.name! };
  const shards = Array.from({ length: impersonationShards }, (): ImpersonatedIdentity[] => []);
  for (const identity of identities) shards[impersonationShard(identity.user)]!.push(identity);
  return [
    ...clusterRoleAndBinding(policy, impersonationRoleName(ref), liveEventsReviews),
    ...shards.flatMap((members, shard) => clusterRoleAndBinding(policy, impersonationShardRoleName(ref, shard), impersonationRules(members))),
  ];
}
