/**
 * Headless Chromium for page tests: Debian's `chromium` package driven by playwright-core (which
 * cannot download browsers here), with a fresh empty profile per launch (playwright's own). Missing, it fails the test under CI=true (`.ci/run` installs it)
 * and skips it, saying so, elsewhere.
 */
import { existsSync, mkdirSync } from 'node:fs';
import type { TestContext } from 'node:test';
import { chromium, type Browser } from 'playwright-core';

export const CHROMIUM = process.env.LONGRUN_TEST_CHROMIUM ?? '/usr/bin/chromium';

/** The browser, or undefined when the test was skipped (never under CI=true). */
export async function launchBrowser(t: TestContext, extraArgs: readonly string[] = []): Promise<{ browser: Browser; close(): Promise<void> } | undefined> {
  if (!existsSync(CHROMIUM)) {
    const why = `${CHROMIUM} is missing (apt-get install chromium, as .ci/run does)`;
    if (process.env.CI === 'true') throw new Error(why);
    t.skip(why);
    return undefined;
  }
  // As root Chromium needs --no-sandbox; the rest keeps it from reaching for the internet.
  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--disable-quic', '--no-first-run', ...extraArgs],
  });
  return {
    browser,
    async close() {
      await browser.close();
    },
  };
}

/** Where the tests' screenshots go (gitignored), to be looked at. */
export function screenshotDir(): string {
  const dir = new URL('../../../test-output/screenshots/', import.meta.url).pathname;
  mkdirSync(dir, { recursive: true });
  return dir;
}
