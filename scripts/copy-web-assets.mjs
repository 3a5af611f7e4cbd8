// Copies the console's static files (web/index.html, web/*.css) next to its compiled scripts in
// dist/web, which `kubegate console` serves under /assets/ (tsc copies only what it compiles).
import { copyFileSync, mkdirSync, readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const from = join(root, 'web');
const to = join(root, 'dist', 'web');
mkdirSync(to, { recursive: true });
for (const name of readdirSync(from)) {
  if (name === 'index.html' || name.endsWith('.css')) copyFileSync(join(from, name), join(to, name));
}
