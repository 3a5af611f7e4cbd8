/**
 * IRSA in the sandbox: MinIO's STS (`AssumeRoleWithWebIdentity`) trusts the sandbox API server as an
 * OpenID issuer — its service-account issuer's discovery and JWKS, which anonymous callers may read — and
 * gives each role its own OpenID configuration, because MinIO maps one client id (the audience the token
 * must carry) to one role policy:
 *
 * - gateway, audience `sts.amazonaws.com` (the audience the operator's Deployment mounts, as on EKS): writes
 *   under `gateways/<the token's subject>/` only — the subject is the gateway's ServiceAccount,
 *   `system:serviceaccount:NS:NAME`, so one role serves every policy's gateway and none can write under
 *   another's prefix (on AWS, each policy's gateway has a role of its own, trusting its one ServiceAccount);
 * - operator, audience `kubegate-operator`: keeps the access ledger, `ledger/` of each policy's store
 *   (it reads an object's chain before appending to it, so it may list and read there too) and the
 *   public keys the entries are signed with, `keys/`; since tests give their policies stores under
 *   prefixes of their own, any prefix's `ledger/` and `keys/` (on AWS, name each policy's prefix);
 * - auditor, audience `kubegate-auditor`: reads everything, writes nothing.
 *
 * None may delete. The policies are added through MinIO's admin API (`add-canned-policy`, SigV4-signed
 * with the root keys) once MinIO is up; MinIO resolves a role's policy when credentials are used.
 */
import { createHash, createHmac } from 'node:crypto';
import { request } from 'node:http';
import * as k8s from '@kubernetes/client-node';
import type { S3Settings } from './minio.js';
import type { ManagedProcess } from './process.js';
import { waitUntil } from './network.js';

export type SandboxRoleName = 'gateway' | 'operator' | 'auditor';

export interface SandboxRole {
  /** The role ARN to assume (MinIO derives it from the client id). */
  arn: string;
  /** The audience a ServiceAccount token must carry for this role. */
  audience: string;
  /** The MinIO policy the role is given. */
  policy: string;
}

/** What the sandbox state says about IRSA: the STS endpoint and each role. */
export interface SandboxSts {
  endpoint: string;
  roles: Record<SandboxRoleName, SandboxRole>;
  /** Where a gateway writes: this prefix and its token's subject, as in `s3://BUCKET/gateways/system:serviceaccount:NS:NAME`. */
  gatewayPrefix: string;
}

export const gatewayPrefix = 'gateways/';
const audiences: Record<SandboxRoleName, string> = { gateway: 'sts.amazonaws.com', operator: 'kubegate-operator', auditor: 'kubegate-auditor' };
const writes = ['s3:PutObject', 's3:PutObjectRetention', 's3:AbortMultipartUpload'];

function policyDocument(role: SandboxRoleName, bucket: string): object {
  const bucketArn = `arn:aws:s3:::${bucket}`;
  const probe = { Effect: 'Allow', Action: ['s3:HeadBucket'], Resource: [bucketArn] };
  const statements: Record<SandboxRoleName, object[]> = {
    gateway: [probe, { Effect: 'Allow', Action: writes, Resource: [`${bucketArn}/${gatewayPrefix}\${jwt:sub}/*`] }],
    operator: [
      probe,
      { Effect: 'Allow', Action: [...writes, 's3:GetObject'], Resource: ['ledger', 'keys'].flatMap((folder) => [`${bucketArn}/${folder}/*`, `${bucketArn}/*/${folder}/*`]) },
      { Effect: 'Allow', Action: ['s3:ListBucket'], Resource: [bucketArn], Condition: { StringLike: { 's3:prefix': ['ledger/*', '*/ledger/*'] } } },
    ],
    auditor: [probe, { Effect: 'Allow', Action: ['s3:ListBucket', 's3:GetBucketObjectLockConfiguration'], Resource: [bucketArn] }, { Effect: 'Allow', Action: ['s3:GetObject', 's3:GetObjectRetention'], Resource: [`${bucketArn}/*`] }],
  };
  return { Version: '2012-10-17', Statement: statements[role] };
}

/** MinIO's role ARN for an OpenID configuration with a role policy: the client id's SHA-1, base64url. */
export function minioRoleArn(clientId: string, region: string): string {
  return `arn:minio:iam:${region}::role/${createHash('sha1').update(clientId).digest('base64url')}`;
}

export function sandboxSts(settings: S3Settings): SandboxSts {
  const role = (name: SandboxRoleName): SandboxRole => ({ arn: minioRoleArn(audiences[name], settings.region), audience: audiences[name], policy: `kubegate-${name}` });
  return { endpoint: settings.endpoint, roles: { gateway: role('gateway'), operator: role('operator'), auditor: role('auditor') }, gatewayPrefix };
}

/** MinIO's environment for one OpenID configuration per role, all trusting `issuer`. */
export function openIdEnvironment(issuer: string, sts: SandboxSts): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [name, role] of Object.entries(sts.roles)) {
    const suffix = `_${name.toUpperCase()}`;
    env[`MINIO_IDENTITY_OPENID_CONFIG_URL${suffix}`] = `${issuer}/.well-known/openid-configuration`;
    env[`MINIO_IDENTITY_OPENID_CLIENT_ID${suffix}`] = role.audience;
    env[`MINIO_IDENTITY_OPENID_ROLE_POLICY${suffix}`] = role.policy;
  }
  return env;
}

/** Lets anyone read the API server's service-account issuer discovery and JWKS, as a cloud's issuer is public. */
export async function allowIssuerDiscovery(kubeconfig: k8s.KubeConfig): Promise<void> {
  await kubeconfig.makeApiClient(k8s.RbacAuthorizationV1Api).createClusterRoleBinding({
    body: {
      metadata: { name: 'kubegate-sandbox:service-account-issuer-discovery' },
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'system:service-account-issuer-discovery' },
      subjects: [{ apiGroup: 'rbac.authorization.k8s.io', kind: 'Group', name: 'system:unauthenticated' }],
    },
  });
}

/**
 * Adds each role's policy with MinIO's admin API. MinIO answers `/minio/health/ready` before its IAM
 * subsystem is up, and the admin API says so with 503 `XMinioServerNotInitialized`: that is waited out.
 */
export async function addRolePolicies(process: ManagedProcess, settings: S3Settings, sts: SandboxSts): Promise<void> {
  for (const [name, role] of Object.entries(sts.roles) as Array<[SandboxRoleName, SandboxRole]>) {
    const url = new URL(`/minio/admin/v3/add-canned-policy?name=${encodeURIComponent(role.policy)}`, settings.endpoint);
    const body = JSON.stringify(policyDocument(name, settings.bucket));
    await waitUntil(`MinIO to take policy ${role.policy}`, async () => {
      const answer = await send(url, 'PUT', body, signV4('PUT', url, body, settings));
      if (answer.status === 200) return true;
      if (answer.status === 503 && answer.body.includes('XMinioServerNotInitialized')) return 'MinIO not initialized yet';
      throw new Error(`MinIO refused policy ${role.policy}: HTTP ${answer.status} ${answer.body}`);
    }, { process, timeoutMs: 60_000 });
  }
}

/**
 * Waits until MinIO's STS knows the gateway role, which it does once it has read the issuer's discovery
 * (it retries every few seconds until the API server lets it): a malformed token is then refused as such.
 */
export async function waitStsReady(process: ManagedProcess, sts: SandboxSts): Promise<void> {
  const form = new URLSearchParams({ Action: 'AssumeRoleWithWebIdentity', Version: '2011-06-15', RoleArn: sts.roles.gateway.arn, WebIdentityToken: 'not-a-token' }).toString();
  await waitUntil('MinIO STS trusting the API server', async () => {
    const answer = await send(new URL(sts.endpoint), 'POST', form, { 'content-type': 'application/x-www-form-urlencoded' }).catch((error: Error) => ({ status: 0, body: error.message }));
    return /invalid number of segments/.test(answer.body) ? true : answer.body.slice(0, 300);
  }, { process, timeoutMs: 60_000 });
}

function send(url: URL, method: string, body: string, headers: Record<string, string>): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(url, { method, headers: { ...headers, 'content-length': String(Buffer.byteLength(body)) } }, (res) => {
      let text = '';
      res.setEncoding('utf8').on('data', (chunk: string) => (text += chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

/** AWS Signature Version 4 headers for one request to MinIO (service `s3`, as MinIO's admin clients sign). */
function signV4(method: string, url: URL, body: string, settings: S3Settings): Record<string, string> {
  const sha256 = (data: string) => createHash('sha256').update(data).digest('hex');
  const hmac = (key: string | Buffer, data: string) => createHmac('sha256', key).update(data).digest();
  const amzDate = new Date().toISOString().replace(/[-:]/g, '').replace(/\.\d{3}/, '');
  const day = amzDate.slice(0, 8);
  const headers: Record<string, string> = { host: url.host, 'x-amz-content-sha256': sha256(body), 'x-amz-date': amzDate };
  const signed = Object.keys(headers).sort();
  const query = [...url.searchParams].map(([k, v]) => `${encodeURIComponent(k)}=${encodeURIComponent(v)}`).sort().join('&');
  const canonical = [method, url.pathname, query, ...signed.map((h) => `${h}:${headers[h]}`), '', signed.join(';'), headers['x-amz-content-sha256']].join('\n');
  const scope = `${day}/${settings.region}/s3/aws4_request`;
  const toSign = ['AWS4-HMAC-SHA256', amzDate, scope, sha256(canonical)].join('\n');
  const key = ['s3', 'aws4_request'].reduce((k, part) => hmac(k, part), hmac(hmac(`AWS4${settings.secretAccessKey}`, day), settings.region));
  const signature = createHmac('sha256', key).update(toSign).digest('hex');
  return { ...headers, authorization: `AWS4-HMAC-SHA256 Credential=${settings.accessKeyId}/${scope}, SignedHeaders=${signed.join(';')}, Signature=${signature}` };
}
