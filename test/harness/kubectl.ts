/** The real kubectl with a fixed kubeconfig (the sandbox's runner, which `kubegate dev` uses too). */
import { kubectlBinary } from '../../src/sandbox/binaries.js';
import { Kubectl as SandboxKubectl } from '../../src/sandbox/kubectl.js';

export { forwardedLocalPort, type KubectlOptions, type KubectlResult } from '../../src/sandbox/kubectl.js';

export class Kubectl extends SandboxKubectl {
  /** The pinned kubectl of `version` (one of testedKubectlVersions()) with `kubeconfig`. */
  static atVersion(version: string, kubeconfig: string): Kubectl {
    return new Kubectl(kubectlBinary(version), kubeconfig);
  }
}
