// Captures the request bodies real kubectl sends for its typed write commands (protobuf for most), with
// the JSON kubectl itself prints for the same object, into test/unit/fixtures/kubectl-bodies.json: the
// ground truth test/unit/kube-protobuf.test.ts decodes against. Needs a running sandbox:
//   eval "$(bin/kubegate sandbox env --dir .sandbox)"; node_modules/.bin/node scripts/capture-kubectl-bodies.mjs
// Each command runs twice: `--dry-run=server -v=9` (kubectl logs the body it sends, binary ones as a hex
// dump) and `--dry-run=client -o json` (the same object as kubectl's JSON).
import { execFileSync, spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const repo = join(dirname(fileURLToPath(import.meta.url)), '..');
const ns = `capture-${process.pid}`;
const commands = [
  ['create', 'deployment', 'web', '--image=nginx', '--replicas=2', '--port=80'],
  ['create', 'configmap', 'settings', '--from-literal=mode=fast', '--from-literal=9=nine', '--from-literal=10=ten'],
  ['create', 'secret', 'generic', 'db', '--from-literal=password=hunter2', '--from-literal=user=app'],
  ['create', 'secret', 'docker-registry', 'pull', '--docker-server=registry.example', '--docker-username=u', '--docker-password=p4ss'],
  ['create', 'service', 'clusterip', 'api', '--tcp=80:8080'],
  ['create', 'service', 'nodeport', 'edge', '--tcp=443:https'],
  ['create', 'service', 'externalname', 'ext', '--external-name=example.com'],
  ['create', 'job', 'once', '--image=busybox', '--', 'echo', 'hi'],
  ['create', 'cronjob', 'tick', '--image=busybox', '--schedule=*/5 * * * *', '--', 'date'],
  ['create', 'role', 'reader', '--verb=get,list', '--resource=pods'],
  ['create', 'clusterrole', 'nodes-reader', '--verb=get', '--resource=nodes'],
  ['create', 'rolebinding', 'read-binding', '--role=reader', '--user=alice', '--serviceaccount=default:bot'],
  ['create', 'clusterrolebinding', 'admins', '--clusterrole=cluster-admin', '--group=ops'],
  ['create', 'serviceaccount', 'bot'],
  ['create', 'quota', 'limits', '--hard=cpu=1500m,memory=1Gi,pods=4'],
  ['create', 'priorityclass', 'urgent', '--value=1000', '--description=pages people'],
  ['create', 'poddisruptionbudget', 'web-pdb', '--selector=app=web', '--min-available=50%'],
  ['create', 'ingress', 'site', '--rule=example.com/api=api:80'],
  ['create', 'namespace', 'sandboxed'],
  ['run', 'shell', '--image=busybox', '--labels=app=shell', '--env=MODE=debug', '--port=8080', '--', 'sleep', '3600'],
  ['expose', 'deployment', 'exposed', '--port=80', '--target-port=8080'],
  ['autoscale', 'deployment', 'exposed', '--min=1', '--max=3', '--cpu=80%'],
];

const kubectl = (args) => execFileSync('kubectl', ['-n', ns, ...args], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
const fromHexDump = (dump) => Buffer.from([...dump.matchAll(/^\s*[0-9a-f]{8}((?:\s+[0-9a-f]{2}){1,16})/gm)].flatMap((m) => m[1].trim().split(/\s+/)).join(''), 'hex');

/** The last request body kubectl logged with -v=9 (binary bodies as a hex dump, JSON as a quoted string). */
function sentBody(log) {
  const bodies = [...log.matchAll(/"Request Body" body=<\n([\s\S]*?)\n >/g)].map((m) => m[1]);
  if (bodies.length === 0) return undefined;
  const last = bodies.at(-1);
  return /^\s*00000000 /.test(last) ? fromHexDump(last) : Buffer.from(last.replace(/^\t/gm, ''));
}

execFileSync('kubectl', ['create', 'namespace', ns]);
execFileSync('kubectl', ['-n', ns, 'create', 'deployment', 'exposed', '--image=nginx']);
const captured = [];
for (const args of commands) {
  const [flags, rest] = args.includes('--') ? [args.slice(0, args.indexOf('--')), args.slice(args.indexOf('--'))] : [args, []];
  const log = spawnSync('kubectl', ['-n', ns, ...flags, '--dry-run=server', '-v=9', ...rest], { encoding: 'utf8' }).stderr;
  const body = sentBody(log);
  const json = JSON.parse(kubectl([...flags, '--dry-run=client', '-o', 'json', ...rest]));
  const protobuf = body !== undefined && body.subarray(0, 4).toString('latin1') === 'k8s\0';
  captured.push({ command: ['kubectl', ...args].join(' '), contentType: protobuf ? 'application/vnd.kubernetes.protobuf' : 'application/json', body: body?.toString('base64'), json });
}
execFileSync('kubectl', ['delete', 'namespace', ns, '--wait=false']);
writeFileSync(join(repo, 'test/unit/fixtures/kubectl-bodies.json'), JSON.stringify({ kubectl: kubectl(['version', '--client', '-o', 'json']).match(/"gitVersion": "([^"]+)"/)[1], captured }, null, 1) + '\n');
console.log(captured.map((c) => `${c.contentType.padEnd(36)} ${c.command}`).join('\n'));
