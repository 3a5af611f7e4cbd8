/**
 * stdin through the real gateway, with the real kubectl, to a real command (kwok runs it as a local
 * process in DIR/kwok/exec, with a pty for a TTY): a line the policy refuses never reaches the
 * container, however it is written — a last line without newline, TTY line editing, a rewritten
 * command under an allow-list. Each refused line would create a file; the file must not exist.
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { jitKubeconfig, startGateway, type RunningGateway } from '../harness/gateway.js';
import { gatewayFixture, recordedText, type GatewayFixture } from '../harness/gateway-fixture.js';
import { accessGrant, sessionPolicy, uniqueName } from '../harness/kubegate-objects.js';
import { Kubectl } from '../harness/kubectl.js';
import { deploymentYaml, eventually, grantActive, podNames } from '../harness/workloads.js';

const setup = gatewayFixture();

/** The fixture, a running pod, and the folder its commands run in. */
async function withPod(): Promise<GatewayFixture & { pod: string; execDir: string }> {
  const fixture = await setup();
  const { bot, target } = fixture;
  await bot.ok(['apply', '-n', target, '-f', '-'], { input: deploymentYaml('shell', 1) });
  await bot.ok(['rollout', 'status', 'deployment/shell', '-n', target, '--timeout=60s']);
  const [pod] = await podNames(bot, target, 'app=shell');
  return { ...fixture, pod: pod!, execDir: join(fixture.cluster.state.dir, 'kwok', 'exec') };
}

for (const transport of ['WebSocket', 'SPDY'] as const) {
  test(`invariant 10: a last stdin line without newline is judged at end of file and never runs (${transport})`, async () => {
    const { bot, target, pod, execDir } = await withPod();
    const env: Record<string, string> = transport === 'SPDY' ? { KUBECTL_REMOTE_COMMAND_WEBSOCKETS: 'false' } : {};
    const marker = uniqueName('eof');
    // kwok never closes a command's stdin, so the shell that meets end of file is an inner one: `head -c`
    // hands it exactly the line, without newline, and closes its stdin; it runs the line then
    const atEof = (line: string) => bot.run(['exec', '-i', '-n', target, pod, '--', 'sh', '-c', `head -c ${Buffer.byteLength(line)} | sh`], { env, input: line });
    // `echo rm -rf x` matches the policy's no-rm-rf pattern, and the line would create the marker
    const run = await atEof(`echo rm -rf x > ${marker}`);
    assert.notEqual(run.code, 0);
    assert.match(run.stderr, /denied by rule "no-rm-rf"/);
    assert.ok(!existsSync(join(execDir, marker)), 'the refused last line never reached the shell');
    const allowed = await atEof(`echo ok > ${marker}`);
    assert.equal(allowed.code, 0, allowed.stderr);
    assert.ok(existsSync(join(execDir, marker)), 'an allowed last line without newline runs at end of file');
  });
}

/**
 * kubectl exec -it under a pty (util-linux `script`): bytes written to it are keystrokes. Resolves
 * with what kubectl printed and its exit code once it exits.
 */
function typeInto(kubectl: Kubectl, args: string[], keystrokes: (typed: (text: string) => void, output: () => string) => Promise<void>): Promise<{ code: number | null; output: string }> {
  const command = [kubectl.binary, ...args].map((word) => `'${word}'`).join(' ');
  const child = spawn('script', ['-qfec', command, '/dev/null'], { env: { PATH: process.env.PATH, HOME: process.env.HOME, KUBECONFIG: kubectl.kubeconfig, TERM: 'xterm' }, stdio: ['pipe', 'pipe', 'pipe'] });
  let output = '';
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => (output += chunk));
  const exited = new Promise<number | null>((resolve) => child.on('close', resolve));
  const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
  return keystrokes((text) => child.stdin.write(text), () => output)
    .then(() => exited)
    .then((code) => ({ code, output }))
    .finally(() => {
      clearTimeout(timer);
      child.kill();
    });
}

test('invariant 10: a line edited on a TTY (DEL) is judged as the shell will run it, and never reaches it', async () => {
  const { bot, target, pod, execDir } = await withPod();
  const before = uniqueName('before');
  const marker = uniqueName('tty');
  const result = await typeInto(bot, ['exec', '-it', '-n', target, pod, '--', 'sh'], async (typed, output) => {
    await eventually(async () => assert.match(output(), /[#$] $/), 20_000);
    typed(`echo ok > ${before}\r`);
    await eventually(async () => assert.ok(existsSync(join(execDir, before)), output()), 20_000);
    // as typed: `echo rm -rX<DEL>f …`, which no pattern for `rm -rf` finds; as the TTY runs it: `echo rm -rf …`
    for (const key of ['echo rm -r', 'X', '\x7f', 'f', ` x > ${marker}`, '\r', 'exit\r']) typed(key);
  });
  assert.notEqual(result.code, 0);
  assert.match(result.output, /denied by rule "no-rm-rf"/);
  assert.ok(!existsSync(join(execDir, marker)), 'the edited line never ran');
});

test('invariant 10: a command rule written for exec covers the stdin of attach (kubectl attach, run -it, debug)', async () => {
  const { bot, target, pod } = await withPod();
  // the fixture's no-rm-rf rule names only the exec subresource
  const attach = await bot.run(['attach', '-i', '-n', target, pod], { input: 'echo rm -rf x\n', timeoutMs: 30_000 });
  assert.notEqual(attach.code, null, 'the session ended at the refused line, not at the timeout');
  assert.match(attach.stderr, /denied by rule "no-rm-rf"/);
});

let allowListGateway: RunningGateway | undefined;
after(async () => allowListGateway?.stop());

test('invariant 10: under an allow-list `rm -r -f`, which gets past a deny pattern, is refused as exec and as stdin', async () => {
  const { admin, cluster, namespace, target, pod, execDir } = await withPod();
  const victim = uniqueName('victim');
  const touched = uniqueName('touched');
  writeFileSync(join(execDir, victim), 'keep me\n');
  await admin.ok(['apply', '-f', '-'], {
    input: JSON.stringify(sessionPolicy(namespace, 'allowlist', { commands: { mode: 'AllowList', allow: [['sh'], ['ls', '**'], ['touch', '*']] } })),
  });
  const grant = uniqueName('lister');
  await admin.ok(['apply', '-f', '-'], {
    input: JSON.stringify(accessGrant(namespace, grant, { subject: { kind: 'User', name: 'lister' }, duration: '1h', access: [{ namespace: target, clusterRole: 'edit' }], policyRef: { name: 'allowlist' }, requestedBy: 'kubegate-admin' })),
  });
  await grantActive(admin, namespace, grant);
  allowListGateway = await startGateway(cluster, { namespace, name: 'allowlist' });
  const lister = new Kubectl(cluster.state.binaries.kubectl, await jitKubeconfig(cluster, { namespace, name: grant }, allowListGateway));

  const exec = await lister.run(['exec', '-n', target, pod, '--', 'rm', '-r', '-f', victim]);
  assert.notEqual(exec.code, 0);
  assert.match(exec.stderr, /not on its allow-list/);
  assert.ok((await lister.run(['exec', '-n', target, pod, '--', 'ls', victim])).stdout.includes(victim), 'a listed command runs');

  const shell = await lister.run(['exec', '-i', '-n', target, pod, '--', 'sh'], { input: `touch ${touched}\nrm -r -f ${victim}\n` });
  assert.notEqual(shell.code, 0);
  assert.ok(existsSync(join(execDir, victim)), 'rm -r -f never reached the shell');
  // kubectl prints the refusal only when the closing notice could be written between frames; the recording always says why
  await eventually(async () => assert.match(recordedText(allowListGateway!), /"reason":"stdin blocked by rule \(allow-list\)"/), 10_000);
  for (const line of ['base64 -d | sh', `rm\${IFS}-rf\${IFS}${victim}`, `ls; rm -rf ${victim}`]) {
    const refused = await lister.run(['exec', '-i', '-n', target, pod, '--', 'sh'], { input: `${line}\n` });
    assert.notEqual(refused.code, 0, line);
  }
  assert.ok(existsSync(join(execDir, victim)));
});
