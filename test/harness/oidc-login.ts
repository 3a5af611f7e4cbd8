/**
 * A person logging in with `kubegate login`, for real: the CLI runs as a child process, and the
 * person's browser is headless Chromium (Debian's, driven by playwright-core) on the sandbox's OpenID
 * Provider's own pages — the login form, then the loopback redirect back to the CLI; or, for the device
 * flow, the code confirmation page, the login form and the success page.
 */
import { after } from 'node:test';
import { spawn } from 'node:child_process';
import { mkdtempSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, dirname, join } from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import { packageRoot } from '../../src/util/package-root.js';
import { identityProviderPassword, identityProviderUsers } from '../../src/sandbox/identity-provider.js';
import type { TestCluster } from './cluster.js';

export const kubegateBin = join(packageRoot(), 'bin', 'kubegate');

let browser: Promise<Browser> | undefined;
// registered at the top level, so it runs after the whole file (in a test it would run after that test)
after(async () => (await browser)?.close());

/** One headless Chromium for the test file, launched on first use, closed after the file. */
function theBrowser(): Promise<Browser> {
  return (browser ??= chromium.launch({ executablePath: '/usr/bin/chromium', args: ['--no-sandbox'] }));
}

export type Person = (typeof identityProviderUsers)[number]['name'];

/** Where one person's `kubegate login` keeps things: its token cache, kubeconfig, and a PATH with kubectl and kubectl-kubegate. */
export interface LoginHome {
  cache: string;
  kubeconfig: string;
  env: Record<string, string>;
}

export function loginHome(cluster: TestCluster): LoginHome {
  const dir = mkdtempSync(join(tmpdir(), 'kubegate-login-'));
  symlinkSync(kubegateBin, join(dir, 'kubectl-kubegate'));
  const path = [dir, dirname(cluster.state.binaries.kubectl), process.env.PATH ?? ''].join(delimiter);
  const cache = join(dir, 'cache');
  return { cache, kubeconfig: join(dir, 'kubeconfig'), env: { XDG_CACHE_HOME: cache, PATH: path } };
}

/** The gateway's CA as a file, for `--certificate-authority`. */
export function caFile(pem: string): string {
  const file = join(mkdtempSync(join(tmpdir(), 'kubegate-ca-')), 'ca.crt');
  writeFileSync(file, pem);
  return file;
}

export interface LoginResult {
  code: number | null;
  stderr: string;
}

/**
 * Runs `kubegate login ARGS` and, once it prints where to log in, logs `person` in there in the
 * browser (the authorization code flow, or with `--device` the device flow); resolves when the CLI exits.
 */
export function kubegateLogin(home: LoginHome, args: string[], person: Person): Promise<LoginResult> {
  const child = spawn(kubegateBin, ['login', '--no-browser', `--kubeconfig=${home.kubeconfig}`, ...args], { env: { HOME: process.env.HOME, ...home.env }, stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  let browsing: Promise<void> | undefined;
  const device = args.includes('--device');
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
    stderr += chunk;
    const url = (device ? /\(or open (\S+)\)/ : /^Log in at:\n(\S+)$/m).exec(stderr)?.[1];
    if (url && !browsing) browsing = browse(url, person).catch((error: Error) => void (stderr += `\n[browser] ${error.message}`));
  });
  const timer = setTimeout(() => child.kill('SIGKILL'), 90_000);
  return new Promise((resolve) =>
    child.on('close', async (code) => {
      clearTimeout(timer);
      await browsing;
      resolve({ code, stderr });
    }),
  );
}

/**
 * Clicks through the provider's pages as `person` until the flow ends: the loopback page of the CLI
 * (authorization code) or the provider's "Signed in" page (device flow).
 */
async function browse(url: string, person: Person): Promise<void> {
  const context = await (await theBrowser()).newContext({ ignoreHTTPSErrors: true });
  try {
    const page = await context.newPage();
    await page.goto(url);
    for (let step = 0; step < 6; step++) {
      if (await finished(page)) return;
      if (await page.locator('input[name=username]').count()) {
        const email = `${person}@example.com`;
        await page.fill('input[name=username]', email);
        await page.fill('input[name=password]', identityProviderPassword(person));
        await Promise.all([page.waitForNavigation(), page.click('#login')]);
      } else {
        await Promise.all([page.waitForNavigation(), page.click('#continue')]);
      }
    }
    throw new Error(`the login did not finish; the browser is at ${page.url()}: ${await page.textContent('body')}`);
  } finally {
    await context.close();
  }
}

async function finished(page: Page): Promise<boolean> {
  const text = (await page.textContent('body')) ?? '';
  return /kubegate: logged in|The device is signed in/.test(text);
}
