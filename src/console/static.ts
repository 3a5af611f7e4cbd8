/**
 * The console's pages: the built web app (`dist/web/`: its index.html for every page route, the client
 * routes it; its files under `/assets/`), and asciinema-player's browser bundle from node_modules — all
 * served by the console itself, so a page never reaches the network.
 */
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { extname, join, resolve, sep } from 'node:path';
import type { ServerResponse } from 'node:http';
import { packageRoot } from '../util/package-root.js';
import { badRequest, notFound } from './http.js';

const contentTypes: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.woff2': 'font/woff2',
  '.map': 'application/json; charset=utf-8',
  '.txt': 'text/plain; charset=utf-8',
};

/** The paths the web app routes on the client: each answered with its index.html. */
export function isPageRoute(path: string): boolean {
  return path === '/' || /^\/(sessions\/[^/]+|approvals(\/[^/]+\/[^/]+)?|grants(\/[^/]+\/[^/]+)?|live|history)\/?$/.test(path);
}

function decodedPath(path: string): string {
  try {
    return decodeURIComponent(path);
  } catch {
    throw badRequest('the path is not validly encoded');
  }
}

export class StaticFiles {
  readonly webDir: string;
  readonly playerDir: string;

  constructor(webDir?: string) {
    const root = packageRoot();
    this.webDir = resolve(webDir ?? join(root, 'dist', 'web'));
    this.playerDir = join(root, 'node_modules', 'asciinema-player', 'dist', 'bundle');
  }

  /** Answers a page route or an asset; 404 (thrown) for anything else or a file that is not there. */
  async serve(path: string, response: ServerResponse, head: boolean): Promise<void> {
    if (isPageRoute(path)) return this.sendFile(join(this.webDir, 'index.html'), response, head, 'no-cache');
    const player = /^\/assets\/asciinema-player\/([A-Za-z0-9._-]+\.(?:js|css))$/.exec(path);
    if (player) return this.sendFile(join(this.playerDir, player[1]!), response, head, 'public, max-age=3600');
    if (path.startsWith('/assets/')) {
      // the built app's files sit at the top of dist/web/ (index.html beside them)
      const file = resolve(this.webDir, `.${decodedPath(path.slice('/assets'.length))}`);
      if (!file.startsWith(this.webDir + sep) || file.includes('\0')) throw notFound(`no file ${path}`);
      return this.sendFile(file, response, head, 'no-cache');
    }
    throw notFound(`no page ${path}`);
  }

  private async sendFile(file: string, response: ServerResponse, head: boolean, cache: string): Promise<void> {
    const info = await stat(file).catch(() => undefined);
    if (!info?.isFile()) throw notFound(`no file ${file.startsWith(this.webDir) ? file.slice(this.webDir.length) : file.split(sep).pop()}`);
    response.writeHead(200, { 'Content-Type': contentTypes[extname(file)] ?? 'application/octet-stream', 'Content-Length': info.size, 'Cache-Control': cache });
    if (head) return void response.end();
    await new Promise<void>((resolvePromise, reject) => {
      const stream = createReadStream(file);
      stream.once('error', reject);
      response.once('close', () => {
        stream.destroy();
        resolvePromise();
      });
      stream.pipe(response);
    });
  }
}
