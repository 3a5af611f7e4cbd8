/**
 * Dependencies run one way (README, "Layout"): cli → parts → recording, policy → shared layers.
 * Reads every import of src/ and fails on an edge against that direction, naming the rule it breaks.
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { test } from 'node:test';
import { packageRoot } from '../../src/util/package-root.js';

/** Each folder of src/ and its layer: a folder imports only folders of a lower layer (or shared ones, acyclically). */
const layers: Record<string, number> = {
  cli: 3,
  gateway: 2,
  operator: 2,
  audit: 2,
  sandbox: 2,
  console: 2,
  identity: 2,
  recording: 1,
  policy: 1,
  api: 0,
  kube: 0,
  runtime: 0,
  pki: 0,
  token: 0,
  util: 0,
};
/** The one edge between parts: the console serves the audit part's reading of recordings (README, "Layout"). */
const partsAllowed: Record<string, string[]> = { console: ['audit'] };
const layerNames = ['shared layers (api, kube, runtime, pki, token, util)', 'recording and policy', 'parts (gateway, operator, audit, sandbox, console, identity)', 'cli'];

export interface ImportEdge {
  from: string;
  to: string;
  /** file → imported file, relative to src/ */
  file: string;
  target: string;
}

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) =>
    entry.isDirectory() ? sourceFiles(join(dir, entry.name)) : entry.name.endsWith('.ts') ? [join(dir, entry.name)] : [],
  );
}

/** Every relative import (static, `import type`, re-export, dynamic) between two folders of src/. */
export function importEdges(src: string): ImportEdge[] {
  const edges: ImportEdge[] = [];
  for (const path of sourceFiles(src)) {
    const text = readFileSync(path, 'utf8');
    for (const match of text.matchAll(/(?:from|import)\s*\(?\s*'(\.{1,2}\/[^']+)'/g)) {
      const file = relative(src, path);
      const target = relative(src, resolve(dirname(path), match[1]!));
      const [from, to] = [file.split('/')[0]!, target.split('/')[0]!];
      if (from !== to) edges.push({ from, to, file, target });
    }
  }
  return edges;
}

/** Why an edge breaks the direction; undefined when it keeps it. */
export function brokenRule(edge: ImportEdge): string | undefined {
  const [from, to] = [layers[edge.from], layers[edge.to]];
  if (from === undefined) return `src/${edge.from}/ is in no layer: add it to the table in this test and to the README's layout`;
  if (to === undefined) return `src/${edge.to}/ is in no layer: add it to the table in this test and to the README's layout`;
  if (from === 0 && to === 0) return undefined; // shared layers: checked for cycles below
  if (partsAllowed[edge.from]?.includes(edge.to)) return undefined;
  if (from === to) return `${layerNames[from]} do not import one another: ${edge.from} → ${edge.to}; move what both need to a lower layer`;
  if (from < to) return `${layerNames[from]} do not import ${layerNames[to]}: ${edge.from} → ${edge.to}; dependencies run cli → parts → recording, policy → shared layers`;
  return undefined;
}

/** A cycle among the shared layers, as a path of folder names; undefined when there is none. */
export function sharedCycle(edges: ImportEdge[]): string[] | undefined {
  const next = new Map<string, Set<string>>();
  for (const edge of edges) if (layers[edge.from] === 0 && layers[edge.to] === 0) next.set(edge.from, (next.get(edge.from) ?? new Set()).add(edge.to));
  const visit = (node: string, path: string[]): string[] | undefined => {
    if (path.includes(node)) return [...path.slice(path.indexOf(node)), node];
    for (const to of next.get(node) ?? []) {
      const cycle = visit(to, [...path, node]);
      if (cycle) return cycle;
    }
    return undefined;
  };
  for (const node of next.keys()) {
    const cycle = visit(node, []);
    if (cycle) return cycle;
  }
  return undefined;
}

test('every import of src/ runs one way: cli → parts → recording, policy → shared layers', () => {
  const edges = importEdges(join(packageRoot(), 'src'));
  assert.ok(edges.length > 50, 'the import graph was read');
  const broken = edges.flatMap((edge) => {
    const rule = brokenRule(edge);
    return rule ? [`${edge.file} imports ${edge.target}: ${rule}`] : [];
  });
  assert.deepEqual(broken, []);
  assert.equal(sharedCycle(edges), undefined, 'the shared layers import one another without cycles');
});

test('each back-edge the layout forbids is caught, with the rule it breaks', () => {
  const edge = (file: string, target: string): ImportEdge => ({ from: file.split('/')[0]!, to: target.split('/')[0]!, file, target });
  // the back-edges this rule was written against
  assert.match(brokenRule(edge('gateway/server.ts', 'operator/runtime/informer.js'))!, /parts .* do not import one another: gateway → operator/);
  assert.match(brokenRule(edge('recording/format.ts', 'gateway/streams/frame.js'))!, /recording and policy do not import parts/);
  assert.match(brokenRule(edge('policy/compile.ts', 'gateway/masking.js'))!, /recording and policy do not import parts/);
  assert.match(brokenRule(edge('gateway/policy-source.ts', 'operator/gateway-children.js'))!, /gateway → operator/);
  assert.match(brokenRule(edge('recording/store-recorder.ts', 'policy/compile.js'))!, /recording and policy do not import one another/);
  assert.match(brokenRule(edge('api/index.ts', 'cli/output.js'))!, /shared layers .* do not import cli/);
  assert.match(brokenRule(edge('newpart/x.ts', 'api/index.js'))!, /src\/newpart\/ is in no layer/);
  assert.equal(brokenRule(edge('cli/kubeconfig.ts', 'operator/grant-kubeconfig.js')), undefined, 'cli may use any part');
  assert.equal(brokenRule(edge('console/sessions-api.ts', 'audit/verify.js')), undefined, 'the console serves audit');
  assert.match(brokenRule(edge('audit/verify.ts', 'console/server.js'))!, /audit → console/);
  assert.match(brokenRule(edge('console/live.ts', 'gateway/server.js'))!, /console → gateway/);
  assert.equal(brokenRule(edge('audit/verify.ts', 'recording/format.js')), undefined);
  assert.deepEqual(sharedCycle([edge('api/a.ts', 'util/b.js'), edge('util/b.ts', 'kube/c.js'), edge('kube/c.ts', 'api/a.js')]), ['api', 'util', 'kube', 'api']);
  assert.equal(sharedCycle([edge('api/a.ts', 'util/b.js'), edge('token/t.ts', 'pki/p.js')]), undefined);
});
