/** The console's own files: the app's index.html for every page route, its built files under /assets/, asciinema-player's bundle, nothing else. */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { createServer, request } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { HttpError } from '../../src/console/http.js';
import { StaticFiles } from '../../src/console/static.js';

/** A server of `files` only, answering a thrown HttpError with its status. */
async function serving(files: StaticFiles): Promise<(path: string) => Promise<{ status: number; type?: string; body: string }>> {
  const server = createServer((req, res) => {
    files.serve(req.url!, res, false).catch((error: unknown) => {
      res.statusCode = error instanceof HttpError ? error.status : 500;
      res.end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  after(() => server.close());
  const { port } = server.address() as AddressInfo;
  // node:http sends the path as given (fetch would resolve "..")
  return (path) =>
    new Promise((resolve, reject) => {
      request({ host: '127.0.0.1', port, path }, (res) => {
        let body = '';
        res.setEncoding('utf8').on('data', (chunk: string) => (body += chunk));
        res.on('end', () => resolve({ status: res.statusCode!, ...(res.headers['content-type'] ? { type: res.headers['content-type'] } : {}), body }));
      })
        .on('error', reject)
        .end();
    });
}

test('page routes get index.html; /assets/ the built files; asciinema-player from node_modules; nothing outside', async () => {
  const web = mkdtempSync(join(tmpdir(), 'kubegate-web-'));
  writeFileSync(join(web, 'index.html'), '<!doctype html><title>kubegate</title>');
  writeFileSync(join(web, 'app.js'), 'export {};');
  mkdirSync(join(web, 'pages'));
  writeFileSync(join(web, 'pages', 'live.js'), 'export const live = 1;');
  writeFileSync(join(tmpdir(), 'kubegate-outside.txt'), 'outside');
  const get = await serving(new StaticFiles(web));
  for (const path of ['/', '/sessions/3f2a9c1e', '/approvals', '/approvals/ns/name', '/grants', '/grants/ns/name', '/live']) {
    assert.deepEqual(await get(path), { status: 200, type: 'text/html; charset=utf-8', body: '<!doctype html><title>kubegate</title>' }, path);
  }
  assert.deepEqual(await get('/assets/app.js'), { status: 200, type: 'text/javascript; charset=utf-8', body: 'export {};' });
  assert.equal((await get('/assets/pages/live.js')).body, 'export const live = 1;');
  const player = await get('/assets/asciinema-player/asciinema-player.min.js');
  assert.equal(player.status, 200);
  assert.ok(player.body.length > 10_000, 'the bundle itself');
  assert.equal((await get('/assets/asciinema-player/asciinema-player.css')).type, 'text/css; charset=utf-8');
  for (const path of ['/assets/../../kubegate-outside.txt', '/assets/%2e%2e/%2e%2e/kubegate-outside.txt', '/assets/asciinema-player/../package.json', '/assets/nothing.js', '/index.html', '/sessions', '/etc/passwd']) {
    assert.equal((await get(path)).status, 404, path);
  }
  assert.equal((await get('/assets/%E0%A4%A')).status, 400, 'a malformed escape');

  const unbuilt = await serving(new StaticFiles(mkdtempSync(join(tmpdir(), 'kubegate-web-empty-'))));
  assert.equal((await unbuilt('/')).status, 404, 'no pages built yet');
});
