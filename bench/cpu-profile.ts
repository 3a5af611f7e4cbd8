/**
 * A summary of V8 CPU profiles (`--cpu-prof`): the functions with the most self time, and the same by
 * source file, as text to keep beside a bench.
 * Run: node_modules/.bin/node dist/bench/cpu-profile.js DIR [top=30]
 */
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}

interface CpuProfile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

/** Shortens a frame's file to what tells it apart: the part after node_modules/ or the project's dist/. */
function shortFile(url: string): string {
  if (!url) return '(native)';
  const path = url.replace(/^file:\/\//, '');
  const modules = path.lastIndexOf('node_modules/');
  if (modules >= 0) return path.slice(modules + 'node_modules/'.length);
  const dist = path.indexOf('/dist/');
  return dist >= 0 ? path.slice(dist + '/dist/'.length) : path;
}

function frameName({ functionName, url, lineNumber }: ProfileNode['callFrame']): string {
  return `${functionName || '(anonymous)'} ${shortFile(url)}${url ? `:${lineNumber + 1}` : ''}`;
}

const add = (map: Map<string, number>, key: string, delta: number) => map.set(key, (map.get(key) ?? 0) + delta);

/**
 * Microseconds per function (self time), per file (self time), and per project function with what it
 * calls (total time: where the gateway's own code sends the work), over every profile given.
 */
export function profileTimes(profiles: CpuProfile[]): { total: number; busy: number; byFunction: Map<string, number>; byFile: Map<string, number>; projectTotal: Map<string, number> } {
  const byFunction = new Map<string, number>();
  const byFile = new Map<string, number>();
  const projectTotal = new Map<string, number>();
  let [total, busy] = [0, 0];
  for (const profile of profiles) {
    const nodes = new Map(profile.nodes.map((node) => [node.id, node]));
    const parents = new Map(profile.nodes.flatMap((node) => (node.children ?? []).map((child): [number, number] => [child, node.id])));
    profile.samples.forEach((id, i) => {
      const { callFrame } = nodes.get(id)!;
      const delta = profile.timeDeltas[i] ?? 0;
      add(byFunction, frameName(callFrame), delta);
      add(byFile, shortFile(callFrame.url), delta);
      total += delta;
      if (callFrame.functionName === '(idle)') return;
      busy += delta;
      const seen = new Set<string>();
      for (let node: number | undefined = id; node !== undefined; node = parents.get(node)) {
        const frame = nodes.get(node)!.callFrame;
        const name = frameName(frame);
        if (shortFile(frame.url).startsWith('src/') && !seen.has(name)) add(projectTotal, name, delta), seen.add(name);
      }
    });
  }
  return { total, busy, byFunction, byFile, projectTotal };
}

function top(map: Map<string, number>, total: number, count: number): string[] {
  return [...map.entries()]
    .sort((a, b) => b[1] - a[1])
    .slice(0, count)
    .map(([name, us]) => `${((100 * us) / total).toFixed(1).padStart(5)}%  ${(us / 1000).toFixed(0).padStart(7)} ms  ${name}`);
}

export function summarizeProfiles(dir: string, count = 30): string {
  const files = readdirSync(dir).filter((name) => name.endsWith('.cpuprofile'));
  const profiles = files.map((name) => JSON.parse(readFileSync(join(dir, name), 'utf8')) as CpuProfile);
  const { total, busy, byFunction, byFile, projectTotal } = profileTimes(profiles);
  return [
    `${files.length} profile(s), ${(total / 1e6).toFixed(1)} s sampled (idle included as "(idle)"), ${(busy / 1e6).toFixed(1)} s busy`,
    '',
    'self time by function (share of all samples):',
    ...top(byFunction, total, count),
    '',
    'self time by file (share of all samples):',
    ...top(byFile, total, count),
    '',
    "the project's functions with what they call (share of busy samples):",
    ...top(projectTotal, busy, count),
  ].join('\n');
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  console.log(summarizeProfiles(process.argv[2] ?? '.', Number(process.argv[3] ?? 30)));
}
