/** Folders the harness makes under the system's temporary one, removed when this process (a test file's, a bench's) exits. */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const scratchDirs = new Set<string>();
process.once('exit', () => scratchDirs.forEach((dir) => rmSync(dir, { recursive: true, force: true })));

export function scratchDir(prefix: string): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  scratchDirs.add(dir);
  return dir;
}
