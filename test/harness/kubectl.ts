/** The real kubectl with a fixed kubeconfig: the one `kubegate dev` drives. */
export { Kubectl, forwardedLocalPort, type KubectlOptions, type KubectlResult } from '../../src/cli/dev/kubectl.js';
