/**
 * The gateway Deployment carries IRSA's web identity token exactly as the EKS pod identity webhook would
 * add it (aws/amazon-eks-pod-identity-webhook pkg/handler/handler.go and its testdata), so the SDK's
 * default chain finds it with or without the webhook, and a webhook that runs finds nothing to change.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { desiredDeployment } from '../../src/operator/gateway-children.js';
import { compilePolicy } from '../../src/policy/compile.js';
import type { SessionPolicy, SessionPolicyGateway } from '../../src/api/index.js';

const roleArn = 'arn:aws:iam::111122223333:role/kubegate-gateway';

function podOf(gateway: SessionPolicyGateway) {
  const policy = { apiVersion: 'kubegate.dev/v1alpha1', kind: 'SessionPolicy', metadata: { namespace: 'kubegate-system', name: 'prod' }, spec: { gateway } } as SessionPolicy;
  return desiredDeployment(policy, compilePolicy({ namespace: 'kubegate-system', name: 'prod' }, {}), 'kubegate:test').spec!.template.spec!;
}

// The webhook's patch for a pod whose ServiceAccount has the role-arn annotation, with its defaults
// (audience sts.amazonaws.com, --token-expiration 86400, regional STS) and --aws-default-region set.
const webhookVolume = { name: 'aws-iam-token', projected: { sources: [{ serviceAccountToken: { audience: 'sts.amazonaws.com', expirationSeconds: 86400, path: 'token' } }] } };
const webhookMount = { name: 'aws-iam-token', readOnly: true, mountPath: '/var/run/secrets/eks.amazonaws.com/serviceaccount' };
const webhookEnv = (region: string) => [
  { name: 'AWS_STS_REGIONAL_ENDPOINTS', value: 'regional' },
  { name: 'AWS_DEFAULT_REGION', value: region },
  { name: 'AWS_REGION', value: region },
  { name: 'AWS_ROLE_ARN', value: roleArn },
  { name: 'AWS_WEB_IDENTITY_TOKEN_FILE', value: '/var/run/secrets/eks.amazonaws.com/serviceaccount/token' },
];

test('with iamRoleArn the gateway pod has the webhook\'s token volume first, its mount last and its variables in its order', () => {
  const pod = podOf({ iamRoleArn: roleArn, storage: { url: 's3://sessions/prod', region: 'eu-west-1' } });
  const container = pod.containers[0]!;
  assert.deepEqual(pod.volumes![0], webhookVolume, 'the webhook inserts its volume at /spec/volumes/0');
  assert.deepEqual(container.volumeMounts!.at(-1), webhookMount, 'the webhook appends its mount');
  assert.deepEqual(container.env, [{ name: 'KUBEGATE_STORE', value: 's3://sessions/prod' }, ...webhookEnv('eu-west-1')]);
  assert.equal(pod.serviceAccountName, 'kubegate-gateway-prod', 'the token is for the policy\'s own ServiceAccount, the one the trust policy names');
});

test('a webhook running on the rendered pod finds every key it would add already present, so it changes nothing', () => {
  const pod = podOf({ iamRoleArn: roleArn, storage: { url: 's3://sessions/prod', region: 'eu-west-1', endpoint: 'https://s3.eu-west-1.amazonaws.com' } });
  const names = new Set(pod.containers[0]!.env!.map((e) => e.name));
  // the webhook's addEnvToContainer returns "unchanged" only when all three groups are present
  for (const group of [['AWS_ROLE_ARN', 'AWS_WEB_IDENTITY_TOKEN_FILE'], ['AWS_REGION', 'AWS_DEFAULT_REGION'], ['AWS_STS_REGIONAL_ENDPOINTS']]) {
    assert.ok(group.some((name) => names.has(name)), `one of ${group.join(', ')}`);
  }
  assert.equal(pod.volumes!.filter((v) => v.name === 'aws-iam-token').length, 1);
  assert.equal(pod.containers[0]!.volumeMounts!.filter((m) => m.name === 'aws-iam-token').length, 1);
});

test('without a region the webhook sets none, and neither do we', () => {
  const env = podOf({ iamRoleArn: roleArn }).containers[0]!.env!;
  assert.deepEqual(env.map((e) => e.name), ['AWS_STS_REGIONAL_ENDPOINTS', 'AWS_ROLE_ARN', 'AWS_WEB_IDENTITY_TOKEN_FILE']);
});

test('the gateway holds no static key with IRSA, and without iamRoleArn nothing of IRSA is rendered', () => {
  const withRole = podOf({ iamRoleArn: roleArn, storage: { url: 's3://sessions/prod', region: 'eu-west-1' } }).containers[0]!;
  assert.ok(!withRole.env!.some((e) => /AWS_(ACCESS_KEY_ID|SECRET_ACCESS_KEY|SESSION_TOKEN)/.test(e.name)));
  const plain = podOf({ storage: { url: 's3://sessions/prod', region: 'eu-west-1', endpoint: 'http://minio:9000' } });
  assert.deepEqual(plain.containers[0]!.env, [
    { name: 'KUBEGATE_STORE', value: 's3://sessions/prod' },
    { name: 'AWS_REGION', value: 'eu-west-1' },
    { name: 'AWS_ENDPOINT_URL_S3', value: 'http://minio:9000' },
  ], 'unchanged from before IRSA was rendered, so existing gateways do not roll');
  assert.ok(!plain.volumes!.some((v) => v.name === 'aws-iam-token'));
  assert.ok(!plain.containers[0]!.volumeMounts!.some((m) => m.name === 'aws-iam-token'));
});
