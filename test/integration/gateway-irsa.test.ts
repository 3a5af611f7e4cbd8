/**
 * IRSA for real: the gateway is given only AWS_ROLE_ARN and AWS_WEB_IDENTITY_TOKEN_FILE (a ServiceAccount
 * token from the TokenRequest API with the audience IRSA uses, rewritten before it expires as the kubelet
 * does) and records through the AWS SDK's default credential chain, assuming its role at the sandbox
 * MinIO's STS, which trusts the sandbox API server's service-account issuer (src/sandbox/minio-iam.ts).
 * The role writes under its own gateway's prefix only: it cannot overwrite, delete or read another
 * policy's recordings. The operator runs the same way under a role of its own, keeping the access ledger.
 */
import { test, mock } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DeleteObjectCommand, GetObjectCommand, HeadBucketCommand, ListObjectsV2Command, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { namePrefix, readEntries } from '../../src/recording/ledger.js';
import { openStore } from '../../src/recording/open-store.js';
import { gatewayFixture } from '../harness/gateway-fixture.js';
import { sandboxS3Env } from '../harness/gateway.js';
import { operatorNamespace } from '../harness/operator.js';
import type { TestCluster } from '../harness/cluster.js';
import type { Kubectl } from '../harness/kubectl.js';
import { eventually } from '../harness/workloads.js';

const scratch = mkdtempSync(join(tmpdir(), 'kubegate-irsa-'));

/**
 * The token the kubelet projects for IRSA: this account's, audience `audience`, in a file rewritten at
 * 80% of its life; `rewrite` does it now.
 */
async function projectedToken(admin: Kubectl, account: { namespace: string; name: string }, audience: string): Promise<{ file: string; rewrite(): Promise<void> }> {
  const file = join(scratch, `${account.name}.token`);
  const lifetimeSeconds = 600; // the API server's minimum
  let timer: NodeJS.Timeout | undefined;
  const rewrite = async () => {
    clearTimeout(timer);
    writeFileSync(file, (await admin.ok(['create', 'token', account.name, '-n', account.namespace, `--audience=${audience}`, `--duration=${lifetimeSeconds}s`])).trim());
    timer = setTimeout(() => void rewrite(), 0.8 * lifetimeSeconds * 1000).unref();
  };
  await rewrite();
  return { file, rewrite };
}

/** Where a policy's gateway writes in the sandbox: the gateway role's prefix and its token's subject. */
function gatewayKeyPrefix(cluster: TestCluster, account: { namespace: string; name: string }): string {
  return `${cluster.state.sts.gatewayPrefix}system:serviceaccount:${account.namespace}:${account.name}/`;
}

let gatewayAccount: { namespace: string; name: string } | undefined;
let token: Awaited<ReturnType<typeof projectedToken>>;

/** Only a role ARN and a web identity token file, as IRSA gives a pod; the sandbox's static keys emptied. */
function irsaEnv(cluster: TestCluster, role: string, tokenFile: string): Record<string, string> {
  const { s3, sts } = cluster.state;
  return {
    AWS_REGION: s3.region,
    AWS_ENDPOINT_URL_S3: s3.endpoint,
    AWS_ENDPOINT_URL_STS: sts.endpoint,
    AWS_ROLE_ARN: role,
    AWS_WEB_IDENTITY_TOKEN_FILE: tokenFile,
    AWS_ACCESS_KEY_ID: '',
    AWS_SECRET_ACCESS_KEY: '',
    AWS_SESSION_TOKEN: '',
  };
}

function staticKeyIn(pid: number): boolean {
  return readFileSync(`/proc/${pid}/environ`, 'utf8').split('\0').some((v) => /^AWS_(ACCESS_KEY_ID|SECRET_ACCESS_KEY|SESSION_TOKEN)=./.test(v));
}

const fixture = gatewayFixture({
  // the operator keeps the policy's access ledger (its store: s3://kubegate-sessions/test) under its own role
  operatorEnv: async (cluster) => {
    const account = { namespace: operatorNamespace, name: 'kubegate-operator' };
    const operatorToken = await projectedToken(await cluster.kubectl(), account, cluster.state.sts.roles.operator.audience);
    return irsaEnv(cluster, cluster.state.sts.roles.operator.arn, operatorToken.file);
  },
  gatewayOptions: async (cluster, account) => {
    gatewayAccount = account;
    const admin = await cluster.kubectl();
    const { s3, sts } = cluster.state;
    token = await projectedToken(admin, account, sts.roles.gateway.audience);
    return {
      store: `s3://${s3.bucket}/${gatewayKeyPrefix(cluster, account)}`.replace(/\/$/, ''),
      // what the pod identity webhook (and the operator's Deployment) give a pod: no key at all
      env: irsaEnv(cluster, sts.roles.gateway.arn, token.file),
    };
  },
});

/** An S3 client whose credentials come from the SDK's default chain, as the gateway's do: web identity from the environment. */
function defaultChainClient(cluster: TestCluster, env: Record<string, string>): S3Client {
  for (const name of ['AWS_ACCESS_KEY_ID', 'AWS_SECRET_ACCESS_KEY', 'AWS_SESSION_TOKEN', 'AWS_PROFILE']) delete process.env[name];
  Object.assign(process.env, { AWS_ENDPOINT_URL_STS: cluster.state.sts.endpoint, ...env });
  return new S3Client({ endpoint: cluster.state.s3.endpoint, region: cluster.state.s3.region, forcePathStyle: true, requestChecksumCalculation: 'WHEN_REQUIRED' });
}

async function denied(action: Promise<unknown>, what: string): Promise<void> {
  await assert.rejects(action, (error: Error & { name: string }) => {
    assert.equal(error.name, 'AccessDenied', `${what}: ${error.name} ${error.message}`);
    return true;
  });
}

test('a gateway holding only a role ARN and a web identity token file records a session through IRSA', { timeout: 120_000 }, async () => {
  const { bot, target, gateway, cluster } = await fixture();
  assert.ok(!staticKeyIn(gateway.process.pid!), 'no static key in the gateway\'s environment');
  await bot.ok(['get', 'configmaps', '-n', target]);
  const prefix = gatewayKeyPrefix(cluster, gatewayAccount!);
  await eventually(async () => {
    const listed = await cluster.s3().send(new ListObjectsV2Command({ Bucket: cluster.state.s3.bucket, Prefix: prefix }));
    assert.ok(listed.Contents?.some((o) => o.Key!.endsWith('.jsonl')), `a segment under ${prefix}`);
  }, 30_000, 500);
});

test("the gateway's role cannot overwrite, delete or read another policy's recordings, nor delete its own", { timeout: 120_000 }, async () => {
  const { cluster, namespace } = await fixture();
  const bucket = cluster.state.s3.bucket;
  const other = `${gatewayKeyPrefix(cluster, { namespace, name: 'kubegate-gateway-other' })}sessions/recorded.jsonl`;
  await cluster.s3().send(new PutObjectCommand({ Bucket: bucket, Key: other, Body: '{"type":"session-start"}\n' }));
  const role = defaultChainClient(cluster, { AWS_ROLE_ARN: cluster.state.sts.roles.gateway.arn, AWS_WEB_IDENTITY_TOKEN_FILE: token.file });
  try {
    const own = `${gatewayKeyPrefix(cluster, gatewayAccount!)}probe/written.txt`;
    await role.send(new PutObjectCommand({ Bucket: bucket, Key: own, Body: 'mine' })); // the credentials work
    await denied(role.send(new PutObjectCommand({ Bucket: bucket, Key: other, Body: 'overwritten' })), 'overwrite');
    await denied(role.send(new DeleteObjectCommand({ Bucket: bucket, Key: other })), 'delete');
    await denied(role.send(new GetObjectCommand({ Bucket: bucket, Key: other })), 'read');
    await denied(role.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: gatewayKeyPrefix(cluster, { namespace, name: 'kubegate-gateway-other' }) })), 'list');
    await denied(role.send(new DeleteObjectCommand({ Bucket: bucket, Key: own })), 'delete its own');
    const kept = await cluster.s3().send(new GetObjectCommand({ Bucket: bucket, Key: other }));
    assert.equal(await kept.Body!.transformToString(), '{"type":"session-start"}\n');
  } finally {
    role.destroy();
  }
});

test('the default chain assumes the role again before its credentials expire, reading the token file afresh', { timeout: 60_000 }, async (t) => {
  const { cluster } = await fixture();
  const role = defaultChainClient(cluster, { AWS_ROLE_ARN: cluster.state.sts.roles.gateway.arn, AWS_WEB_IDENTITY_TOKEN_FILE: token.file });
  t.after(() => role.destroy());
  mock.timers.enable({ apis: ['Date'], now: Date.now() });
  t.after(() => mock.timers.reset());
  await role.send(new HeadBucketCommand({ Bucket: cluster.state.s3.bucket }));
  const first = await role.config.credentials();
  assert.ok(first.expiration, 'temporary credentials, with an expiry');
  // MinIO's credentials end with the token (10 min); within 5 min of the end the SDK renews them in the
  // background, handing out the current ones meanwhile: jump there, after the kubelet's rewrite
  await token.rewrite();
  mock.timers.tick(first.expiration!.getTime() - Date.now() - 4 * 60_000);
  let renewed = first;
  await eventually(async () => {
    await role.send(new HeadBucketCommand({ Bucket: cluster.state.s3.bucket }));
    renewed = await role.config.credentials();
    assert.notEqual(renewed.accessKeyId, first.accessKeyId, 'a new AssumeRoleWithWebIdentity');
  }, 10_000, 100);
  assert.ok(renewed.expiration! > first.expiration!, 'assumed with the rewritten token, which lives longer');
});

test('the operator\'s role keeps the access ledger and touches no recording; the auditors\' role reads and never writes', { timeout: 60_000 }, async () => {
  const { cluster, admin } = await fixture();
  const { s3, sts } = cluster.state;
  const bucket = s3.bucket;
  const recording = `${gatewayKeyPrefix(cluster, gatewayAccount!)}probe/for-auditors.txt`;
  await cluster.s3().send(new PutObjectCommand({ Bucket: bucket, Key: recording, Body: 'recorded' }));
  const tokenOf = async (name: 'operator' | 'auditor') => {
    await admin.run(['create', 'serviceaccount', `irsa-${name}`, '-n', 'default']);
    return (await projectedToken(admin, { namespace: 'default', name: `irsa-${name}` }, sts.roles[name].audience)).file;
  };
  const operator = defaultChainClient(cluster, { AWS_ROLE_ARN: sts.roles.operator.arn, AWS_WEB_IDENTITY_TOKEN_FILE: await tokenOf('operator') });
  try {
    await operator.send(new PutObjectCommand({ Bucket: bucket, Key: 'ledger/2026/12/01/entry.json', Body: '{}' }));
    await denied(operator.send(new PutObjectCommand({ Bucket: bucket, Key: recording, Body: 'overwritten' })), 'operator writing a recording');
    await denied(operator.send(new GetObjectCommand({ Bucket: bucket, Key: recording })), 'operator reading a recording');
    await denied(operator.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: gatewayKeyPrefix(cluster, gatewayAccount!) })), 'operator listing recordings');
    await denied(operator.send(new DeleteObjectCommand({ Bucket: bucket, Key: 'ledger/2026/12/01/entry.json' })), 'operator deleting the ledger');
  } finally {
    operator.destroy();
  }
  const auditor = defaultChainClient(cluster, { AWS_ROLE_ARN: sts.roles.auditor.arn, AWS_WEB_IDENTITY_TOKEN_FILE: await tokenOf('auditor') });
  try {
    assert.equal(await (await auditor.send(new GetObjectCommand({ Bucket: bucket, Key: recording }))).Body!.transformToString(), 'recorded');
    const listed = await auditor.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: 'ledger/' }));
    assert.ok(listed.Contents?.some((o) => o.Key === 'ledger/2026/12/01/entry.json'));
    await denied(auditor.send(new PutObjectCommand({ Bucket: bucket, Key: recording, Body: 'overwritten' })), 'auditor writing');
    await denied(auditor.send(new DeleteObjectCommand({ Bucket: bucket, Key: recording })), 'auditor deleting');
  } finally {
    auditor.destroy();
  }
});

test("the operator, holding only its role's web identity token, keeps the access ledger of the policy's grants", { timeout: 60_000 }, async () => {
  const { cluster, admin, namespace, grant, operator } = await fixture();
  assert.ok(!staticKeyIn(operator.process.pid!), "no static key in the operator's environment");
  const createdAt = (await admin.ok(['get', 'accessgrant', grant, '-n', namespace, '-o', 'jsonpath={.metadata.creationTimestamp}'])).trim();
  // the fixture's policy stores under s3://kubegate-sessions/test; read back with the sandbox's own keys
  const store = openStore(`s3://${cluster.state.s3.bucket}/test`, { env: sandboxS3Env(cluster) });
  await eventually(async () => {
    const chain = await readEntries(store, namePrefix({ kind: 'AccessGrant', namespace, name: grant }, createdAt));
    assert.deepEqual(chain.map((stored) => stored.entry.id), ['created', 'activated'], 'the grant\'s chain as the operator appended it under its role');
  }, 30_000, 500);
});
