/**
 * The auditor's side, end to end: the real kubectl works through the real gateway recording to the
 * sandbox's MinIO (object lock on), and the real `kubegate sessions` CLI finds, renders, plays back and
 * verifies what happened — then notices when someone with bucket access rewrites a segment, and when the
 * store's own administrator truncates, recomputes, forges or removes sessions (format v5: signed manifests,
 * the checkpoint log), in `sessions verify` and in the report.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DeleteObjectCommand, GetObjectCommand, HeadObjectCommand, ListObjectsV2Command, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { createHash, sign } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { checkpointFolder, indexKey, recordingFormatVersion, writerPrefix, type SegmentManifest, type SessionIndex } from '../../src/recording/format.js';
import { newEvidenceKey, signedPayload } from '../../src/pki/signing.js';
import type { SessionReport } from '../../src/audit/report/session-report.js';
import type { ReportSummary } from '../../src/audit/report/report.js';
import type { VerifyReport } from '../../src/audit/verify.js';
import { testCluster } from '../harness/cluster.js';
import { jitKubeconfig, sandboxS3Env, startGateway, type RunningGateway } from '../harness/gateway.js';
import { accessGrant, sessionPolicy, uniqueName } from '../harness/kubegate-objects.js';
import { Kubectl } from '../harness/kubectl.js';
import { startOperator, type RunningOperator } from '../harness/operator.js';
import { eventually, grantActive } from '../harness/workloads.js';
import { runKubegate, type CliResult } from '../harness/kubegate-process.js';

let operator: RunningOperator | undefined;
let gateway: RunningGateway | undefined;
/** What the first test recorded, for the second to tamper with. */
let audited: { cli: (args: string[]) => Promise<CliResult>; sessions: SessionIndex[]; reports: VerifyReport[]; tampered: string; prefix: string; bucket: string; s3: S3Client; namespace: string } | undefined;
after(async () => {
  await gateway?.stop();
  await operator?.stop();
});

function pod(name: string): object {
  return { apiVersion: 'v1', kind: 'Pod', metadata: { name, labels: { app: 'audit' } }, spec: { containers: [{ name: 'main', image: 'registry.example/app:1.0' }] } };
}

test('invariant 8: a recorded session of API calls and an interactive exec is found, shown, played and verified from MinIO, and tampering is named', async () => {
  const cluster = await testCluster();
  operator = await startOperator(cluster);
  const admin = await cluster.kubectl();
  const namespace = await cluster.namespace('audit', { keep: true });
  const target = await cluster.namespace('payments', { keep: true });
  await admin.ok(['apply', '-f', '-'], { input: JSON.stringify(sessionPolicy(namespace, 'audited', { recording: { stdin: true, retention: { mode: 'Governance', days: 1 } } })) });
  const grant = uniqueName('auditee');
  await admin.ok(['apply', '-f', '-'], {
    input: JSON.stringify(accessGrant(namespace, grant, { subject: { kind: 'User', name: 'auditee-bot' }, duration: '1h', access: [{ namespace: target, clusterRole: 'edit' }], policyRef: { name: 'audited' }, requestedBy: 'kubegate-admin' })),
  });
  await grantActive(admin, namespace, grant);

  const s3 = cluster.state.s3;
  const prefix = `${uniqueName('audit')}/`;
  const store = `s3://${s3.bucket}/${prefix.slice(0, -1)}`;
  gateway = await startGateway(cluster, { namespace, name: 'audited' }, { store, env: sandboxS3Env(cluster), args: ['--segment-max-bytes=4096'] });
  const bot = new Kubectl(cluster.state.binaries.kubectl, await jitKubeconfig(cluster, { namespace, name: grant }, gateway));

  // what the bot does: each kubectl invocation is one session
  await eventually(async () => void (await bot.ok(['get', 'pods', '-n', target])), 20_000);
  await bot.ok(['apply', '-n', target, '-f', '-'], { input: JSON.stringify({ apiVersion: 'v1', kind: 'List', items: [pod('api-7'), pod('shell')] }) });
  await bot.ok(['wait', '--for=condition=Ready', 'pod/shell', 'pod/api-7', '-n', target, '--timeout=60s']);
  await bot.ok(['delete', 'pod', 'api-7', '-n', target, '--wait=false']);
  await bot.ok(['label', 'pod', 'shell', 'audited=yes', '-n', target]);
  const exec = await bot.run(['exec', '-i', 'shell', '-n', target, '--', 'sh', '-c', 'read a; echo "got $a"; read b; echo "got $b"'], { input: 'hello auditor\nsecond line\n' });
  assert.equal(exec.code, 0, exec.stderr);
  assert.equal(exec.stdout, 'got hello auditor\ngot second line\n');
  await gateway.stop(); // drains: every session is closed and uploaded

  const env = { ...sandboxS3Env(cluster), KUBEGATE_STORE: store };
  const cli = (args: string[]) => runKubegate(args, { env });
  const kubegate = (args: string[]) => cli(['sessions', ...args]);
  const ok = async (args: string[]) => {
    const result = await kubegate(args);
    assert.equal(result.code, 0, `kubegate sessions ${args.join(' ')}: ${result.stderr}`);
    return result.stdout;
  };

  // list: the sessions, filtered by what the index knows
  const sessions = JSON.parse(await ok(['list', '--subject', 'auditee-bot', '--since', '1h', '-o', 'json'])) as SessionIndex[];
  assert.ok(sessions.length >= 5, `one session per kubectl invocation, got ${sessions.length}`);
  assert.ok(sessions.every((session) => session.grant.name === grant && session.endedAt !== null));
  const deletes = JSON.parse(await ok(['list', '--verb', 'delete', '--resource', 'pod', '--namespace', target, '-o', 'json'])) as SessionIndex[];
  assert.equal(deletes.length, 1);
  const deleteId = deletes[0]!.sessionId;
  assert.ok(sessions.every((session) => session.v === recordingFormatVersion && session.writer), 'each index names the gateway process that wrote it');
  const execSession = sessions.find((session) => session.resources.includes('pods/exec'))!;
  assert.ok(execSession, 'the exec session is indexed with pods/exec');
  const table = await ok(['list', '--grant', `${namespace}/${grant}`]);
  assert.match(table, /^ID\s+SUBJECT\s+GRANT\s+STARTED\s+DURATION\s+EVENTS\s+DECISIONS$/m);
  assert.match(table, new RegExp(`^${deleteId.slice(0, 8)}\\s+auditee-bot\\s+${namespace}/${grant}\\s`, 'm'));

  // search: who ran `kubectl delete pod api-7`; and text typed into and printed by the shell
  const who = await ok(['search', 'kubectl delete pod api-7']);
  assert.match(who, new RegExp(`^${deleteId.slice(0, 8)}  \\S+  auditee-bot  api: delete pods ${target}/api-7 \\(kubectl delete\\)$`, 'm'));
  assert.doesNotMatch(who, new RegExp(`^${execSession.sessionId.slice(0, 8)}`, 'm'), 'the exec session deleted nothing');
  const typed = JSON.parse(await ok(['search', 'second line', '-o', 'json'])) as { sessionId: string; where: string; line: string }[];
  assert.deepEqual(typed.map(({ sessionId, where, line }) => ({ sessionId, where, line })), [
    { sessionId: execSession.sessionId, where: 'stdin', line: 'second line' },
    { sessionId: execSession.sessionId, where: 'stdout', line: 'got second line' },
  ]);
  const missing = await kubegate(['search', 'nobody typed this']);
  assert.equal(missing.code, 1);
  assert.match(missing.stderr, /^kubegate: no session from .* matches "nobody typed this"\n$/);

  // show: the timeline of each
  const deleteTimeline = await ok(['show', deleteId.slice(0, 8)]);
  assert.match(deleteTimeline, /session start {2}subject User\/auditee-bot/);
  assert.match(deleteTimeline, new RegExp(`delete pods ${target}/api-7\\s+Allow\\s+200 \\d+ms`));
  const execTimeline = await ok(['show', execSession.sessionId, '--with-output']);
  assert.match(execTimeline, new RegExp(`create pods/exec ${target}/shell\\s+Allow`));
  assert.match(execTimeline, /▶ stream open \[sh -c read a; echo "got \$a"; read b; echo "got \$b"\]/);
  assert.match(execTimeline, /stdin> hello auditor\n.*stdin> second line\n.*stdout> got hello auditor\n/s);
  assert.match(execTimeline, /error> \{"metadata":\{\},"status":"Success"\}/, 'the exec status the API server sent');
  assert.match(execTimeline, /■ stream closed: .*stdin 26 B/);
  assert.match(execTimeline, /session end: /);
  const [label] = JSON.parse(await ok(['list', '--verb', 'patch', '--since', '1h', '-o', 'json'])) as SessionIndex[];
  assert.match(await ok(['show', label!.sessionId]), new RegExp(`patch pods ${target}/shell\\s+Allow\\s+200 \\d+ms  \\[application/merge-patch\\+json\\]`), 'the body type kubectl sent');

  // play: the terminal as the user saw it, and as asciicast v2
  assert.equal(await ok(['play', execSession.sessionId, '--speed', '0']), 'got hello auditor\ngot second line\n');
  const cast = join(mkdtempSync(join(tmpdir(), 'kubegate-cast-')), 'exec.cast');
  await ok(['play', execSession.sessionId, '--asciicast', cast]);
  const [header, ...frames] = readFileSync(cast, 'utf8').trimEnd().split('\n').map((line) => JSON.parse(line) as unknown);
  assert.deepEqual({ ...(header as object), timestamp: 0, title: '' }, { version: 2, width: 80, height: 24, timestamp: 0, title: '' });
  const output = (frames as [number, string, string][]).filter(([, code]) => code === 'o');
  assert.equal(output.map(([, , data]) => data).join(''), 'got hello auditor\r\ngot second line\r\n', 'exec without -t: no terminal added the carriage returns a player needs');
  assert.ok(output.every(([time], i) => time >= 0 && (i === 0 || time >= output[i - 1]![0])), 'times relative to the start, never going back');

  // verify: every session intact, under the GOVERNANCE lock the policy asks for
  const reports = JSON.parse(await ok(['verify', '--all', '--since', '1h', '-o', 'json'])) as VerifyReport[];
  assert.equal(reports.length, sessions.length);
  for (const report of reports) {
    assert.deepEqual(report.problems, [], report.sessionId);
    assert.equal(report.status, 'intact');
    assert.deepEqual(report.objectLock.modes, ['GOVERNANCE']);
    assert.equal(report.objectLock.locked, report.objectLock.requested);
    assert.equal(report.objectLock.requested, report.segments * 2, 'each segment and each manifest is locked');
    assert.equal(report.signing.status, 'signed', 'every manifest signed by the policy\'s key');
    assert.equal(report.signing.checkpoints, 1, 'one checkpoint: the final one (a session shorter than the checkpoint interval)');
  }
  assert.match(await ok(['verify', deleteId]), new RegExp(`^OK {7}${deleteId}  \\d+ segments, \\d+ events, \\d+ bytes; hash chain intact; object lock GOVERNANCE until \\S+ on (\\d+)/\\1 objects; signed by r-\\S+; 1 checkpoint\\(s\\), the last at \\S+$`, 'm'));
  audited = { cli, sessions, reports, tampered: deleteId, prefix, bucket: s3.bucket, s3: cluster.s3(), namespace };

  // someone with bucket access writes a new version of a segment: the change and the missing lock are named
  const segmentKey = `${writerPrefix(deletes[0]!.prefix, deletes[0]!.writer)}segment-000000.jsonl`;
  const client = cluster.s3();
  try {
    const stored = await client.send(new GetObjectCommand({ Bucket: s3.bucket, Key: `${prefix}${segmentKey}` }));
    const original = await stored.Body!.transformToString();
    await client.send(new PutObjectCommand({ Bucket: s3.bucket, Key: `${prefix}${segmentKey}`, Body: original.replace('auditee-bot', 'someone-else') }));
  } finally {
    client.destroy();
  }
  const tampered = await kubegate(['verify', deleteId]);
  assert.equal(tampered.code, 1);
  assert.match(tampered.stdout, new RegExp(`^TAMPERED ${deleteId}`, 'm'));
  assert.match(tampered.stdout, /✗ segment 0 changed \(sha256 [0-9a-f]{12}… ≠ [0-9a-f]{12}… in its manifest\)/);
  assert.match(tampered.stdout, /✗ segment 0 is not under object lock \(its manifest asks for GOVERNANCE until /);
  assert.match(tampered.stderr, /^kubegate: 1 of 1 session\(s\) failed verification\n$/);
});

const sha256 = (bytes: string) => createHash('sha256').update(bytes).digest('hex');

/** The store's administrator at work on one session's chain in MinIO: read, rewrite (a new version), remove (a delete marker). */
function chainEditor(state: NonNullable<typeof audited>, index: SessionIndex) {
  const folder = `${state.prefix}${writerPrefix(index.prefix, index.writer)}`;
  const key = (i: number, kind: 'jsonl' | 'manifest.json') => `${folder}segment-${String(i).padStart(6, '0')}.${kind}`;
  const get = async (objectKey: string) => (await (await state.s3.send(new GetObjectCommand({ Bucket: state.bucket, Key: objectKey }))).Body!.transformToString());
  const put = (objectKey: string, body: string) => state.s3.send(new PutObjectCommand({ Bucket: state.bucket, Key: objectKey, Body: body }));
  const remove = (objectKey: string) => state.s3.send(new DeleteObjectCommand({ Bucket: state.bucket, Key: objectKey }));
  const indexObject = `${state.prefix}${indexKey(index)}`;
  return {
    key,
    get,
    remove,
    /** Removes segments `from`… and rewrites the index (not under lock) to say the session is still open with what is left. */
    async truncate(from: number) {
      for (let i = from; i < index.segments; i++) for (const kind of ['jsonl', 'manifest.json'] as const) await remove(key(i, kind));
      await put(indexObject, JSON.stringify({ ...index, endedAt: null, segments: from }));
    },
    /** Edits segment 0 and recomputes every manifest, hashes and chain; `resign` signs each anew (by default the old signature stays). */
    async recompute(resign: (manifest: SegmentManifest) => SegmentManifest = (manifest) => manifest) {
      const forged = (await get(key(0, 'jsonl'))).replace('auditee-bot', 'someone-else');
      await put(key(0, 'jsonl'), forged);
      let previous: { segment: string; manifest: string } | undefined;
      for (let i = 0; i < index.segments; i++) {
        const segment = i === 0 ? forged : await get(key(i, 'jsonl'));
        const stored = JSON.parse(await get(key(i, 'manifest.json'))) as SegmentManifest;
        const manifest = resign({ ...stored, sha256: sha256(segment), bytes: Buffer.byteLength(segment), ...(previous ? { previousSegmentSha256: previous.segment, previousManifestSha256: previous.manifest } : {}) });
        const body = JSON.stringify(manifest) + '\n';
        await put(key(i, 'manifest.json'), body);
        previous = { segment: manifest.sha256, manifest: sha256(body) };
      }
    },
    /** Removes every object of the session and its index. */
    async removeAll() {
      const listed = await state.s3.send(new ListObjectsV2Command({ Bucket: state.bucket, Prefix: `${state.prefix}${index.prefix}` }));
      for (const object of listed.Contents ?? []) await remove(object.Key!);
      await remove(indexObject);
    },
  };
}

test('invariant 8: against the store\'s own administrator — truncation, a dropped last segment, a recomputed chain, a forged key and a removed session are each named by verify and the report', async () => {
  const state = audited;
  assert.ok(state, 'the first test recorded the sessions');
  const bySegments = state.sessions.filter((session) => session.sessionId !== state.tampered).sort((a, b) => b.segments - a.segments);
  assert.ok(bySegments.length >= 5 && bySegments[3]!.segments >= 2, `five sessions of two segments or more: ${bySegments.map((session) => session.segments).join(', ')}`);
  const [truncated, dropped, recomputed, forged, removed] = bySegments as [SessionIndex, SessionIndex, SessionIndex, SessionIndex, SessionIndex];

  // the evidence is under COMPLIANCE lock: the checkpoint and the published key
  const checkpoints = await state.s3.send(new ListObjectsV2Command({ Bucket: state.bucket, Prefix: `${state.prefix}${checkpointFolder(removed)}` }));
  const keys = await state.s3.send(new ListObjectsV2Command({ Bucket: state.bucket, Prefix: `${state.prefix}keys/` }));
  for (const object of [checkpoints.Contents?.[0], keys.Contents?.[0]]) {
    assert.ok(object?.Key);
    assert.equal((await state.s3.send(new HeadObjectCommand({ Bucket: state.bucket, Key: object.Key }))).ObjectLockMode, 'COMPLIANCE', object.Key);
  }
  // the public keys the cluster holds verify an untouched session on their own
  const trusted = join(mkdtempSync(join(tmpdir(), 'kubegate-keys-')), 'keys.json');
  const admin = await (await testCluster()).kubectl();
  writeFileSync(trusted, await admin.ok(['get', 'configmap', 'kubegate-gateway-audited-recording-keys', '-n', state.namespace, '-o', 'jsonpath={.data.keys\\.json}']));
  const untouched = await state.cli(['sessions', 'verify', removed.sessionId, '--keys', trusted]);
  assert.equal(untouched.code, 0, untouched.stdout + untouched.stderr);

  await chainEditor(state, truncated).truncate(1);
  await chainEditor(state, dropped).truncate(dropped.segments - 1);
  await chainEditor(state, recomputed).recompute();
  const forger = newEvidenceKey();
  await chainEditor(state, forged).recompute((manifest) => ({ ...manifest, signature: { keyId: forger.keyId, algorithm: 'Ed25519', value: sign(null, signedPayload('segment-manifest', manifest), forger.privateKeyPem).toString('base64') } }));
  await chainEditor(state, removed).removeAll();

  const expected: [SessionIndex, RegExp[]][] = [
    [truncated, [new RegExp(`session truncated: segments 1 to ${truncated.segments - 1} were removed from the end \\(the checkpoint of \\S+ names segment ${truncated.segments - 1} as final`)]],
    [dropped, [new RegExp(`session truncated: the final segment ${dropped.segments - 1} was dropped`)]],
    [recomputed, [/manifest 0's signature by key r-\S+ does not match its content: rewritten by someone without the key/, /manifest \d+ is not the one the checkpoint of \S+ names \(sha256 [0-9a-f]{12}… ≠ [0-9a-f]{12}…\): the chain was recomputed/]],
    [forged, [new RegExp(`manifest 0 is signed by key ${forger.keyId}, which is not among the \\d+ trusted key\\(s\\): forged`), /the chain was recomputed/]],
  ];
  const all = await state.cli(['sessions', 'verify', '--all', '--since', '1h']);
  assert.equal(all.code, 1);
  for (const [session, patterns] of expected) {
    const block = all.stdout.split(/\n(?=\S)/).find((lines) => lines.includes(session.sessionId))!;
    assert.match(block, new RegExp(`^TAMPERED ${session.sessionId}`));
    for (const pattern of patterns) assert.match(block, pattern);
  }
  assert.match(all.stdout, new RegExp(`^TAMPERED ${removed.sessionId}  0 segments.*\\n    ✗ the checkpoint log names this session, but the store holds none of it: removed\\n    ✗ the checkpoint log names writer ${removed.writer} \\(segment ${removed.segments - 1} at \\S+\\), whose chain is not in the store`, 'm'));
  const byId = await state.cli(['sessions', 'verify', removed.sessionId]);
  assert.equal(byId.code, 1);
  assert.match(byId.stdout, new RegExp(`^TAMPERED ${removed.sessionId}  0 segments.*\n    ✗ the checkpoint log names this session, but the store holds none of it: removed$`, 'm'));
  const withClusterKeys = await state.cli(['sessions', 'verify', forged.sessionId, '--keys', trusted]);
  assert.match(withClusterKeys.stdout, /which is not among the \d+ trusted key\(s\): forged/);

  // the report of the window: each of the four shown as tampered, with the reason; the removed one as missing
  const report = await state.cli(['report', '--since', '1h', '-o', 'json']);
  const json = JSON.parse(report.stdout) as { summary: ReportSummary; grants: { sessions: SessionReport[] }[] };
  assert.deepEqual(json.summary.missing.map((session) => [session.sessionId, session.problems[0]]), [[removed.sessionId, 'the checkpoint log names this session, but the store holds none of it: removed']]);
  const sessions = json.grants.flatMap((grant) => grant.sessions);
  for (const [session, patterns] of expected) {
    const reported = sessions.find((candidate) => candidate.sessionId === session.sessionId)!;
    assert.equal(reported.verification.status, 'tampered', session.sessionId);
    for (const pattern of patterns) assert.ok(reported.verification.problems.some((problem) => pattern.test(problem)), `${pattern} in ${reported.verification.problems.join('; ')}`);
  }
  state.s3.destroy();
});
