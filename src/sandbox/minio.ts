/** MinIO as the sandbox's S3 store, with one bucket created with object lock enabled. */
import { randomBytes } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { CreateBucketCommand, S3Client } from '@aws-sdk/client-s3';
import { ManagedProcess } from './process.js';
import { answers200, waitUntil } from './network.js';
import type { SandboxFiles } from './files.js';

export interface S3Settings {
  endpoint: string;
  region: string;
  accessKeyId: string;
  secretAccessKey: string;
  bucket: string;
}

const sandboxBucket = 'kubegate-sessions';

export function newS3Settings(port: number): S3Settings {
  return {
    endpoint: `http://127.0.0.1:${port}`,
    region: 'us-east-1',
    accessKeyId: 'kubegate',
    secretAccessKey: randomBytes(18).toString('hex'),
    bucket: sandboxBucket,
  };
}

/** An S3 client for MinIO (path-style; checksums only where S3 requires them, which MinIO expects). */
export function s3Client(settings: S3Settings): S3Client {
  return new S3Client({
    endpoint: settings.endpoint,
    region: settings.region,
    forcePathStyle: true,
    credentials: { accessKeyId: settings.accessKeyId, secretAccessKey: settings.secretAccessKey },
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
  });
}

/**
 * `identity`: MinIO's OpenID settings (see minio-iam.ts) and the CA of the issuer they name, which MinIO
 * trusts from its certs folder's `CAs/`.
 */
export async function startMinio(binary: string, files: SandboxFiles, settings: S3Settings, consolePort: number, identity: { env: Record<string, string>; caPem: string }): Promise<ManagedProcess> {
  mkdirSync(files.path('minio-certs/CAs'), { recursive: true });
  writeFileSync(files.path('minio-certs/CAs/sandbox-ca.crt'), identity.caPem);
  const minio = new ManagedProcess(
    {
      name: 'minio',
      command: binary,
      args: ['server', files.path('minio'), `--address=${new URL(settings.endpoint).host}`, `--console-address=127.0.0.1:${consolePort}`, `--certs-dir=${files.path('minio-certs')}`, '--quiet'],
      env: {
        MINIO_ROOT_USER: settings.accessKeyId,
        MINIO_ROOT_PASSWORD: settings.secretAccessKey,
        MINIO_BROWSER: 'off',
        MINIO_UPDATE: 'off',
        // the region is part of the role ARNs MinIO derives
        MINIO_SITE_REGION: settings.region,
        HOME: files.path('minio'),
        ...identity.env,
      },
    },
    files.logDir,
  );
  await waitUntil('MinIO /minio/health/ready', answers200({ url: `${settings.endpoint}/minio/health/ready` }), { process: minio });
  const client = s3Client(settings);
  try {
    await client.send(new CreateBucketCommand({ Bucket: settings.bucket, ObjectLockEnabledForBucket: true }));
  } finally {
    client.destroy();
  }
  return minio;
}
