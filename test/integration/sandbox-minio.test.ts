import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import {
  DeleteObjectCommand,
  GetBucketVersioningCommand,
  GetObjectCommand,
  GetObjectLockConfigurationCommand,
  GetObjectRetentionCommand,
  PutObjectCommand,
} from '@aws-sdk/client-s3';
import { testCluster } from '../harness/cluster.js';

test('MinIO stores an object under object-lock retention and refuses to delete that version', async () => {
  const cluster = await testCluster();
  const s3 = cluster.s3();
  const Bucket = cluster.state.s3.bucket;
  try {
    const lock = await s3.send(new GetObjectLockConfigurationCommand({ Bucket }));
    assert.equal(lock.ObjectLockConfiguration?.ObjectLockEnabled, 'Enabled');
    assert.equal((await s3.send(new GetBucketVersioningCommand({ Bucket }))).Status, 'Enabled');

    const Key = `tests/locked-${randomBytes(4).toString('hex')}.jsonl`;
    const Body = Buffer.from('{"event":"exec","stdin":"ls"}\n');
    const retainUntil = new Date(Date.now() + 24 * 3600 * 1000);
    const put = await s3.send(
      new PutObjectCommand({
        Bucket,
        Key,
        Body,
        ContentMD5: createHash('md5').update(Body).digest('base64'),
        ObjectLockMode: 'GOVERNANCE',
        ObjectLockRetainUntilDate: retainUntil,
      }),
    );
    assert.ok(put.VersionId, 'a locked bucket is versioned');

    const retention = await s3.send(new GetObjectRetentionCommand({ Bucket, Key, VersionId: put.VersionId }));
    assert.equal(retention.Retention?.Mode, 'GOVERNANCE');
    assert.ok(Math.abs(retention.Retention!.RetainUntilDate!.getTime() - retainUntil.getTime()) < 1000);

    await assert.rejects(
      s3.send(new DeleteObjectCommand({ Bucket, Key, VersionId: put.VersionId })),
      (error: Error) => error.name === 'AccessDenied' || /retention|WORM|locked/i.test(error.message),
    );
    const stored = await s3.send(new GetObjectCommand({ Bucket, Key, VersionId: put.VersionId }));
    assert.equal(await stored.Body!.transformToString(), Body.toString());
  } finally {
    s3.destroy();
  }
});
