import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The kubegate checkout or install this module runs from (the folder holding its package.json). */
export function packageRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const manifest = join(dir, 'package.json');
    if (existsSync(manifest) && JSON.parse(readFileSync(manifest, 'utf8')).name === 'kubegate') return dir;
    const parent = dirname(dir);
    if (parent === dir) throw new Error('kubegate: cannot find the package root above ' + fileURLToPath(import.meta.url));
    dir = parent;
  }
}
