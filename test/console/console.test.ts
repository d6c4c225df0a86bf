/**
 * The web console in a real browser (headless Chromium driven by playwright-core) against a real
 * server on loopback: loading it starts nothing; an operation started by the test moves from 0 to
 * 100 % on its page; another is cancelled from its page and ends CANCELLED; the list filters; the
 * keyboard reaches everything; 360 px wide has no sideways scrolling; a server with tokens asks
 * for one and shows a principal only its own operations. None of its calls trips the checks
 * against cross-site requests (test/http/browser-safety.test.ts). Screenshots go to test-output/screenshots.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Page } from 'playwright-core';
import { Code } from '../../src/domain/errors.js';
import { hashToken, TokenTable } from '../../src/index.js';
import { launchBrowser, screenshotDir } from '../helpers/browser.js';
import { http } from '../helpers/http.js';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { within } from '../helpers/wait.js';

const SLEEP = '/longrun.testing.v1.Sleeper/Sleep';
/** The page's globals, inside page.evaluate (this project compiles without the DOM library). */
declare const document: { documentElement: { scrollWidth: number; clientWidth: number }; activeElement: { id: string; tagName: string; textContent: string | null } | null };
const sleep = (ms: number, steps: number) => ({ duration: { seconds: Math.floor(ms / 1000), nanos: (ms % 1000) * 1e6 }, steps });
const shots = screenshotDir();

/** Every request the page makes must stay on the server under test. */
function onlyLocal(page: Page, origin: string): string[] {
  const foreign: string[] = [];
  page.on('request', (request) => {
    if (!request.url().startsWith(origin) && !request.url().startsWith('data:')) foreign.push(request.url());
  });
  return foreign;
}

async function operationCount(server: TestServer): Promise<number> {
  return (await server.longrun.store.list({ parent: '', limit: 1000, now: Date.now() })).length;
}

async function noSidewaysScroll(page: Page): Promise<void> {
  const { scroll, client } = await page.evaluate(() => ({ scroll: document.documentElement.scrollWidth, client: document.documentElement.clientWidth }));
  assert.ok(scroll <= client, `the page scrolls sideways: ${scroll} > ${client}`);
}

describe('the web console in Chromium', { timeout: 180_000 }, () => {
  let server: TestServer;
  before(async () => {
    server = await startTestServer({ http: {}, watchIntervalMs: 50 });
  });
  after(() => server?.close());

  it('starts nothing, follows an operation from 0 to 100 %, cancels another, filters, and works from the keyboard and at 360 px', async (t) => {
    const chromium = await launchBrowser(t);
    if (chromium === undefined) return;
    try {
      const page = await chromium.browser.newPage({ viewport: { width: 1280, height: 860 } });
      page.setDefaultTimeout(15_000);
      const foreign = onlyLocal(page, server.httpUrl);
      // The console's own calls are same-origin JSON: the browser-safety checks never refuse them.
      const refused: string[] = [];
      page.on('response', (response) => {
        if ([403, 415, 421].includes(response.status())) refused.push(`${response.request().method()} ${response.url()} ${response.status()}`);
      });
      const consoleErrors: string[] = [];
      page.on('pageerror', (error) => consoleErrors.push(error.message));

      const response = await page.goto(`${server.httpUrl}/console`);
      assert.equal(response?.status(), 200);
      assert.equal(new URL(page.url()).pathname, '/console/');
      assert.match(String(response?.headers()['content-security-policy']), /default-src 'self'/);
      await page.getByRole('heading', { name: 'Operations' }).waitFor();
      await page.getByText('No operations on page 1.').waitFor();
      assert.equal(await operationCount(server), 0, 'loading the console created nothing');

      // An operation the test starts moves on its page from the start to the end...
      const moving = await server.call<{ name: string }>(SLEEP, sleep(6000, 6));
      await page.goto(`${server.httpUrl}/console/#/operation/${moving.name}`);
      await page.getByRole('heading', { name: moving.name }).waitFor();
      const seen: number[] = [];
      await within(
        (async () => {
          for (;;) {
            seen.push(Number(await page.locator('#detail-progress').getAttribute('value')));
            if ((await page.locator('#detail-state').textContent()) === 'Succeeded') return;
            await page.waitForTimeout(40);
          }
        })(),
        'the operation page to show it succeeded',
        20_000,
      );
      seen.push(Number(await page.locator('#detail-progress').getAttribute('value')));
      assert.ok(seen[0]! <= 20, `it started at the start: ${seen.join(',')}`);
      assert.ok(seen.some((percent) => percent > 0 && percent < 100), `progress in between was shown: ${[...new Set(seen)].join(',')}`);
      assert.equal(seen.at(-1), 100);
      assert.equal(await page.getByRole('button', { name: 'Cancel operation' }).isVisible(), false, 'nothing to cancel once done');
      assert.equal(await page.getByRole('button', { name: 'Delete operation' }).isVisible(), true);
      assert.match(await page.locator('#result').textContent() ?? '', /SleepResponse/);
      assert.match(await page.locator('#timeline').textContent() ?? '', /created.*succeeded/s);
      await page.screenshot({ path: join(shots, 'operation-done-wide.png'), fullPage: true });
      // ...and the list, refreshing by itself, shows it with the others.
      await page.getByRole('link', { name: 'All operations' }).click();
      await page.getByRole('link', { name: moving.name }).waitFor();
      await page.screenshot({ path: join(shots, 'list-wide.png'), fullPage: true });

      // Cancel another from its page, with the confirmation.
      const running = await server.call<{ name: string }>(SLEEP, sleep(60_000, 1));
      await page.goto(`${server.httpUrl}/console/#/operation/${running.name}`);
      await page.getByRole('button', { name: 'Delete operation' }).waitFor({ state: 'hidden' });
      await page.getByRole('button', { name: 'Cancel operation' }).click();
      await page.getByRole('dialog').waitFor();
      await page.screenshot({ path: join(shots, 'cancel-confirmation.png') });
      await page.getByRole('button', { name: 'Yes, cancel it' }).click();
      await page.locator('#detail-state', { hasText: 'Cancelled' }).waitFor({ timeout: 10_000 });
      assert.equal((await server.longrun.get(running.name)).error?.code, Code.CANCELLED);

      // Filters: one still running, two done.
      const third = await server.call<{ name: string }>(SLEEP, sleep(60_000, 1));
      await page.goto(`${server.httpUrl}/console/`);
      await page.getByLabel('Filter').fill('done = false');
      await page.getByLabel('Filter').press('Enter');
      await page.getByText(/^1 operation on page 1, filter done = false/).waitFor();
      const links = async () => (await page.locator('#operations tbody a').allTextContents()).sort();
      assert.deepEqual(await links(), [third.name]);
      await page.getByLabel('Filter').fill('done = true');
      await page.getByRole('button', { name: 'Apply' }).click();
      await page.getByText(/^2 operations on page 1, filter done = true/).waitFor();
      assert.deepEqual(await links(), [moving.name, running.name].sort());
      await page.getByLabel('Filter').fill('done = maybe');
      await page.getByLabel('Filter').press('Enter');
      await page.getByRole('alert').filter({ hasText: /filter/ }).waitFor();

      // The keyboard alone: Tab reaches the filter and a row's link, Enter opens it, Tab reaches its buttons.
      await page.goto(`${server.httpUrl}/console/`);
      await page.getByRole('link', { name: third.name }).waitFor();
      const focused = new Set<string>();
      for (let i = 0; i < 25 && !focused.has(`link:${third.name}`); i++) {
        await page.keyboard.press('Tab');
        focused.add(await page.evaluate(() => {
          const element = document.activeElement;
          return element?.id ? `#${element.id}` : `${element?.tagName === 'A' ? 'link' : element?.tagName}:${element?.textContent?.trim()}`;
        }));
      }
      assert.ok(focused.has('#filter'), [...focused].join(' '));
      assert.ok(focused.has(`link:${third.name}`), [...focused].join(' '));
      await page.keyboard.press('Enter');
      await page.getByRole('heading', { name: third.name }).waitFor();
      let reached = false;
      for (let i = 0; i < 15 && !reached; i++) {
        await page.keyboard.press('Tab');
        reached = await page.evaluate(() => document.activeElement?.id === 'cancel');
      }
      assert.ok(reached, 'Tab reaches the Cancel button');
      await page.screenshot({ path: join(shots, 'operation-running-wide.png'), fullPage: true });

      // Narrow: no sideways scrolling on the list or an operation's page.
      await page.setViewportSize({ width: 360, height: 740 });
      await page.goto(`${server.httpUrl}/console/`);
      await page.getByRole('link', { name: third.name }).waitFor();
      await noSidewaysScroll(page);
      await page.screenshot({ path: join(shots, 'list-narrow.png'), fullPage: true });
      await page.goto(`${server.httpUrl}/console/#/operation/${moving.name}`);
      await page.getByRole('heading', { name: moving.name }).waitFor();
      await noSidewaysScroll(page);
      await page.screenshot({ path: join(shots, 'operation-narrow.png'), fullPage: true });

      assert.deepEqual(foreign, [], 'nothing fetched from other hosts');
      assert.deepEqual(refused, [], 'no call of the console was refused as cross-site');
      assert.deepEqual(consoleErrors, []);
      await http('POST', `${server.httpUrl}/v1/${third.name}:cancel`);
    } finally {
      await chromium.close();
    }
  });
});

describe('the web console on a server that wants tokens', { timeout: 120_000 }, () => {
  const TOKENS = { alice: 'alice-console-token', bob: 'bob-console-token' } as const;
  let server: TestServer;
  before(async () => {
    const tokens = TokenTable.parse(Object.entries(TOKENS).map(([principal, token]) => `${hashToken(token)}\t${principal}`).join('\n'));
    server = await startTestServer({ serve: { auth: { tokens } }, http: { auth: { tokens } } });
  });
  after(() => server?.close());

  it('asks for a token, refuses a wrong one, and shows a principal only its own operations', async (t) => {
    const chromium = await launchBrowser(t);
    if (chromium === undefined) return;
    try {
      const ofAlice = await server.call<{ name: string }>(SLEEP, sleep(0, 1), { authorization: `Bearer ${TOKENS.alice}` });
      const ofBob = await server.call<{ name: string }>(SLEEP, sleep(0, 1), { authorization: `Bearer ${TOKENS.bob}` });
      const page = await chromium.browser.newPage({ viewport: { width: 1024, height: 700 } });
      page.setDefaultTimeout(15_000);
      await page.goto(`${server.httpUrl}/console/`);
      await page.getByRole('heading', { name: 'Sign in' }).waitFor();
      await page.screenshot({ path: join(shots, 'sign-in.png') });
      await page.getByLabel('Token').fill('not-a-token');
      await page.getByRole('button', { name: 'Sign in' }).click();
      await page.getByRole('alert').filter({ hasText: 'That token was not accepted' }).waitFor();
      await page.getByLabel('Token').fill(TOKENS.alice);
      await page.getByLabel('Token').press('Enter');
      await page.getByRole('link', { name: ofAlice.name }).waitFor();
      assert.equal(await page.getByRole('link', { name: ofBob.name }).count(), 0, "bob's operation is not shown to alice");
      await page.goto(`${server.httpUrl}/console/#/operation/${ofBob.name}`);
      await page.getByRole('alert').filter({ hasText: /permission|not|denied/i }).waitFor();
      await page.getByRole('button', { name: 'Sign out' }).click();
      await page.getByRole('heading', { name: 'Sign in' }).waitFor();
    } finally {
      await chromium.close();
    }
  });
});
