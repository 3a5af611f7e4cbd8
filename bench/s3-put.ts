/**
 * What one small PUT to the store costs this process in CPU: the S3 store's own signed PUT (s3-put.ts,
 * what the recorder sends for an index, a manifest, a checkpoint, a calls file) against the SDK's
 * `PutObjectCommand` carrying the same body and retention, side by side against the sandbox's MinIO.
 * Bodies of 1.5 KB (a manifest's size), 8 in flight, rounds interleaved so both share the machine's
 * noise; CPU from `process.cpuUsage()` (this process alone: MinIO's is not counted).
 * Run: npx tsc -p . && node_modules/.bin/node dist/bench/s3-put.js [puts-per-round=2000] [rounds=3]
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PutObjectCommand } from '@aws-sdk/client-s3';
import { S3Store } from '../src/recording/s3-store.js';
import { startSandboxProcess, stopSandbox } from '../src/sandbox/control.js';
import { TestCluster } from '../test/harness/cluster.js';
import { sandboxS3Env } from '../test/harness/gateway.js';

const putsPerRound = Number(process.argv[2] ?? 2000);
const rounds = Number(process.argv[3] ?? 3);
const inFlight = 8;
const body = Buffer.alloc(1500, '{"k":"v"}');

type Put = (key: string) => Promise<void>;

async function cpuPerPut(put: Put, prefix: string): Promise<number> {
  for (let i = 0; i < 100; i++) await put(`${prefix}/warm-${i}`); // connections open, code compiled
  const before = process.cpuUsage();
  let next = 0;
  await Promise.all(Array.from({ length: inFlight }, async () => {
    while (next < putsPerRound) await put(`${prefix}/${next++}`);
  }));
  const used = process.cpuUsage(before);
  return (used.user + used.system) / 1000 / putsPerRound;
}

const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'kubegate-bench-'));
  try {
    const cluster = new TestCluster(await startSandboxProcess(dir, { ownerPid: process.pid }).ready);
    const bucket = cluster.state.s3.bucket;
    const store = new S3Store({ bucket, prefix: 'bench-s3-put/', env: sandboxS3Env(cluster) });
    const retention = { mode: 'GOVERNANCE' as const, retainUntil: new Date(Date.now() + 3600_000) };
    const ours: Put = (key) => store.put(`ours/${key}`, body, { contentType: 'application/json', retention });
    const sdk: Put = (key) =>
      store.client.send(new PutObjectCommand({ Bucket: bucket, Key: `bench-s3-put/sdk/${key}`, Body: body, ContentLength: body.length, ContentType: 'application/json', ObjectLockMode: retention.mode, ObjectLockRetainUntilDate: retention.retainUntil })).then(() => undefined);
    const results = { ours: [] as number[], sdk: [] as number[] };
    for (let round = 0; round < rounds; round++) {
      results.sdk.push(await cpuPerPut(sdk, `r${round}`));
      results.ours.push(await cpuPerPut(ours, `r${round}`));
      console.error(`round ${round + 1}: SDK ${results.sdk.at(-1)!.toFixed(3)} ms, the store's PUT ${results.ours.at(-1)!.toFixed(3)} ms of CPU per PUT`);
    }
    store.close();
    const summary = { putsPerRound, rounds, bodyBytes: body.length, inFlight, cpuMsPerPut: { sdk: median(results.sdk), store: median(results.ours) } };
    console.log(`CPU per PUT (median of ${rounds}): SDK PutObjectCommand ${summary.cpuMsPerPut.sdk.toFixed(3)} ms, the store's own ${summary.cpuMsPerPut.store.toFixed(3)} ms (${(summary.cpuMsPerPut.sdk / summary.cpuMsPerPut.store).toFixed(1)}x less)`);
    console.log(JSON.stringify(summary));
  } finally {
    await stopSandbox(dir).catch(() => undefined);
    rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((error) => {
  console.error(error);
  process.exitCode = 1;
});
