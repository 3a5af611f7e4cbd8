/**
 * The test harness: a running sandbox (the one the test run started, or one of this file's own), with an
 * admin client, clients and kubectl acting as any user and groups through real bearer tokens, and an S3
 * client for the sandbox's MinIO.
 */
import { after } from 'node:test';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import * as k8s from '@kubernetes/client-node';
import type { S3Client } from '@aws-sdk/client-s3';
import { readLiveState, startSandboxProcess } from '../../src/sandbox/control.js';
import { kubeconfigYaml } from '../../src/kube/kubeconfig-yaml.js';
import { mintUserToken } from '../../src/sandbox/oidc-issuer.js';
import { s3Client } from '../../src/sandbox/minio.js';
import { withConnectionPool } from '../../src/kube/load-kubeconfig.js';
import type { SandboxState } from '../../src/sandbox/sandbox.js';
import { Kubectl } from './kubectl.js';
import { scratchDir } from './scratch.js';

/** Set by test/run.ts: the folder of the sandbox shared by the whole run. */
export const sharedSandboxVariable = 'KUBEGATE_TEST_SANDBOX';

export interface Identity {
  user: string;
  groups?: string[];
}

export class TestCluster {
  readonly admin: k8s.KubeConfig;
  private readonly scratch = scratchDir('kubegate-test-');
  private readonly caPem: string;

  constructor(readonly state: SandboxState) {
    this.admin = new k8s.KubeConfig();
    this.admin.loadFromFile(state.kubeconfig);
    withConnectionPool(this.admin);
    this.caPem = readFileSync(state.apiserver.caFile, 'utf8');
  }

  /** A bearer token the API server authenticates as this identity (issued by the sandbox's OIDC issuer). */
  tokenFor(identity: Identity): Promise<string> {
    return mintUserToken({
      issuer: this.state.oidc.issuer,
      signingKeyPem: readFileSync(this.state.oidc.signingKeyFile, 'utf8'),
      user: identity.user,
      groups: identity.groups,
    });
  }

  /** A kubeconfig file for `token`, or for the admin when no token is given. */
  kubeconfigFile(token: string = this.state.apiserver.adminToken, server = this.state.apiserver.url): string {
    const file = join(this.scratch, `kubeconfig-${randomBytes(6).toString('hex')}`);
    writeFileSync(file, kubeconfigYaml({ server, caPem: this.caPem, user: { token } }), { mode: 0o600 });
    return file;
  }

  async clientFor(identity: Identity): Promise<k8s.KubeConfig> {
    const config = new k8s.KubeConfig();
    config.loadFromFile(this.kubeconfigFile(await this.tokenFor(identity)));
    return withConnectionPool(config);
  }

  /** The real kubectl, as the admin or as `identity`. */
  async kubectl(identity?: Identity): Promise<Kubectl> {
    const file = this.kubeconfigFile(identity ? await this.tokenFor(identity) : undefined);
    return new Kubectl(this.state.binaries.kubectl, file);
  }

  s3(): S3Client {
    return s3Client(this.state.s3);
  }

  /**
   * A fresh namespace, deleted after the calling test — or, for a fixture several tests share, kept
   * (`keep: true`) until the sandbox goes.
   */
  async namespace(prefix = 'test', options: { keep?: boolean } = {}): Promise<string> {
    const name = `${prefix}-${randomBytes(4).toString('hex')}`;
    const core = this.admin.makeApiClient(k8s.CoreV1Api);
    await core.createNamespace({ body: { metadata: { name } } });
    if (!options.keep) after(() => core.deleteNamespace({ name }).then(() => undefined, () => undefined));
    return name;
  }
}

let cluster: Promise<TestCluster> | undefined;

/** The sandbox for this test file: the run's shared one, or a new one stopped when the file ends. */
export function testCluster(): Promise<TestCluster> {
  cluster ??= (async () => {
    const shared = process.env[sharedSandboxVariable];
    if (shared) {
      const state = readLiveState(shared);
      if (!state) throw new Error(`${sharedSandboxVariable}=${shared} names no running sandbox`);
      return new TestCluster(state);
    }
    // The supervisor watches this process (ownerPid) and stops the sandbox when it exits, however it exits.
    const dir = scratchDir('kubegate-sandbox-');
    const state = await startSandboxProcess(dir, { ownerPid: process.pid }).ready;
    return new TestCluster(state);
  })();
  return cluster;
}
