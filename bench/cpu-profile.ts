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

/** Self time in microseconds per function and per file, over every profile given. */
export function selfTimes(profiles: CpuProfile[]): { total: number; byFunction: Map<string, number>; byFile: Map<string, number> } {
  const byFunction = new Map<string, number>();
  const byFile = new Map<string, number>();
  let total = 0;
  for (const profile of profiles) {
    const nodes = new Map(profile.nodes.map((node) => [node.id, node]));
    profile.samples.forEach((id, i) => {
      const { functionName, url, lineNumber } = nodes.get(id)!.callFrame;
      const delta = profile.timeDeltas[i] ?? 0;
      const file = shortFile(url);
      const name = `${functionName || '(anonymous)'} ${file}${url ? `:${lineNumber + 1}` : ''}`;
      byFunction.set(name, (byFunction.get(name) ?? 0) + delta);
      byFile.set(file, (byFile.get(file) ?? 0) + delta);
      total += delta;
    });
  }
  return { total, byFunction, byFile };
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
  const { total, byFunction, byFile } = selfTimes(profiles);
  return [
    `${files.length} profile(s), ${(total / 1e6).toFixed(1)} s sampled (idle included as "(idle)")`,
    '',
    'self time by function:',
    ...top(byFunction, total, count),
    '',
    'self time by file:',
    ...top(byFile, total, count),
  ].join('\n');
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  console.log(summarizeProfiles(process.argv[2] ?? '.', Number(process.argv[3] ?? 30)));
}
