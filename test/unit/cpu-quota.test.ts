/**
 * `kubegate gateway --workers` by default: the CPU quota of the process's cgroup (v1 and v2, the
 * tightest of its ancestors), rounded up, within the CPUs Node may use, at least 1; no quota: those CPUs.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { cpuQuota, defaultWorkers, readCgroupCpuFiles } from '../../src/runtime/cpu-quota.js';

test('a cgroup quota is quota/period CPUs; "max", -1, missing or malformed files are no quota', () => {
  assert.equal(cpuQuota({ cpuMax: '250000 100000\n' }), 2.5);
  assert.equal(cpuQuota({ cpuMax: 'max 100000\n' }), undefined);
  assert.equal(cpuQuota({ cfsQuotaUs: '50000\n', cfsPeriodUs: '100000\n' }), 0.5);
  assert.equal(cpuQuota({ cfsQuotaUs: '-1\n', cfsPeriodUs: '100000\n' }), undefined);
  assert.equal(cpuQuota({ cfsQuotaUs: '50000\n' }), undefined);
  assert.equal(cpuQuota({}), undefined);
  assert.equal(cpuQuota({ cpuMax: 'garbage' }), undefined);
});

test('workers: the tightest quota rounded up, within the CPUs available, at least 1; no quota: the CPUs available', () => {
  assert.equal(defaultWorkers([{ cpuMax: '250000 100000' }], 16), 3);
  assert.equal(defaultWorkers([{ cpuMax: '200000 100000' }], 16), 2);
  assert.equal(defaultWorkers([{ cpuMax: '10000 100000' }], 16), 1, 'a tenth of a CPU still needs one worker');
  assert.equal(defaultWorkers([{ cpuMax: 'max 100000' }, { cpuMax: '400000 100000' }, { cpuMax: '150000 100000' }], 16), 2, 'an ancestor may be tighter');
  assert.equal(defaultWorkers([{ cpuMax: '800000 100000' }], 4), 4, 'a quota above the CPUs available cannot be used');
  assert.equal(defaultWorkers([{ cpuMax: 'max 100000' }], 6), 6);
  assert.equal(defaultWorkers([], 6), 6);
});

function cgroupTree(files: Record<string, string>): string {
  const root = mkdtempSync(join(tmpdir(), 'kubegate-cgroup-'));
  for (const [path, content] of Object.entries(files)) {
    mkdirSync(join(root, path, '..'), { recursive: true });
    writeFileSync(join(root, path), content);
  }
  return root;
}

test("cgroup v2: the process's cgroup and its ancestors' cpu.max", () => {
  const root = cgroupTree({ 'proc-self-cgroup': '0::/kubepods/pod1/c1\n', 'fs/kubepods/pod1/c1/cpu.max': 'max 100000\n', 'fs/kubepods/pod1/cpu.max': '150000 100000\n', 'fs/cpu.max': 'max 100000\n' });
  const files = readCgroupCpuFiles(join(root, 'fs'), join(root, 'proc-self-cgroup'));
  assert.equal(defaultWorkers(files, 8), 2);
});

test('cgroup v1: the cpu hierarchy of the process (cpu,cpuacct mounts included)', () => {
  const root = cgroupTree({
    'proc-self-cgroup': '12:memory:/docker/abc\n4:cpu,cpuacct:/docker/abc\n0::/\n',
    'fs/cpu,cpuacct/docker/abc/cpu.cfs_quota_us': '300000\n',
    'fs/cpu,cpuacct/docker/abc/cpu.cfs_period_us': '100000\n',
    'fs/cpu,cpuacct/cpu.cfs_quota_us': '-1\n',
    'fs/cpu,cpuacct/cpu.cfs_period_us': '100000\n',
  });
  assert.equal(defaultWorkers(readCgroupCpuFiles(join(root, 'fs'), join(root, 'proc-self-cgroup')), 8), 3);
});

test('no cgroup files at all (not Linux, or nothing mounted): the CPUs available', () => {
  const root = cgroupTree({});
  assert.equal(defaultWorkers(readCgroupCpuFiles(join(root, 'fs'), join(root, 'missing')), 5), 5);
});
