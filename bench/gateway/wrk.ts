/**
 * Load from wrk, a generator outside Node (so the gateway's Node does not share an event loop, or a
 * garbage collector, with its load): latency percentiles and requests per second against one URL.
 */
import { execFile, execFileSync } from 'node:child_process';
import { promisify } from 'node:util';

const run = promisify(execFile);

export interface LoadResult {
  p50Ms: number;
  p99Ms: number;
  requestsPerSecond: number;
  /** every request answered in the run (for CPU per request) */
  requests: number;
}

export function requireWrk(): void {
  try {
    execFileSync('wrk', ['--version'], { stdio: 'ignore' });
  } catch (error) {
    // wrk --version exits 1 after printing its banner; only a missing binary is a problem
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') {
      throw new Error('this bench needs wrk on PATH to generate load outside Node (Debian/Ubuntu: apt-get install wrk)');
    }
  }
}

/** wrk prints durations with their own unit: 812.00us, 1.23ms, 2.01s, 1.00m. */
function milliseconds(text: string): number {
  const match = /^([\d.]+)(us|ms|s|m)$/.exec(text);
  if (!match) throw new Error(`not a wrk duration: ${text}`);
  return Number(match[1]) * { us: 0.001, ms: 1, s: 1000, m: 60_000 }[match[2] as 'us' | 'ms' | 's' | 'm'];
}

/** A value on a line of its own in wrk's report (anchored: "82.50%" in the Req/Sec line is not "50%"). */
function reported(out: string, label: RegExp): string {
  const match = new RegExp(`^\\s*${label.source}\\s+(\\S+)\\s*$`, 'm').exec(out);
  if (!match) throw new Error(`wrk printed no ${label.source} line:\n${out}`);
  return match[1]!;
}

/**
 * `connections` keep-alive connections for `seconds`, every request with the bearer token (none if empty)
 * and `headers` (`Name: value`); `script`: a wrk Lua script (e.g. a header of its own per request). Any
 * non-2xx answer (unless `refusals`: a bench of what a Deny rule answers) or socket error fails the run:
 * a benchmark of error pages measures nothing.
 */
export async function runWrk(url: string, token: string, connections: number, seconds: number, headers: string[] = [], more: { script?: string; refusals?: boolean } = {}): Promise<LoadResult> {
  const args = [`-t${Math.min(2, connections)}`, `-c${connections}`, `-d${seconds}s`, '--timeout', '10s', '--latency', ...(token ? ['-H', `Authorization: Bearer ${token}`] : []), ...headers.flatMap((header) => ['-H', header]), ...(more.script ? ['-s', more.script] : []), url];
  const { stdout: out } = await run('wrk', args, { encoding: 'utf8' });
  if (process.env.KUBEGATE_BENCH_DEBUG) console.error(out);
  if ((!more.refusals && /Non-2xx/.test(out)) || /Socket errors/.test(out)) throw new Error(`wrk got failed answers from ${url}:\n${out}`);
  return {
    p50Ms: milliseconds(reported(out, /50%/)),
    p99Ms: milliseconds(reported(out, /99%/)),
    requestsPerSecond: Number(reported(out, /Requests\/sec:/)),
    requests: Number(/^\s*(\d+) requests in /m.exec(out)?.[1] ?? NaN),
  };
}
