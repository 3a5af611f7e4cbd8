/**
 * How many CPUs this process may use: the CPU quota of its cgroup (what a container's `limits.cpu`
 * becomes), not the node's core count, which in a container is the whole machine's. Read from the cgroup
 * files (v2 `cpu.max`, v1 `cpu.cfs_quota_us` / `cpu.cfs_period_us`) of the process's own cgroup and
 * every ancestor, as the kernel applies the tightest of them.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

/** The quota files of one cgroup, as read (absent where the file is). */
export interface CgroupCpuFiles {
  /** v2: `QUOTA PERIOD`, QUOTA `max` for none */
  cpuMax?: string;
  /** v1: microseconds per period, -1 for none */
  cfsQuotaUs?: string;
  cfsPeriodUs?: string;
}

/** The CPUs one cgroup's quota allows (2.5 for 250000/100000), undefined when it sets none. */
export function cpuQuota(files: CgroupCpuFiles): number | undefined {
  const [quota, period] = files.cpuMax !== undefined ? files.cpuMax.trim().split(/\s+/) : [files.cfsQuotaUs?.trim(), files.cfsPeriodUs?.trim()];
  const [q, p] = [Number(quota), Number(period)];
  return Number.isFinite(q) && Number.isFinite(p) && q > 0 && p > 0 ? q / p : undefined;
}

/**
 * `--workers` by default: the tightest quota of the cgroups given, rounded up (a 1.5-CPU quota can keep
 * two processes busy part of the time), within the CPUs Node may schedule on (a quota above them cannot be
 * used), at least 1; with no quota, those CPUs.
 */
export function defaultWorkers(cgroups: CgroupCpuFiles[], availableParallelism: number): number {
  const quotas = cgroups.map(cpuQuota).filter((quota): quota is number => quota !== undefined);
  const cpus = quotas.length > 0 ? Math.min(availableParallelism, ...quotas) : availableParallelism;
  return Math.max(1, Math.ceil(cpus));
}

function readIfPresent(file: string): string | undefined {
  try {
    return readFileSync(file, 'utf8');
  } catch {
    return undefined;
  }
}

/** `/a/b` and its ancestors `/a` and `/`. */
function withAncestors(path: string): string[] {
  const parts = path.split('/').filter(Boolean);
  return parts.map((_, i) => '/' + parts.slice(0, parts.length - i).join('/')).concat('/');
}

/**
 * The quota files of this process's cgroup and its ancestors, from `/proc/self/cgroup` (v2: the `0::`
 * line; v1: the hierarchy holding the `cpu` controller), under `root` (the cgroup filesystem's mount).
 * Inside a container the cgroup namespace makes its own cgroup `/`.
 */
export function readCgroupCpuFiles(root = '/sys/fs/cgroup', procSelfCgroup = '/proc/self/cgroup'): CgroupCpuFiles[] {
  const lines = (readIfPresent(procSelfCgroup) ?? '').split('\n').map((line) => line.split(':'));
  const v1 = lines.find(([, controllers]) => controllers?.split(',').includes('cpu'));
  if (v1) {
    const mount = [v1[1]!, 'cpu', 'cpu,cpuacct'].map((name) => join(root, name)).find((dir) => readIfPresent(join(dir, 'cpu.cfs_quota_us')) !== undefined);
    if (!mount) return [];
    return withAncestors(v1.slice(2).join(':')).map((dir) => ({ cfsQuotaUs: readIfPresent(join(mount, dir, 'cpu.cfs_quota_us')), cfsPeriodUs: readIfPresent(join(mount, dir, 'cpu.cfs_period_us')) }));
  }
  const v2 = lines.find(([hierarchy, controllers]) => hierarchy === '0' && controllers === '');
  return withAncestors(v2 ? v2.slice(2).join(':') : '/').map((dir) => ({ cpuMax: readIfPresent(join(root, dir, 'cpu.max')) }));
}
