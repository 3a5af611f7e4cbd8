/**
 * One policy with a running operator and gateway, an Active grant for the bot `deploy-bot` (edit in a
 * target namespace) and that bot's kubectl through the gateway: the ground every gateway test file
 * stands on. Built on first use, torn down after the file. Also a raw HTTPS client for requests kubectl
 * would never send (injected headers, forged tokens, oversize bodies).
 */
import { after } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { request } from 'node:https';
import { gunzipSync } from 'node:zlib';
import { testCluster, type TestCluster } from './cluster.js';
import { installKubegate, startOperator, type RunningOperator } from './operator.js';
import { jitKubeconfig, policyReady, startGateway, type GatewayRunOptions, type RunningGateway } from './gateway.js';
import { accessGrant, sessionPolicy, uniqueName } from './kubegate-objects.js';
import { eventually, grantActive } from './workloads.js';
import { Kubectl } from './kubectl.js';
import { refuseClientNode } from './refuse-client-node-hooks.js';

export interface GatewayFixture {
  cluster: TestCluster;
  admin: Kubectl;
  bot: Kubectl;
  namespace: string;
  target: string;
  grant: string;
  gateway: RunningGateway;
  operator: RunningOperator;
  /** The bot's JIT token and the gateway CA, from its kubeconfig. */
  token: string;
  ca: string;
}

/** The test policy `prod`: a Deny, an exec command rule, an approval rule, masking of Secrets and AWS keys. */
export const fixturePolicyRules = [
  { name: 'no-namespace-deletion', match: { verbs: ['delete', 'deletecollection'], resources: ['namespaces'] }, action: 'Deny' },
  { name: 'no-rm-rf', match: { subresources: ['exec'], command: 'rm\\s+-rf' }, action: 'Deny' },
  { name: 'configmap-deletes-need-a-human', match: { verbs: ['delete'], resources: ['configmaps'] }, action: 'RequireApproval' },
];
export const fixtureMasking = { secrets: true, patterns: ['AKIA[0-9A-Z]{16}'] };

/** What a test file may change of the fixture: the policy's rules, the grant's access (default: edit in the target). */
export interface FixtureOptions {
  rules?: object[];
  access?: (target: string) => object[];
  /** Extra `kubegate gateway` flags (e.g. `--workers=2`). */
  gatewayArgs?: string[];
  /** More of the gateway's run options (its upstream kubeconfig, store, environment), made once its ServiceAccount exists. */
  gatewayOptions?: (cluster: TestCluster, account: { namespace: string; name: string }) => Promise<GatewayRunOptions>;
  /** The operator's environment over the sandbox's S3 settings, made once kubegate's config is installed. */
  operatorEnv?: (cluster: TestCluster) => Promise<NodeJS.ProcessEnv>;
  /** More fields of the policy's spec (e.g. `identityProviders`, which name the sandbox's). */
  policySpec?: (cluster: TestCluster) => Record<string, unknown>;
}

export function gatewayFixture(options: FixtureOptions = {}): () => Promise<GatewayFixture> {
  let operator: RunningOperator | undefined;
  let gateway: RunningGateway | undefined;
  let fixture: Promise<GatewayFixture> | undefined;
  after(async () => {
    await gateway?.stop();
    await operator?.stop();
  });
  return () =>
    (fixture ??= (async () => {
      const cluster = await testCluster();
      if (options.operatorEnv) await installKubegate(cluster);
      operator = await startOperator(cluster, { env: await options.operatorEnv?.(cluster) });
      const admin = await cluster.kubectl();
      const namespace = await cluster.namespace('gw', { keep: true });
      const target = await cluster.namespace('payments', { keep: true });
      await admin.ok(['apply', '-f', '-'], { input: JSON.stringify(sessionPolicy(namespace, 'prod', { rules: options.rules ?? fixturePolicyRules, masking: fixtureMasking, ...options.policySpec?.(cluster) })) });
      const grant = uniqueName('deploy-bot');
      await admin.ok(['apply', '-f', '-'], {
        input: JSON.stringify(accessGrant(namespace, grant, { subject: { kind: 'User', name: 'deploy-bot' }, duration: '1h', access: options.access?.(target) ?? [{ namespace: target, clusterRole: 'edit' }], policyRef: { name: 'prod' }, requestedBy: 'kubegate-admin' })),
      });
      await grantActive(admin, namespace, grant);
      const account = { namespace, name: 'kubegate-gateway-prod' };
      if (options.gatewayOptions) await policyReady(admin, { namespace, name: 'prod' });
      const more = await options.gatewayOptions?.(cluster, account);
      // every gateway process is held to loading no @kubernetes/client-node (issue 14's idle memory)
      gateway = await startGateway(cluster, { namespace, name: 'prod' }, { args: options.gatewayArgs, ...more, env: { ...more?.env, ...refuseClientNode() } });
      const bot = new Kubectl(cluster.state.binaries.kubectl, await jitKubeconfig(cluster, { namespace, name: grant }, gateway));
      const kubeconfig = readFileSync(bot.kubeconfig, 'utf8');
      const token = /token: (\S+)/.exec(kubeconfig)![1]!;
      const ca = Buffer.from(/certificate-authority-data: (\S+)/.exec(kubeconfig)![1]!, 'base64').toString();
      return { cluster, admin, bot, namespace, target, grant, gateway, operator, token, ca };
    })());
}

export interface RawResponse {
  status: number;
  body: string;
}

/** One HTTPS request to the gateway, trusting its CA, with exactly these headers. */
/**
 * One request to the gateway. `newConnection`: on a connection of its own (Node's global agent keeps
 * connections alive, so calls made at once would otherwise reuse earlier ones — and their worker).
 */
export function gatewayCall(fixture: Pick<GatewayFixture, 'gateway' | 'ca'>, path: string, headers: Record<string, string | string[]>, options: { method?: string; body?: Buffer; newConnection?: boolean } = {}): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    const url = new URL(fixture.gateway.url);
    const req = request({ hostname: url.hostname, port: url.port, path, method: options.method ?? 'GET', ca: fixture.ca, headers, ...(options.newConnection ? { agent: false } : {}) }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      // a compressed answer is read as the client would read it: decompressed
      res.on('end', () => {
        const body = Buffer.concat(chunks);
        resolve({ status: res.statusCode ?? 0, body: (res.headers['content-encoding'] === 'gzip' ? gunzipSync(body) : body).toString() });
      });
    });
    // a 101 (a request the gateway let upgrade): the answer is the switch itself
    req.on('upgrade', (res, socket) => {
      socket.destroy();
      resolve({ status: res.statusCode ?? 101, body: '' });
    });
    req.on('error', reject);
    req.end(options.body);
  });
}

/**
 * Everything the gateway recorded so far — its spool and its `file://` store, the object index too — plus
 * each recorded stream channel's payloads joined and decoded, and each body recorded as base64 decoded,
 * to search for clear text.
 */
export function recordedText(gateway: Pick<RunningGateway, 'recordings' | 'spoolDir'>): string {
  const lines = recordedLines(gateway);
  const channels = new Map<string, string>();
  const bodies: string[] = [];
  for (const line of lines) {
    const event = JSON.parse(line) as RecordedLine;
    if (event.bodyEncoding === 'base64') bodies.push(Buffer.from(event.body!, 'base64').toString('latin1'));
    if (event.type !== 'stream') continue;
    const key = `${event.requestId} ${event.channel}`;
    channels.set(key, (channels.get(key) ?? '') + Buffer.from(event.data!, 'base64').toString('latin1'));
  }
  return [...lines, ...channels.values(), ...bodies, ...recordedFiles(gateway, (name) => name.endsWith('.jsonl') && !segmentFile.test(name))].join('\n');
}

/** The fields of a recorded event the tests read (src/recording/format.ts has them all). */
export interface RecordedLine {
  type: string;
  requestId?: string;
  /** `request`: the request target as received. */
  path?: string;
  direction?: string;
  channel?: string;
  /** base64 */
  data?: string;
  command?: string[];
  /** `stream-open`: the negotiated stream protocol, e.g. `spdy v4.channel.k8s.io`. */
  protocol?: string;
  reason?: string;
  /** `request`, `response`: the body, base64 where `bodyEncoding` says so. */
  body?: string;
  bodyEncoding?: string;
}

/**
 * Every event line the gateway recorded so far, spool and store, in no particular order across files.
 * The spool is listed before the store (a segment leaves the spool only once uploaded), and a spool
 * segment (or session folder) removed while it is listed or read makes it read everything again.
 */
export function recordedLines(gateway: Pick<RunningGateway, 'recordings' | 'spoolDir'>): string[] {
  return recordedFiles(gateway, (name) => segmentFile.test(name));
}

/** A segment's file name (the object index's files, v4, end in .jsonl too: their lines are no events). */
const segmentFile = /^segment-\d{6}\.jsonl$/;

/** The lines of every file the gateway recorded so far (spool, then store) whose name `wanted` takes. */
function recordedFiles(gateway: Pick<RunningGateway, 'recordings' | 'spoolDir'>, wanted: (name: string) => boolean): string[] {
  for (;;) {
    try {
      const files = [gateway.spoolDir, gateway.recordings].flatMap((dir) => readdirSync(dir, { recursive: true, withFileTypes: true })).filter((entry) => entry.isFile() && wanted(entry.name));
      return files.flatMap((entry) => readFileSync(join(entry.parentPath, entry.name), 'utf8').split('\n').filter(Boolean));
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
    }
  }
}
