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
import { openStore } from '../../src/recording/open-store.js';
import { testCluster } from '../harness/cluster.js';
import { sandboxS3Env } from '../harness/gateway.js';

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

test('the S3 store puts keys S3 reads literally (spaces, unicode, reserved characters), under retention, and names the store\'s refusal', async () => {
  const cluster = await testCluster();
  const bucket = cluster.state.s3.bucket;
  const store = openStore(`s3://${bucket}/tests/put-${randomBytes(4).toString('hex')}/`, { env: sandboxS3Env(cluster) });
  const s3 = cluster.s3();
  try {
    const retainUntil = new Date(Date.now() + 24 * 3600 * 1000);
    const keys = ['plain/segment-000001.jsonl', "odd/a b+c=d&e;f,g!h'i(j)k*l~m$n@o:p", 'unicode/grüße/日本.json'];
    for (const [i, key] of keys.entries()) {
      await store.put(key, Buffer.from(`{"n":${i}}\n`), { contentType: 'application/json', retention: { mode: 'GOVERNANCE', retainUntil } });
    }
    const listed = [];
    for await (const object of store.list('')) listed.push(object.key);
    assert.deepEqual(listed.sort(), [...keys].sort(), 'every key listed as written, none rewritten');
    for (const [i, key] of keys.entries()) {
      assert.equal(await streamText(await store.get(key)), `{"n":${i}}\n`);
      const info = await store.head(key);
      assert.equal(info?.retention?.mode, 'GOVERNANCE', `${key} is under retention`);
    }
    const object = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: `${(store.url.split('/').slice(3).join('/'))}/${keys[1]}` }));
    assert.equal(object.ContentType, 'application/json');

    const missing = openStore(`s3://no-such-bucket-${randomBytes(3).toString('hex')}/x/`, { env: sandboxS3Env(cluster) });
    await assert.rejects(missing.put('a', Buffer.from('x')), (error: Error) => error.name === 'NoSuchBucket' && /bucket/i.test(error.message));
    missing.close();
  } finally {
    store.close();
    s3.destroy();
  }
});

async function streamText(stream: AsyncIterable<Buffer | string>): Promise<string> {
  let text = '';
  for await (const chunk of stream) text += String(chunk);
  return text;
}
