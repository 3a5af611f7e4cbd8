/** The real kubectl with a fixed kubeconfig (the sandbox's runner, which `kubegate dev` uses too). */
export { Kubectl, forwardedLocalPort, type KubectlOptions, type KubectlResult } from '../../src/sandbox/kubectl.js';
