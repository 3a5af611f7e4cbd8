/**
 * New kubectl sessions through a gateway: GETs each with a `Kubectl-Session` of its own (a session and its
 * recording opened per request), per second and per CPU-second of the gateway (every process of it), the
 * CPU counted until every session the load opened has closed (the gateway runs with a short
 * `--session-idle-ms`), been sealed and uploaded: a session's whole cost, not its first request's.
 */
import { randomBytes } from 'node:crypto';
import { readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { RunningGateway } from '../../test/harness/gateway.js';
import { cpuDuring } from './cpu.js';
import { runWrk } from './wrk.js';

export interface Throughput {
  requestsPerSecond: number;
  cpuMsPerRequest: number;
  coresUsed: number;
}

/**
 * wrk against the gateway, with the CPU every process of it spent meanwhile and, with `untilDrained`,
 * afterwards until the spool is empty: every session the load opened closed, sealed and uploaded.
 */
export async function gatewayLoad(gateway: RunningGateway, path: string, token: string, load: { connections: number; seconds: number; untilDrained?: boolean }, more: Parameters<typeof runWrk>[5] = {}): Promise<Throughput> {
  const started = performance.now();
  const { result, cpu } = await cpuDuring({ gateway: gateway.process.pid! }, async () => {
    const result = await runWrk(`${gateway.url}${path}`, token, load.connections, load.seconds, [], more);
    if (load.untilDrained) await spoolDrained(gateway.spoolDir);
    return result;
  });
  const seconds = (performance.now() - started) / 1000;
  return { requestsPerSecond: result.requestsPerSecond, cpuMsPerRequest: (cpu.gateway * 1000) / result.requests, coresUsed: cpu.gateway / seconds };
}

/** New sessions at 16 connections for `seconds`, the wrk script written into `dir`; per core-second of the gateway too. */
export async function newSessions(gateway: RunningGateway, path: string, token: string, seconds: number, dir: string): Promise<Throughput & { perCoreSecond: number }> {
  const sessions = await gatewayLoad(gateway, path, token, { connections: 16, seconds, untilDrained: true }, { script: newSessionScript(dir) });
  return { ...sessions, perCoreSecond: 1000 / sessions.cpuMsPerRequest };
}

/** Until no worker's spool holds a session folder (a session's folder goes once its last upload is stored). */
async function spoolDrained(spoolDir: string, timeoutMs = 120_000): Promise<void> {
  const sessionFolders = () =>
    readdirSync(spoolDir, { withFileTypes: true })
      .filter((entry) => entry.isDirectory() && entry.name.startsWith('worker-'))
      .reduce((count, worker) => count + readdirSync(join(spoolDir, worker.name), { withFileTypes: true }).filter((entry) => entry.isDirectory()).length, 0);
  const deadline = performance.now() + timeoutMs;
  while (sessionFolders() > 0) {
    if (performance.now() > deadline) throw new Error(`the spool still holds ${sessionFolders()} session folders after ${timeoutMs / 1000} s`);
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

/** A wrk script giving each request a `Kubectl-Session` of its own (each wrk thread counts on its own, under its own id). */
function newSessionScript(dir: string): string {
  const file = join(dir, 'new-sessions.lua');
  const run = randomBytes(6).toString('hex');
  writeFileSync(
    file,
    `local threads = 0
function setup(thread) threads = threads + 1; thread:set("id", threads) end
local count = 0
function request()
  count = count + 1
  wrk.headers["Kubectl-Session"] = "${run}-" .. id .. "-" .. count
  return wrk.format()
end
`,
  );
  return file;
}
