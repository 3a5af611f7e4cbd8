/**
 * A store of many small sessions for the benches that read one (history, the query engines' tables):
 * written by the real StoreRecorder into a `file://` store, spread over 30 days, 20 namespaces, 500 pods
 * and 37 subjects, each session a handful of calls — gets, a create, a patch, a delete — and one session
 * in 100 touching pods/api-7 in ns-7.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomUUID } from 'node:crypto';
import type { RecordEvent, SessionMetadata } from '../src/recording/format.js';
import type { FileStore } from '../src/recording/file-store.js';
import { StoreRecorder } from '../src/recording/store-recorder.js';

/** The sessions are spread over 30 days from 2026-01-01. */
export const days = 30;
export const start = Date.parse('2026-01-01T00:00:00Z');

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

/** Records `sessions` sessions into the store; the seconds it took. */
export async function recordSampleStore(store: FileStore, sessions: number): Promise<number> {
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
