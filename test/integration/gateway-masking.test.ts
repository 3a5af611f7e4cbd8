/**
 * Masking beyond response bodies, with the real kubectl through the real gateway (invariant 9): a JSON
 * patch of a Secret, an exec command line, a TokenRequest's token, and a policy's Mask rule.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { jitKubeconfig, startGateway, type RunningGateway } from '../harness/gateway.js';
import { gatewayFixture, recordedText } from '../harness/gateway-fixture.js';
import { accessGrant, sessionPolicy, uniqueName } from '../harness/kubegate-objects.js';
import { Kubectl } from '../harness/kubectl.js';
import { deploymentYaml, eventually, grantActive, podNames } from '../harness/workloads.js';

const setup = gatewayFixture();

function unique(prefix: string): string {
  return `${prefix}-${randomBytes(10).toString('hex')}`;
}

/** Waits until the gateway recorded `marker`, then asserts that nothing it recorded carries any of `clear`. */
async function assertRecordedMasked(gateway: RunningGateway, marker: RegExp, clear: string[]): Promise<void> {
  await eventually(async () => assert.match(recordedText(gateway), marker), 20_000);
  const recorded = recordedText(gateway);
  for (const text of clear) assert.ok(!recorded.includes(text), `the recording carries ${text} in clear`);
}

test('invariant 9: kubectl patch secret --type=json records the patched value masked', async () => {
  const { bot, target, gateway } = await setup();
  const name = uniqueName('patched');
  await bot.ok(['create', 'secret', 'generic', name, '-n', target, '--from-literal=pw=before']);
  const value = unique('patched-value');
  const encoded = Buffer.from(value).toString('base64');
  const patched = await bot.ok(['patch', 'secret', name, '-n', target, '--type=json', '-p', JSON.stringify([{ op: 'replace', path: '/data/pw', value: encoded }]), '-o', 'json']);
  assert.equal(JSON.parse(patched).data.pw, 'KioqKio=', 'the answer is masked');
  // the body is recorded as a JSON string: its quotes escaped
  await assertRecordedMasked(gateway, /\\"path\\":\\"\/data\/pw\\",\\"value\\":\\"KioqKio=\\"/, [value, encoded]);
});

test('invariant 9: an AWS key in an exec command is masked in the recorded path, attributes and stream-open', async () => {
  const { bot, target, gateway } = await setup();
  await bot.ok(['apply', '-n', target, '-f', '-'], { input: deploymentYaml('web', 1) });
  await bot.ok(['rollout', 'status', 'deployment/web', '-n', target, '--timeout=60s']);
  const [pod] = await podNames(bot, target, 'app=web');
  const key = `AKIA${randomBytes(8).toString('hex').toUpperCase()}`;
  const result = await bot.run(['exec', '-n', target, pod!, '--', 'sh', '-c', `echo "key ${key}"`]);
  assert.equal(result.code, 0, result.stderr);
  assert.equal(result.stdout, `key ${'*'.repeat(20)}\n`);
  await assertRecordedMasked(gateway, /"type":"stream-open"[^\n]*echo \\"key \*{20}\\"/, [key]);
});

test('invariant 9: kubectl create token through the gateway prints and records the token masked', async () => {
  const { bot, target, gateway } = await setup();
  const account = uniqueName('builder');
  await bot.ok(['create', 'serviceaccount', account, '-n', target]);
  const token = await bot.run(['create', 'token', account, '-n', target]);
  assert.equal(token.code, 0, token.stderr);
  assert.equal(token.stdout.trim(), '*****', 'the bearer token does not reach the client');
  await eventually(async () => assert.match(recordedText(gateway), /TokenRequest[^\n]*\\"token\\":\\"\*{5}\\"/), 20_000);
  const tokenRecords = recordedText(gateway).split('\n').filter((line) => line.includes('TokenRequest'));
  for (const line of tokenRecords) assert.doesNotMatch(line, /eyJ[\w-]{10,}\.[\w-]{10,}\./, 'no JWT in what is recorded of a TokenRequest');
});

test('invariant 9: a Mask rule masks the ConfigMap it names even where the policy masks nothing', async () => {
  const { admin, namespace, target, cluster } = await setup();
  const policy = 'mask-rule';
  const rules = [
    { name: 'mask-vault-config', match: { resources: ['configmaps'], names: ['vault-config'] }, action: 'Mask' },
    { name: 'mask-logs', match: { resources: ['pods'], subresources: ['log'] }, action: 'Mask' },
  ];
  await admin.ok(['apply', '-f', '-'], { input: JSON.stringify(sessionPolicy(namespace, policy, { rules, masking: { secrets: false } })) });
  const grant = uniqueName('mask-bot');
  await admin.ok(['apply', '-f', '-'], {
    input: JSON.stringify(accessGrant(namespace, grant, { subject: { kind: 'User', name: 'mask-bot' }, duration: '1h', access: [{ namespace: target, clusterRole: 'view' }], policyRef: { name: policy }, requestedBy: 'kubegate-admin' })),
  });
  await grantActive(admin, namespace, grant);
  const gateway = await startGateway(cluster, { namespace, name: policy });
  try {
    const bot = new Kubectl(cluster.state.binaries.kubectl, await jitKubeconfig(cluster, { namespace, name: grant }, gateway));
    const value = unique('vault-token');
    await admin.ok(['create', 'configmap', 'vault-config', '-n', target, `--from-literal=token=${value}`]);
    await admin.ok(['create', 'configmap', 'other-config', '-n', target, '--from-literal=mode=blue']);
    const named = JSON.parse(await bot.ok(['get', 'configmap', 'vault-config', '-n', target, '-o', 'json']));
    assert.deepEqual(named.data, { token: 'KioqKio=' });
    const listed = await bot.ok(['get', 'configmaps', '-n', target, '-o', 'json']);
    assert.ok(!listed.includes(value), 'a list spans the named object: masked too');
    assert.equal((await bot.ok(['get', 'configmap', 'other-config', '-n', target, '-o', 'jsonpath={.data.mode}'])).trim(), 'blue', 'what the rule does not match is not masked');
    await assertRecordedMasked(gateway, /"rule":"mask-vault-config"/, [value]);
    // no patterns of its own: the logs are masked whole, line breaks kept
    await admin.ok(['apply', '-n', target, '-f', '-'], { input: deploymentYaml('web', 1) });
    await admin.ok(['rollout', 'status', 'deployment/web', '-n', target, '--timeout=60s']);
    const [pod] = await podNames(admin, target, 'app=web');
    const logs = await bot.ok(['logs', '-n', target, pod!]);
    assert.match(logs, /^[*\n]+$/, logs);
    assert.match(await admin.ok(['logs', '-n', target, pod!]), /listening on :8080/, 'the same logs, unmasked, directly');
  } finally {
    await gateway.stop();
  }
});
