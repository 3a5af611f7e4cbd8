/**
 * `kubegate history` at scale: 10,000 sessions written by the real StoreRecorder into a `file://` store
 * (spread over 30 days, 20 namespaces, 500 pods, each session a handful of calls — gets, a create, a
 * patch, a delete), then the history of one object, which 1 session in 100 touched:
 *  - in process (`objectHistory`, what the CLI runs): p50 and p99 over 100 queries;
 *  - the CLI (`bin/kubegate history pods/api-7 -n ns-7`, node's start included) over 5 runs, beside
 *    `bin/kubegate --help` (the CLI's start alone) over 5: the difference is what history costs.
 * Run: npx tsc -p . && node_modules/.bin/node dist/bench/history.js [sessions=10000]
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomUUID } from 'node:crypto';
import { objectHistory, objectRef } from '../src/audit/history.js';
import type { RecordEvent, SessionMetadata } from '../src/recording/format.js';
import { FileStore } from '../src/recording/file-store.js';
import { StoreRecorder } from '../src/recording/store-recorder.js';
import { packageRoot } from '../src/util/package-root.js';

const sessions = Number(process.argv[2] ?? 10_000);
const days = 30;
const start = Date.parse('2026-01-01T00:00:00Z');

function call(requestId: string, verb: string, namespace: string, resource: string, name: string): RecordEvent[] {
  const attributes = { isResourceRequest: true, verb, apiGroup: resource === 'deployments' ? 'apps' : '', apiVersion: 'v1', namespace, resource, subresource: '', name: verb === 'create' ? '' : name };
  const body = verb === 'create' || verb === 'patch' ? JSON.stringify({ metadata: { name }, data: { key: 'x'.repeat(200) } }) : undefined;
  return [
    { type: 'request', requestId, method: verb.toUpperCase(), path: `/api/v1/namespaces/${namespace}/${resource}/${name}`, attributes, ...(body ? { body, bodyBytes: body.length, contentType: 'application/json' } : {}) },
    { type: 'decision', requestId, action: 'Allow', message: 'default action' },
    { type: 'response', requestId, status: verb === 'create' ? 201 : 200, body: JSON.stringify({ metadata: { name } }), bodyBytes: 30, durationMs: 4 },
  ];
}

/** Session i: gets of three pods, a ConfigMap created and patched, a pod deleted; every 100th touches pods/api-7 in ns-7. */
function sessionCalls(i: number): RecordEvent[] {
  const ns = `ns-${i % 20}`;
  const pod = (k: number) => (i % 100 === 0 ? 'api-7' : `api-${(i * 7 + k) % 500}`);
  const namespace = i % 100 === 0 ? 'ns-7' : ns;
  return [
    ...call('g1', 'get', namespace, 'pods', pod(1)),
    ...call('g2', 'get', ns, 'pods', `api-${(i + 2) % 500}`),
    ...call('g3', 'get', ns, 'deployments', `web-${i % 50}`),
    ...call('c', 'create', ns, 'configmaps', `cm-${i}`),
    ...call('p', 'patch', ns, 'configmaps', `cm-${i}`),
    ...call('d', 'delete', namespace, 'pods', pod(3)),
  ];
}

function metadata(i: number, at: number): SessionMetadata {
  return {
    sessionId: randomUUID(), tokenId: 't', subject: { kind: 'User', name: `user-${i % 37}` },
    grant: { namespace: 'kubegate-system', name: `grant-${i % 37}`, uid: 'u' }, policy: { namespace: 'kubegate-system', name: 'prod', version: '1' },
    client: { userAgent: 'kubectl/v1.35.0', command: 'kubectl get' }, startedAt: new Date(at).toISOString(),
  };
}

async function record(store: FileStore): Promise<number> {
  let now = start;
  const clock = { now: () => now, setTimeout: () => 0, clearTimeout: () => undefined };
  const recorder = new StoreRecorder({ store, spoolDir: mkdtempSync(join(tmpdir(), 'kubegate-bench-spool-')), clock, upload: { maxConcurrent: 16 } });
  await recorder.start();
  const began = performance.now();
  const step = (days * 86_400_000) / sessions;
  for (let i = 0; i < sessions; i += 50) {
    const batch: Array<Promise<void>> = [];
    for (let j = i; j < Math.min(i + 50, sessions); j++) {
      now = start + j * step;
      const session = recorder.open(metadata(j, now));
      batch.push((async () => {
        for (const event of sessionCalls(j)) await session.record(event);
        await session.close('idle');
      })());
    }
    await Promise.all(batch);
    if (i % 1000 === 0) await recorder.flush();
  }
  await recorder.flush();
  await recorder.stop();
  return (performance.now() - began) / 1000;
}

/** Wall times of 5 runs of the CLI, sorted. */
function timeCli(args: string[]): number[] {
  const times: number[] = [];
  for (let i = 0; i < 5; i++) {
    const began = performance.now();
    execFileSync(join(packageRoot(), 'bin', 'kubegate'), args, { maxBuffer: 64 * 1024 * 1024 });
    times.push(performance.now() - began);
  }
  return times.sort((a, b) => a - b);
}

const percentile = (sorted: number[], p: number) => sorted[Math.min(sorted.length - 1, Math.floor((sorted.length * p) / 100))]!;

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'kubegate-bench-history-'));
  const store = new FileStore(dir);
  const seconds = await record(store);
  const query = { ref: objectRef('pods/api-7', 'ns-7'), allNamespaces: false, range: { from: new Date(0), to: new Date(start + (days + 1) * 86_400_000) }, selection: {} };
  const found = (await objectHistory(store, query)).length;
  const inProcess: number[] = [];
  for (let i = 0; i < 100; i++) {
    const began = performance.now();
    await objectHistory(store, query);
    inProcess.push(performance.now() - began);
  }
  inProcess.sort((a, b) => a - b);
  const cli = timeCli(['history', 'pods/api-7', '-n', 'ns-7', '--store', `file://${dir}`, '-o', 'json']);
  const startOnly = timeCli(['--help']);
  const summary = {
    sessions, recordSeconds: Number(seconds.toFixed(1)), entriesFound: found,
    historyInProcessMs: { p50: Number(percentile(inProcess, 50).toFixed(1)), p99: Number(percentile(inProcess, 99).toFixed(1)) },
    historyCliMs: { p50: Number(percentile(cli, 50).toFixed(0)), max: Number(cli.at(-1)!.toFixed(0)) },
    cliStartOnlyMs: { p50: Number(percentile(startOnly, 50).toFixed(0)), max: Number(startOnly.at(-1)!.toFixed(0)) },
  };
  process.stdout.write(`${JSON.stringify(summary, null, 2)}\n`);
  rmSync(dir, { recursive: true, force: true });
}

await main();
