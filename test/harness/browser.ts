/**
 * Real headless Chromium for the console's tests: Debian's `chromium` (scripts/install-chromium.sh
 * puts it at /usr/bin/chromium; no browser is ever downloaded) driven by playwright-core. One browser
 * per test file; pages sized like a laptop screen; screenshots under test-results/screenshots/.
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { packageRoot } from '../../src/util/package-root.js';

export const chromiumPath = '/usr/bin/chromium';
export const screenshotDir = join(packageRoot(), 'test-results', 'screenshots');

/** The size the console is designed for (a 1366×768 laptop). */
export const laptop = { width: 1366, height: 768 };

export async function launchBrowser(): Promise<Browser> {
  return chromium.launch({ executablePath: chromiumPath, args: ['--no-sandbox'] });
}

export interface WatchedPage {
  context: BrowserContext;
  page: Page;
  /** Uncaught errors, console errors and CSP violations the page reported, for a test to assert none. */
  problems: string[];
}

/** A fresh context (its own cookies) and page at laptop size, its errors collected. */
export async function openPage(browser: Browser): Promise<WatchedPage> {
  const context = await browser.newContext({ viewport: laptop });
  const page = await context.newPage();
  const problems: string[] = [];
  page.on('pageerror', (error) => problems.push(`page error: ${error.message}`));
  page.on('console', (message) => {
    if (message.type() === 'error') problems.push(`console: ${message.text()}`);
  });
  return { context, page, problems };
}

/** Saves the page as test-results/screenshots/NAME.png (the whole page, not only the viewport). */
export async function screenshot(page: Page, name: string): Promise<string> {
  mkdirSync(screenshotDir, { recursive: true });
  const path = join(screenshotDir, `${name}.png`);
  // from the top: a sticky header would otherwise be drawn where the page happened to be scrolled to
  await page.evaluate('window.scrollTo(0, 0)');
  await page.screenshot({ path, fullPage: true });
  return path;
}
