/**
 * People through OIDC, end to end against the real parts: the sandbox's OpenID Provider (oidc-provider,
 * certified), `kubegate login` driven in headless Chromium (authorization code with PKCE) or by the
 * device flow, the real gateway and operator, kubectl through the exec plugin `kubectl kubegate
 * credential`, and the API server's own authenticator, which trusts the same provider for another
 * audience and derives the same username (invariants 1, 4 and 5 for people).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { gatewayCall, gatewayFixture, recordedLines, type GatewayFixture } from '../harness/gateway-fixture.js';
import { accessGrant, uniqueName } from '../harness/kubegate-objects.js';
import { caFile, kubegateBin, kubegateLogin, loginHome, type LoginHome } from '../harness/oidc-login.js';
import { eventually, grantActive } from '../harness/workloads.js';
import { Kubectl } from '../harness/kubectl.js';

const run = promisify(execFile);

const fixture = gatewayFixture({
  policySpec: (cluster) => ({
    identityProviders: [
      {
        issuer: { url: cluster.state.identityProvider.issuer, audiences: [cluster.state.identityProvider.gatewayClientId], certificateAuthority: readFileSync(cluster.state.identityProvider.caFile, 'utf8') },
        // as the sandbox API server maps the same provider (src/sandbox/files.ts)
        claimMappings: { username: { claim: 'email', prefix: '' }, groups: { claim: 'groups', prefix: '' } },
      },
    ],
  }),
});

interface Alice {
  f: GatewayFixture;
  home: LoginHome;
  kubectl: Kubectl;
  grant: string;
  gatewayCa: string;
}

let ready: Promise<Alice> | undefined;

async function activeGrant(f: GatewayFixture, subject: object, access: object[]): Promise<string> {
  const name = uniqueName('human');
  await f.admin.ok(['apply', '-f', '-'], { input: JSON.stringify(accessGrant(f.namespace, name, { subject, duration: '1h', access, policyRef: { name: 'prod' }, requestedBy: 'kubegate-admin' })) });
  await grantActive(f.admin, f.namespace, name);
  return name;
}

/** Alice (engineers) with an Active User grant (edit in the target), logged in through the browser. */
function alice(): Promise<Alice> {
  return (ready ??= (async () => {
    const f = await fixture();
    const grant = await activeGrant(f, { kind: 'User', name: 'alice@example.com' }, [{ namespace: f.target, clusterRole: 'edit' }]);
    const home = loginHome(f.cluster);
    const gatewayCa = caFile(f.ca);
    const login = await kubegateLogin(home, [`--server=${f.gateway.url}`, `--certificate-authority=${gatewayCa}`], 'alice');
    assert.equal(login.code, 0, login.stderr);
    const kubectl = new Kubectl(f.cluster.state.binaries.kubectl, home.kubeconfig);
    // the operator adds her to the gateway's impersonation rights once the grant is Active
    await eventually(async () => void (await kubectl.ok(['get', 'configmaps', '-n', f.target], { env: home.env })), 20_000);
    return { f, home, kubectl, grant, gatewayCa };
  })());
}

/** The ID token `kubectl kubegate credential` hands kubectl from `home`'s cache. */
async function credentialToken(home: LoginHome, extra: string[] = []): Promise<string> {
  const kubeconfig = readFileSync(home.kubeconfig, 'utf8');
  const args = [...kubeconfig.matchAll(/^\s+- (--(?:issuer|client-id|subject)=\S+)$/gm)].map((m) => m[1]!);
  const { stdout } = await run(kubegateBin, ['credential', ...args, ...extra], { env: { HOME: process.env.HOME, ...home.env } });
  const credential = JSON.parse(stdout) as { kind: string; status: { token: string; expirationTimestamp: string } };
  assert.equal(credential.kind, 'ExecCredential');
  assert.ok(Date.parse(credential.status.expirationTimestamp) > Date.now());
  return credential.status.token;
}

test('invariant 4: alice logs in in the browser (code + PKCE); kubectl works through the gateway as kubegate:user:alice@example.com with only her grant\'s group, recorded as her', async () => {
  const { f, home, kubectl, grant } = await alice();
  const whoami = await kubectl.ok(['auth', 'whoami', '-o', 'json'], { env: home.env });
  const user = JSON.parse(whoami).status.userInfo as { username: string; groups: string[] };
  assert.equal(user.username, 'kubegate:user:alice@example.com');
  assert.ok(user.groups.includes(`kubegate:grant:${f.namespace}:${grant}`), user.groups.join());
  assert.ok(!user.groups.includes('engineers'), 'her own groups never reach the API server');
  const kubeconfig = readFileSync(home.kubeconfig, 'utf8');
  assert.match(kubeconfig, /command: kubectl\n\s+args:\n\s+- kubegate\n\s+- credential/);
  for (const file of readdirSync(join(home.cache, 'kubegate', 'oidc'))) {
    assert.equal(statSync(join(home.cache, 'kubegate', 'oidc', file)).mode & 0o777, 0o600);
  }
  await eventually(async () => {
    const starts = recordedLines(f.gateway).map((line) => JSON.parse(line)).filter((event) => event.type === 'session-start' && event.grant?.name === grant);
    assert.ok(starts.length > 0, 'a session of her grant is recorded');
    assert.deepEqual(starts[0].subject, { kind: 'User', name: 'alice@example.com' });
  }, 20_000);
});

test('invariant 1: the API server refuses her gateway token; a token of the audience it trusts names her alike, and the gateway refuses that one', async () => {
  const { f, home } = await alice();
  const gatewayToken = await credentialToken(home);
  const direct = await new Kubectl(f.cluster.state.binaries.kubectl, f.cluster.kubeconfigFile(gatewayToken)).run(['auth', 'whoami']);
  assert.notEqual(direct.code, 0);
  assert.match(direct.stderr, /Unauthorized|provide credentials/);

  // the same person logged in for the API server's client: the cluster derives the same username
  const clusterHome = loginHome(f.cluster);
  const login = await kubegateLogin(clusterHome, [`--server=${f.gateway.url}`, `--certificate-authority=${caFile(f.ca)}`, `--client-id=${f.cluster.state.identityProvider.apiServerClientId}`], 'alice');
  assert.equal(login.code, 0, login.stderr);
  const clusterToken = await credentialToken(clusterHome);
  const asCluster = JSON.parse(await new Kubectl(f.cluster.state.binaries.kubectl, f.cluster.kubeconfigFile(clusterToken)).ok(['auth', 'whoami', '-o', 'json']));
  assert.equal(asCluster.status.userInfo.username, 'alice@example.com');
  assert.ok(asCluster.status.userInfo.groups.includes('engineers'));
  const atGateway = await gatewayCall(f, '/api', { authorization: `Bearer ${clusterToken}` });
  assert.equal(atGateway.status, 401);
  assert.match(atGateway.body, /KG_TOKEN_INVALID/);
});

test('bob logs in by the device flow; with no Active grant of his the gateway refuses him (KG_NO_GRANT)', async () => {
  const { f } = await alice();
  const home = loginHome(f.cluster);
  const login = await kubegateLogin(home, [`--server=${f.gateway.url}`, `--certificate-authority=${caFile(f.ca)}`, '--device'], 'bob');
  assert.equal(login.code, 0, login.stderr);
  const refused = await new Kubectl(f.cluster.state.binaries.kubectl, home.kubeconfig).run(['get', 'configmaps', '-n', f.target], { env: home.env });
  assert.notEqual(refused.code, 0);
  assert.match(refused.stderr, /no Active AccessGrant of policy .* names bob@example\.com \(groups sre-leads\)/);
});

test('invariant 5: she cannot approve her own held request, neither through the gateway nor at the API server; an approver can', async () => {
  const { f, home, kubectl, grant } = await alice();
  await f.admin.ok(['create', 'rolebinding', uniqueName('approvers'), '--clusterrole=kubegate-approver', '--group=sre-leads', '-n', f.namespace]);
  const configMap = uniqueName('cm');
  await f.admin.ok(['create', 'configmap', configMap, '-n', f.target, '--from-literal=k=v']);
  const held = await kubectl.run(['delete', 'configmap', configMap, '-n', f.target], { env: home.env });
  const request = new RegExp(`ApprovalRequest ${f.namespace}/(\\S+) is Pending`).exec(held.stderr)?.[1];
  assert.ok(request, held.stderr);
  const spec = JSON.parse(await f.admin.ok(['get', 'approvalrequest', request, '-n', f.namespace, '-o', 'jsonpath={.spec}']));
  assert.equal(spec.subject, 'alice@example.com');
  assert.equal(spec.request.user, 'kubegate:user:alice@example.com');

  const approve = (kubeconfig: string, env: Record<string, string> = {}) =>
    run(kubegateBin, ['approve', request, '-n', f.namespace, '--reason', 'mine', '--kubeconfig', kubeconfig], { env: { HOME: process.env.HOME, ...env } }).then(
      () => ({ code: 0, stderr: '' }),
      (error: { code: number; stderr: string }) => error,
    );
  // through the gateway, even with the RBAC to decide (bound to her grant's group), she is
  // kubegate:user:alice@example.com, whom the policy does not list as an approver: admission refuses her decision
  await f.admin.ok(['create', 'rolebinding', uniqueName('grant-decides'), '--clusterrole=kubegate-approver', `--group=kubegate:grant:${f.namespace}:${grant}`, '-n', f.namespace]);
  await eventually(async () => {
    const throughGateway = await approve(home.kubeconfig, home.env);
    assert.notEqual(throughGateway.code, 0, 'through the gateway');
    assert.match(throughGateway.stderr, /kubegate:user:alice@example\.com is not an approver of policy prod/);
  }, 20_000);
  // at the API server as herself, and an approver by group: the subject may not decide
  const direct = await approve(f.cluster.kubeconfigFile(await f.cluster.tokenFor({ user: 'alice@example.com', groups: ['sre-leads'] })));
  assert.notEqual(direct.code, 0);
  assert.match(direct.stderr, /the requester or the subject of a request cannot decide it/);

  const byBob = await approve(f.cluster.kubeconfigFile(await f.cluster.tokenFor({ user: 'bob@example.com', groups: ['sre-leads'] })));
  assert.equal(byBob.code, 0, byBob.stderr);
  await eventually(async () => void (await kubectl.ok(['delete', 'configmap', configMap, '-n', f.target], { env: home.env })), 20_000);
});

test('the ID token is refreshed with the refresh token; kubectl goes on working with the new one', async () => {
  const { f, home, kubectl } = await alice();
  const before = await credentialToken(home);
  const refreshed = await credentialToken(home, ['--min-validity=100000']);
  assert.notEqual(refreshed, before);
  assert.equal(await credentialToken(home), refreshed, 'the refreshed token is cached');
  await kubectl.ok(['get', 'configmaps', '-n', f.target], { env: home.env });
});

test('with several grants the gateway picks the one whose access covers the request, or the one she names (--grant)', async () => {
  const { f, home } = await alice();
  const other = await f.cluster.namespace('other');
  const groupGrant = await activeGrant(f, { kind: 'Group', name: 'engineers' }, [{ namespace: other, clusterRole: 'view' }]);
  const kubectl = new Kubectl(f.cluster.state.binaries.kubectl, home.kubeconfig);
  await eventually(async () => void (await kubectl.ok(['get', 'configmaps', '-n', other], { env: home.env })), 20_000);
  await eventually(async () => {
    const starts = recordedLines(f.gateway).map((line) => JSON.parse(line)).filter((event) => event.type === 'session-start' && event.grant?.name === groupGrant);
    assert.ok(starts.length > 0);
    assert.deepEqual(starts[0].subject, { kind: 'User', name: 'alice@example.com' });
  }, 20_000);

  const named = loginHome(f.cluster);
  const login = await kubegateLogin(named, [`--server=${f.gateway.url}`, `--certificate-authority=${caFile(f.ca)}`, `--grant=${groupGrant}`], 'alice');
  assert.equal(login.code, 0, login.stderr);
  const asGroup = new Kubectl(f.cluster.state.binaries.kubectl, named.kubeconfig);
  const user = JSON.parse(await asGroup.ok(['auth', 'whoami', '-o', 'json'], { env: named.env })).status.userInfo;
  assert.equal(user.username, 'kubegate:group:engineers');
  assert.ok(user.groups.includes(`kubegate:grant:${f.namespace}:${groupGrant}`));
  const outside = await asGroup.run(['get', 'configmaps', '-n', f.target], { env: named.env });
  assert.notEqual(outside.code, 0, 'the named grant reaches only its own access');
});

test('invariant 11: once her grants are revoked her running watch ends and she is refused (KG_NO_GRANT)', async () => {
  const { f, home, kubectl } = await alice();
  const watch = kubectl.start(['get', 'configmaps', '-n', f.target, '--watch'], { env: home.env });
  let output = '';
  watch.stdout!.setEncoding('utf8').on('data', (chunk: string) => (output += chunk));
  const exited = new Promise<number | null>((resolve) => watch.on('close', resolve));
  await eventually(async () => assert.match(output, /kube-root-ca\.crt/), 20_000);
  const grants = JSON.parse(await f.admin.ok(['get', 'accessgrants', '-n', f.namespace, '-o', 'json'])).items as Array<{ metadata: { name: string }; spec: { subject: { kind: string; name: string } } }>;
  const hers = grants.filter(({ spec: { subject } }) => (subject.kind === 'User' && subject.name === 'alice@example.com') || (subject.kind === 'Group' && subject.name === 'engineers'));
  assert.ok(hers.length > 0);
  const revokedAt = Date.now();
  for (const grant of hers) await f.admin.ok(['patch', 'accessgrant', grant.metadata.name, '-n', f.namespace, '--type=merge', '-p', '{"spec":{"revoked":true}}']);
  const timeout = setTimeout(() => watch.kill('SIGKILL'), 15_000);
  await exited;
  clearTimeout(timeout);
  assert.ok(Date.now() - revokedAt < 5_000, `the watch ended ${Date.now() - revokedAt} ms after the revocation`);
  const refused = await kubectl.run(['get', 'configmaps', '-n', f.target], { env: home.env });
  assert.notEqual(refused.code, 0);
  assert.match(refused.stderr, /no Active AccessGrant of policy .* names alice@example\.com/);
});
