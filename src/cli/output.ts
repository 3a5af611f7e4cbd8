import { Option } from 'commander';

export type OutputFormat = 'text' | 'json';

export function outputOption(): Option {
  return new Option('-o, --output <format>', 'output format').choices(['text', 'json']).default('text');
}

/** An error whose message is the one line a user sees; the CLI exits non-zero without a stack. */
export class CliError extends Error {}

/**
 * A kubeconfig read by `load`, its error (kube/connection.ts's KubeconfigError, told by name: every command
 * imports this file, and not all of them read a kubeconfig) told as the flag's, or as it is when no flag named the file.
 */
export function fromKubeconfig<T>(flag: string | undefined, load: () => T): T {
  try {
    return load();
  } catch (error) {
    if (error instanceof Error && error.name === 'KubeconfigError') throw new CliError(flag ? `--kubeconfig ${flag}: ${error.message}` : error.message);
    throw error;
  }
}
