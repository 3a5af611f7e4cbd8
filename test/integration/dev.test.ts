/**
 * `kubegate dev --demo` as a newcomer runs it (`npm start`): the real bin/kubegate, with a sandbox of its
 * own in a fresh DIR. It must get ready and play the demo as scripted; the bot's kubeconfig must work
 * with the real kubectl; every object of samples/dev (which this test applies, not samples.test.ts) must
 * be there, policies Ready and grants Active; the recording store must hold what the demo did, its
 * password masked; the console's login link must sign the sample approver in, to the demo's approvals,
 * sessions (the port-forward's bytes among them), the bot grant's access ledger and live events; a second `kubegate dev` on the same DIR must refuse; `kubegate dev down`
 * from another shell must stop it with exit code 0 and leave no process of DIR running. A part that fails
 * to start must stop what was started and show its log.
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { parseAllDocuments } from 'yaml';
import { packageRoot } from '../../src/util/package-root.js';
import { readLiveState } from '../../src/sandbox/control.js';
import { devGrant, devSamples, samplesDir } from '../../src/cli/dev/cluster.js';
import { stopDev } from '../../src/cli/dev/state.js';
import { Kubectl } from '../harness/kubectl.js';
import { eventually } from '../harness/workloads.js';

const run = promisify(execFile);
const kubegate = join(packageRoot(), 'bin', 'kubegate');
const dir = mkdtempSync(join(tmpdir(), 'kubegate-dev-'));

after(async () => {
  await stopDev(dir);
  rmSync(dir, { recursive: true, force: true });
});

/** `kubegate dev` as a child: its output so far, and a wait for a line of it. */
function startDev(args: string[]) {
  const child = spawn(kubegate, ['dev', '--dir', dir, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const output = () => `stdout:\n${stdout}\nstderr:\n${stderr}`;
  /** Resolves once stdout has a line matching `pattern`; rejects when dev exits first. */
  const printed = (pattern: RegExp) =>
    new Promise<RegExpExecArray>((resolve, reject) => {
      const look = () => {
        const match = pattern.exec(stdout);
        if (match) resolve(match);
        return match;
      };
      if (look()) return;
      child.stdout.on('data', look);
      void exited.then((code) => reject(new Error(`kubegate dev exited ${code} before printing ${pattern}\n${output()}`)));
    });
  return { child, exited, output, printed };
}

async function jsonOf(kubectl: Kubectl, args: string[]): Promise<any> {
  return JSON.parse(await kubectl.ok([...args, '-o', 'json']));
}

/** Each object of samples/dev exists; SessionPolicies are Ready and AccessGrants Active. */
async function checkSamples(admin: Kubectl): Promise<void> {
  const files = readdirSync(samplesDir).filter((name) => name.endsWith('.yaml')).sort();
  assert.deepEqual(files, devSamples.map((sample) => sample.file).sort(), 'kubegate dev applies every file of samples/dev');
  for (const file of files) {
    const expectedCount = parseAllDocuments(readFileSync(join(samplesDir, file), 'utf8')).length;
    const live = await jsonOf(admin, ['get', '-f', join(samplesDir, file)]);
    const objects: Array<{ kind: string; metadata: { name: string }; status?: { phase?: string; message?: string } }> = live.kind === 'List' ? live.items : [live];
    assert.equal(objects.length, expectedCount, file);
    for (const object of objects) {
      const expected = ({ SessionPolicy: 'Ready', AccessGrant: 'Active' } as Record<string, string>)[object.kind];
      if (expected) assert.equal(object.status?.phase, expected, `${file}: ${object.kind} ${object.metadata.name}: ${object.status?.message}`);
    }
  }
}

/** The console's one-time link signs bob in; he sees the demo's approvals, its sessions, and the live sessions of the gateway. */
async function checkConsole(link: string): Promise<void> {
  const signIn = await fetch(link, { redirect: 'manual' });
  assert.equal(signIn.status, 303);
  const cookie = signIn.headers.get('set-cookie')!.split(';')[0]!;
  const api = async (path: string) => {
    const response = await fetch(new URL(path, link), { headers: { cookie } });
    assert.equal(response.status, 200, `${path}: ${response.status}`);
    return response;
  };
  const json = async (path: string): Promise<any> => (await api(path)).json();
  const me = await json('/api/me');
  assert.equal(me.user, 'bob@example.com');
  assert.deepEqual(me.can, { readSessions: true, watchSessions: true, endSessions: true });
  const approvals = (await json('/api/approvals')).items as Array<{ kind: string; phase: string; rule?: string }>;
  assert.ok(approvals.some((item) => item.kind === 'grant' && item.phase === 'Approved'), JSON.stringify(approvals));
  assert.ok(approvals.some((item) => item.kind === 'request' && item.phase === 'Approved' && item.rule === 'escalation-needs-a-human'), JSON.stringify(approvals));
  const sessions = (await json('/api/sessions?subject=demo-bot')).items as Array<{ id: string }>;
  assert.ok(sessions.length > 0, 'the demo sessions are listed');
  // the demo's port-forward is on a session page, with the bytes it carried each way
  const details = await Promise.all(sessions.map((session) => json(`/api/sessions/${session.id}`)));
  const timeline = details.flatMap((detail) => detail.timeline as Array<{ kind: string; requestId?: string; call?: string; bytes?: Record<string, number> }>);
  const forwards = new Set(timeline.filter((entry) => entry.kind === 'api' && /pods\/portforward/.test(entry.call ?? '')).map((entry) => entry.requestId));
  const carried = timeline.filter((entry) => entry.kind === 'stream-close' && forwards.has(entry.requestId)).map((entry) => Object.values(entry.bytes ?? {}).reduce((a, b) => a + b, 0));
  assert.ok(carried.some((bytes) => bytes > 0), `a port-forward stream with its bytes: ${JSON.stringify(carried)}`);
  // the dev policy's storage is the dev store: the bot's grant has its access ledger there, as the console shows it
  const ledger = await json(`/api/grants/${devGrant.namespace}/${devGrant.name}/ledger`);
  assert.deepEqual(ledger.problems, []);
  const events = (ledger.entries as Array<{ event: string; actor?: string }>).map((entry) => entry.event);
  for (const event of ['created', 'activated']) assert.ok(events.includes(event), `${event} in ${events.join(', ')}`);
  assert.equal(ledger.approval?.entries?.find((entry: { event: string }) => entry.event === 'decision')?.actor, 'bob@example.com', JSON.stringify(ledger.approval));
  // the console's ServiceAccount may subscribe to the gateway's live events: the relay starts with their snapshot
  const live = await api('/api/live');
  const reader = live.body!.getReader();
  let text = '';
  while (!/event: snapshot/.test(text)) {
    const { done, value } = await reader.read();
    assert.ok(!done, `the live relay ended before a snapshot: ${text}`);
    text += new TextDecoder().decode(value);
  }
  await reader.cancel();
  // people also sign in at the sandbox's identity provider, named as the dev policy's gateway names them
  const config = (await (await fetch(new URL('/auth/config', link))).json()) as { oidc?: { issuer: string } };
  assert.match(config.oidc?.issuer ?? JSON.stringify(config), /^https:\/\/127\.0\.0\.1:\d+/);
  const begin = await fetch(new URL('/auth/login', link), { redirect: 'manual' });
  assert.equal(begin.status, 303);
  assert.ok(begin.headers.get('location')!.startsWith(config.oidc!.issuer), begin.headers.get('location')!);
}

/** The processes whose command line names `folder`. */
async function processesOf(folder: string): Promise<string> {
  return run('pgrep', ['-af', folder]).then((result) => result.stdout, () => '');
}

test('a part that fails to start stops what was started, shows its log and exits 1 (an etcd that exits at once)', async () => {
  const failing = mkdtempSync(join(tmpdir(), 'kubegate-dev-failing-'));
  after(() => rmSync(failing, { recursive: true, force: true }));
  const result = await run(kubegate, ['dev', '--dir', failing], { env: { ...process.env, KUBEGATE_BIN_ETCD: '/bin/false' } }).then(
    () => ({ code: 0, stderr: '' }),
    (error: { code: number; stderr: string }) => error,
  );
  assert.equal(result.code, 1, result.stderr);
  assert.match(result.stderr, /^kubegate dev: sandbox: .*etcd exited/m);
  assert.match(result.stderr, new RegExp(`^  log: ${join(failing, 'sandbox', 'supervisor.log')}$`, 'm'));
  assert.match(result.stderr, /^  \| .*failed: etcd exited/m, 'the last lines of that log');
  assert.match(result.stderr, /dev: stopped/);
  assert.equal(await processesOf(failing), '');
});

test('kubegate dev --demo: ready, the demo played and recorded, every samples/dev object Ready/Active; dev down leaves nothing running', async () => {
  const dev = startDev(['--demo']);
  const ready = await dev.printed(/^kubegate dev is ready in ([\d.]+)s/m);
  process.stderr.write(`kubegate dev ready in ${ready[1]}s\n`);
  await dev.printed(/^demo: (all \d+ steps went as scripted|\d+ of \d+ steps did not go as scripted)/m);
  assert.match(dev.output(), /^demo: all \d+ steps went as scripted/m, dev.output());

  const second = await run(kubegate, ['dev', '--dir', dir]).then(() => undefined, (error: { code: number; stderr: string }) => error);
  assert.equal(second?.code, 1, 'a second kubegate dev on a live DIR refuses');
  assert.match(second!.stderr, /kubegate dev is already running in/);

  const sandbox = readLiveState(join(dir, 'sandbox'));
  assert.ok(sandbox, 'the sandbox runs');
  const bot = new Kubectl(sandbox.binaries.kubectl, join(dir, 'bot.kubeconfig'));
  assert.match(await bot.ok(['get', 'pods', '-n', 'shop']), /^web-/m);
  assert.match((await bot.run(['delete', 'namespace', 'shop'])).stderr, /denied by rule "no-namespace-deletion"/);
  const admin = new Kubectl(sandbox.binaries.kubectl, sandbox.kubeconfig);
  await checkSamples(admin);
  // the kwok node runs no images: the gateway runs locally, and its in-cluster Deployment shows no pod pretending to
  assert.equal((await admin.ok(['get', 'deployment', 'kubegate-gateway-dev', '-n', 'kubegate-dev', '-o', 'jsonpath={.spec.replicas}'])).trim(), '0');

  const store = `file://${join(dir, 'store')}`;
  await eventually(async () => {
    const { stdout } = await run(kubegate, ['sessions', 'search', 'connecting to db.shop', '--store', store, '-o', 'json']);
    const matches = JSON.parse(stdout) as Array<{ subject: string; line: string }>;
    assert.ok(matches.some((match) => match.subject === 'demo-bot' && /connecting to db\.shop with \*+/.test(match.line)), stdout);
    assert.doesNotMatch(stdout, /hunter2/, 'the password is masked in the recording');
  }, 30_000, 1000);
  const { stdout: listed } = await run(kubegate, ['sessions', 'list', '--store', store, '--subject', 'demo-bot', '--decision', 'RequireApproval']);
  assert.match(listed, /demo-bot/, 'the escalation held for approval is recorded');

  await checkConsole(readFileSync(join(dir, 'console-url'), 'utf8').trim());

  const down = await run(kubegate, ['dev', 'down', '--dir', dir]);
  assert.match(down.stderr, /stopped/);
  assert.equal(await dev.exited, 0, dev.output());
  assert.equal(await processesOf(dir), '', `no process of ${dir} is left`);
});
