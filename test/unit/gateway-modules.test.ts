/**
 * The gateway's processes and the operator do not load @kubernetes/client-node: its ~870 generated modules
 * cost each process ~40-90 MiB (issue 14's memory targets), and both reach the API server through
 * kube/raw-client.ts and kube/connection.ts instead. Only what the modules import is checked here; the
 * integration tests run `kubegate gateway` and `kubegate operator` under the same refusal
 * (gateway-fixture.ts, operator.ts).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { fileURLToPath } from 'node:url';
import { refuseClientNode } from '../harness/refuse-client-node-hooks.js';

const dist = (path: string) => new URL(`../../src/${path}`, import.meta.url).href;

/** Imports `modules` in a Node process that refuses client-node; its exit code and stderr. */
async function importRefusingClientNode(modules: string[]): Promise<{ code: number; stderr: string }> {
  const script = modules.map((module) => `await import(${JSON.stringify(dist(module))});`).join('\n');
  try {
    const { stderr } = await promisify(execFile)(process.execPath, ['--input-type=module', '-e', script], { env: { ...process.env, ...refuseClientNode() } });
    return { code: 0, stderr };
  } catch (error) {
    const failed = error as { code?: number; stderr?: string };
    return { code: failed.code ?? 1, stderr: failed.stderr ?? '' };
  }
}

test('the gateway command, its workers and the gateway it builds load no @kubernetes/client-node', { timeout: 30_000 }, async () => {
  // with what they import on demand (gateway-build, and the certificates of serving-tls)
  const run = await importRefusingClientNode(['cli/gateway.js', 'cli/gateway-workers.js', 'cli/gateway-build.js', 'pki/certificates.js']);
  assert.equal(run.code, 0, run.stderr);
});

test('the operator command and the operator load no @kubernetes/client-node', { timeout: 30_000 }, async () => {
  const run = await importRefusingClientNode(['cli/operator.js', 'operator/operator.js']);
  assert.equal(run.code, 0, run.stderr);
});

test('the check refuses a module that loads client-node, and names it', { timeout: 30_000 }, async () => {
  const run = await importRefusingClientNode(['kube/load-kubeconfig.js']);
  assert.notEqual(run.code, 0);
  assert.match(run.stderr, /kube\/load-kubeconfig\.js loads @kubernetes\/client-node/);
});
