/**
 * What the console shows besides the happy path, in a real Chromium against a real server: a bad
 * filter leaves no rows from before; an operation or page that does not exist says "not found"
 * (never a blank page, never the operation shown before); the handler's ETA; why a pending
 * operation waits and when it should start; each attempt and the next one's time in a timeline with
 * a time on every line; operation names that wrap only after a slash (measured in the browser);
 * a favicon at /favicon.ico and in the page's <link rel=icon>.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { TestContext } from 'node:test';
import type { Page } from 'playwright-core';
import { launchBrowser, screenshotDir } from '../helpers/browser.js';
import { http } from '../helpers/http.js';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { eventually } from '../helpers/wait.js';

const SLEEP = '/longrun.testing.v1.Sleeper/Sleep';
/** The page's globals inside page.evaluate (this project compiles without the DOM library). */
declare const document: any;
declare const NodeFilter: any;
const sleep = (ms: number, steps: number, extra: Record<string, unknown> = {}) => ({ duration: { seconds: Math.floor(ms / 1000), nanos: (ms % 1000) * 1e6 }, steps, ...extra });
const shots = screenshotDir();
/** Long enough to look at a waiting retry, short enough for a test. */
const RETRY_BACKOFF_MS = 8000;

interface NameLines {
  text: string;
  /** Indexes of the characters that start a new line. */
  breaks: number[];
}

/** Where the browser broke each element's text into lines, found from each character's box. */
async function lineBreaks(page: Page, selector: string): Promise<NameLines[]> {
  return page.evaluate((css: string) => {
    return [...document.querySelectorAll(css)].map((element: any) => {
      const walker = document.createTreeWalker(element, NodeFilter.SHOW_TEXT);
      let text = '';
      const tops: number[] = [];
      for (let node = walker.nextNode(); node !== null; node = walker.nextNode()) {
        for (let i = 0; i < node.data.length; i++) {
          const range = document.createRange();
          range.setStart(node, i);
          range.setEnd(node, i + 1);
          text += node.data[i];
          tops.push(range.getBoundingClientRect().top);
        }
      }
      const breaks: number[] = [];
      for (let i = 1; i < tops.length; i++) if (tops[i]! > tops[i - 1]! + 2) breaks.push(i);
      return { text, breaks };
    });
  }, selector);
}

function assertBreaksOnlyAfterSlashes(shown: NameLines[], where: string): void {
  assert.ok(shown.length > 0, `${where}: some names are shown`);
  for (const { text, breaks } of shown) {
    for (const at of breaks) assert.equal(text[at - 1], '/', `${where}: "${text}" breaks inside a segment, before "${text.slice(at)}"`);
  }
}

async function noSidewaysScroll(page: Page): Promise<void> {
  const { scroll, client } = await page.evaluate(() => ({ scroll: document.documentElement.scrollWidth, client: document.documentElement.clientWidth }));
  assert.ok(scroll <= client, `the page scrolls sideways: ${scroll} > ${client}`);
}

/** Each timeline line: its time element's datetime and its text. */
async function timeline(page: Page): Promise<{ datetime: string | null; text: string }[]> {
  return page.evaluate(() =>
    [...document.querySelectorAll('#timeline li')].map((li: any) => ({ datetime: li.querySelector('time')?.getAttribute('datetime') ?? null, text: li.textContent })),
  );
}

describe('the console beyond the happy path, in Chromium', { timeout: 240_000 }, () => {
  let server: TestServer;
  before(async () => {
    server = await startTestServer({ http: {}, watchIntervalMs: 50, retry: { initialBackoffMs: RETRY_BACKOFF_MS, jitter: 0 } });
  });
  // One browser for the file (starting Chromium is most of a test's time on a loaded machine), a fresh context per test.
  let chromium: Awaited<ReturnType<typeof launchBrowser>>;
  after(async () => {
    await chromium?.close();
    await server?.close();
  });
  /** A page in a context of its own, or undefined when the test was skipped (no Chromium, outside CI). */
  async function newPage(t: TestContext, width: number, height: number): Promise<Page | undefined> {
    chromium ??= await launchBrowser(t);
    if (chromium === undefined) return undefined;
    const page = await chromium.browser.newPage({ viewport: { width, height } });
    page.setDefaultTimeout(15_000);
    return page;
  }

  it('a bad filter clears the old rows and names the filter; an unknown operation or page says not found', async (t) => {
    const page = await newPage(t, 1280, 860);
    if (page === undefined) return;
    try {
      const shown = await server.call<{ name: string }>(SLEEP, sleep(0, 1));
      await page.goto(`${server.httpUrl}/console/`);
      await page.getByRole('link', { name: shown.name }).waitFor();

      await page.getByLabel('Filter').fill('done = maybe');
      await page.getByLabel('Filter').press('Enter');
      await page.getByRole('alert').filter({ hasText: /filter/ }).waitFor();
      assert.equal(await page.locator('#operations tbody tr').count(), 0, 'no rows from before the bad filter');
      assert.match((await page.locator('#list-status').textContent()) ?? '', /^Nothing shown: .*filter/);
      assert.equal(await page.getByLabel('Filter').getAttribute('aria-invalid'), 'true');
      assert.equal(await page.getByRole('button', { name: 'Next page' }).isDisabled(), true);
      await page.screenshot({ path: join(shots, 'bad-filter.png'), fullPage: true });
      // A good filter brings the rows back.
      await page.getByLabel('Filter').fill('done = true');
      await page.getByLabel('Filter').press('Enter');
      await page.getByRole('link', { name: shown.name }).waitFor();
      assert.equal(await page.getByRole('alert').isVisible(), false);
      assert.equal(await page.getByLabel('Filter').getAttribute('aria-invalid'), null);

      // From a real operation's page to one that does not exist: "not found", nothing of the first.
      await page.goto(`${server.httpUrl}/console/#/operation/${shown.name}`);
      await page.getByRole('heading', { name: shown.name }).waitFor();
      const missing = 'operations/AAAAAAAAAAAAAAAAAAAAAAAAAAA';
      await page.evaluate((hash: string) => (document.location.hash = hash), `#/operation/${missing}`);
      await page.getByRole('heading', { name: 'Operation not found' }).waitFor();
      assert.match((await page.locator('#missing').textContent()) ?? '', new RegExp(`No operation ${missing} was found`));
      assert.equal(await page.getByRole('heading', { name: shown.name }).count(), 0, 'the operation shown before is gone');
      assert.equal(await page.locator('#detail').isVisible(), false);
      assert.equal(await page.getByRole('button', { name: /Cancel operation|Delete operation/ }).count(), 0, 'no buttons acting on another operation');
      assert.match(await page.title(), /Operation not found/);
      await page.screenshot({ path: join(shots, 'operation-not-found.png'), fullPage: true });
      // Opened directly, a name that is not an operation name, and a route the console does not have.
      await page.goto(`${server.httpUrl}/console/#/operation/${missing}`);
      await page.getByRole('heading', { name: 'Operation not found' }).waitFor();
      await page.evaluate(() => (document.location.hash = '#/operation/not-a-name'));
      await page.getByRole('heading', { name: 'Not an operation name' }).waitFor();
      await page.getByRole('alert').filter({ hasText: /name/ }).waitFor();
      await page.evaluate(() => (document.location.hash = '#/nowhere'));
      await page.getByRole('heading', { name: 'Page not found' }).waitFor();
      assert.equal(await page.getByRole('alert').isVisible(), false);
      // A console URL that does not exist: a page that says so and leads back.
      const response = await page.goto(`${server.httpUrl}/console/nowhere`);
      assert.equal(response?.status(), 404);
      await page.getByRole('heading', { name: 'Page not found' }).waitFor();
      await page.getByRole('link', { name: 'Open the console' }).click();
      await page.getByRole('heading', { name: 'Operations' }).waitFor();
    } finally {
      await page.close();
    }
  });

  it('shows the ETA the handler reports, in the list and on the page', async (t) => {
    const page = await newPage(t, 1280, 860);
    if (page === undefined) return;
    try {
      const running = await server.call<{ name: string }>(SLEEP, sleep(60_000, 60));
      // The Sleeper reports its estimate with its first step.
      let eta = 0;
      await eventually(async () => ((eta = (await server.longrun.get(running.name)).estimatedCompletion ?? 0) > 0), 'the handler to report an ETA');
      const expected = new Date(eta).toISOString();
      await page.goto(`${server.httpUrl}/console/#/operation/${running.name}`);
      await page.getByRole('heading', { name: running.name }).waitFor();
      await page.locator('#detail-eta').waitFor();
      assert.equal(await page.locator('#detail-eta-term').textContent(), 'Estimated completion');
      assert.equal(await page.locator('#detail-eta time').getAttribute('datetime'), expected);
      assert.match((await page.locator('#detail-eta').textContent()) ?? '', /\(in (\d+s|\dm\d\ds)\)/);
      await page.screenshot({ path: join(shots, 'operation-eta.png'), fullPage: true });
      await page.goto(`${server.httpUrl}/console/`);
      const row = page.locator('#operations tbody tr', { has: page.getByRole('link', { name: running.name }) });
      await row.locator('.eta time').waitFor();
      assert.equal(await row.locator('.eta time').getAttribute('datetime'), expected);
      // On a phone too, without sideways scrolling.
      await page.setViewportSize({ width: 360, height: 740 });
      await page.reload();
      await row.locator('.eta time').waitFor();
      await noSidewaysScroll(page);
      await page.screenshot({ path: join(shots, 'list-eta-narrow.png'), fullPage: true });
      assert.equal((await http('POST', `${server.httpUrl}/v1/${running.name}:cancel`, { body: {} })).status, 200);
      // Once done, no estimate is shown.
      await page.goto(`${server.httpUrl}/console/#/operation/${running.name}`);
      await page.locator('#detail-state', { hasText: 'Cancelled' }).waitFor();
      assert.equal(await page.locator('#detail-eta').isVisible(), false);
    } finally {
      await page.close();
    }
  });

  it('says why a pending operation waits and when it starts, and times every attempt on the timeline', async (t) => {
    const page = await newPage(t, 1280, 860);
    if (page === undefined) return;
    try {

      // Scheduled: a start time ahead.
      const startTime = new Date(Date.now() + 3_600_000).toISOString();
      const scheduled = await server.call<{ name: string }>(SLEEP, sleep(0, 1), { 'longrun-start-time': startTime });
      await page.goto(`${server.httpUrl}/console/#/operation/${scheduled.name}`);
      await page.getByRole('heading', { name: scheduled.name }).waitFor();
      assert.equal(await page.locator('#detail-state').textContent(), 'Pending (scheduled)');
      assert.match((await page.locator('#detail-waiting').textContent()) ?? '', /^Scheduled: attempt 1 of 3 starts at .* \(in (59m\d\ds|1h00m)\)$/);
      assert.equal(await page.locator('#detail-waiting time').getAttribute('datetime'), startTime);
      assert.equal(await page.locator('#detail-attempt').textContent(), 'none yet (of 3)');
      const scheduledLine = (await timeline(page)).at(-1)!;
      assert.equal(scheduledLine.datetime, startTime);
      assert.match(scheduledLine.text, / attempt 1 of 3 due \(start time\) \(in (59m\d\ds|1h00m)\)$/);
      await page.screenshot({ path: join(shots, 'operation-scheduled.png'), fullPage: true });

      // Queued: due, but its concurrency key is taken by a running operation.
      const holder = await server.call<{ name: string }>(SLEEP, sleep(60_000, 1), { 'longrun-concurrency-key': 'console-key' });
      await eventually(async () => (await server.longrun.get(holder.name)).leaseHolder !== undefined, 'the key holder to run');
      const queued = await server.call<{ name: string }>(SLEEP, sleep(0, 1), { 'longrun-concurrency-key': 'console-key' });
      await page.goto(`${server.httpUrl}/console/#/operation/${queued.name}`);
      await page.getByRole('heading', { name: queued.name }).waitFor();
      assert.equal(await page.locator('#detail-state').textContent(), 'Pending (queued)');
      assert.equal(await page.locator('#detail-waiting').textContent(), 'Queued: due, waiting for a runner or its concurrency key');
      assert.match((await timeline(page)).at(-1)!.text, /attempt 1 of 3 queued, waiting for a runner or its concurrency key$/);

      // A retry: attempt 1 fails, attempt 2 is due after the backoff, then succeeds.
      const retried = await server.call<{ name: string }>(SLEEP, sleep(0, 1, { failAttempts: 1 }));
      await eventually(async () => (await server.longrun.get(retried.name)).lastError !== undefined, 'the first attempt to fail', RETRY_BACKOFF_MS);
      const waiting = await server.longrun.get(retried.name);
      await page.goto(`${server.httpUrl}/console/#/operation/${retried.name}`);
      await page.getByRole('heading', { name: retried.name }).waitFor();
      assert.equal(await page.locator('#detail-state').textContent(), 'Pending (retry scheduled)');
      assert.match(
        (await page.locator('#detail-waiting').textContent()) ?? '',
        /^Retry scheduled: attempt 2 of 3 starts at .* \((in \ds|due now)\)\. The last attempt failed: UNAVAILABLE the Sleeper fails attempt 1/,
      );
      assert.equal(await page.locator('#detail-waiting time').getAttribute('datetime'), new Date(waiting.runAfter).toISOString());
      assert.equal(await page.locator('#detail-attempt').textContent(), '1 of 3');
      const waitingLines = await timeline(page);
      assert.deepEqual(
        waitingLines.map((line) => line.datetime),
        [waiting.createTime, waiting.updateTime, waiting.runAfter].map((ms) => new Date(ms).toISOString()),
        'created, the failure and the retry, each at its own time',
      );
      assert.match(waitingLines[1]!.text, /attempt 1 of 3 failed: UNAVAILABLE the Sleeper fails attempt 1/);
      assert.match(waitingLines[2]!.text, /attempt 2 of 3 due \(retry\) \((in \ds|due now)\)$/);
      await page.screenshot({ path: join(shots, 'operation-retry-scheduled.png'), fullPage: true });
      // The page follows the retry by itself to the end.
      await page.locator('#detail-state', { hasText: 'Succeeded' }).waitFor({ timeout: RETRY_BACKOFF_MS + 10_000 });
      const done = await server.longrun.get(retried.name);
      const doneLines = await timeline(page);
      assert.equal(doneLines.length, 3, JSON.stringify(doneLines));
      for (const line of doneLines) assert.ok(line.datetime !== null && Number.isFinite(Date.parse(line.datetime)), `a time on every line: ${JSON.stringify(line)}`);
      assert.match(doneLines[1]!.text, /^by .* attempt 1 of 3 failed: UNAVAILABLE/);
      assert.equal(doneLines[2]!.datetime, new Date(done.doneTime!).toISOString());
      assert.match(doneLines[2]!.text, /succeeded \(attempt 2 of 3\)$/);
      assert.equal(await page.locator('#detail-waiting').isVisible(), false);
      await page.screenshot({ path: join(shots, 'operation-retried-done.png'), fullPage: true });

      // The queued one first: once its key's holder ends it would run (and be done before its cancel).
      for (const name of [queued.name, scheduled.name, holder.name]) {
        const cancelled = await http('POST', `${server.httpUrl}/v1/${name}:cancel`, { body: {} });
        assert.equal(cancelled.status, 200, `${name}: ${cancelled.text}`);
      }
    } finally {
      await page.close();
    }
  });

  it('wraps operation names only after a slash, at 1280 and at 360 px', async (t) => {
    const page = await newPage(t, 1280, 860);
    if (page === undefined) return;
    try {
      const parent = 'projects/console-wrapping-test-project/locations/europe-west1';
      const nested = await server.call<{ name: string }>(SLEEP, sleep(0, 1, { parent }));
      const collection = `${parent}/operations`;
      const listUrl = `${server.httpUrl}/console/#/?${new URLSearchParams({ collection, filter: '' })}`;
      await page.goto(listUrl);
      await page.getByRole('link', { name: nested.name }).waitFor();
      assertBreaksOnlyAfterSlashes(await lineBreaks(page, '#operations tbody td.name a'), 'list at 1280 px');

      await page.setViewportSize({ width: 360, height: 740 });
      await page.reload();
      await page.getByRole('link', { name: nested.name }).waitFor();
      const narrowList = await lineBreaks(page, '#operations tbody td.name a');
      assertBreaksOnlyAfterSlashes(narrowList, 'list at 360 px');
      assert.ok(narrowList.some((name) => name.breaks.length > 0), `at 360 px the long name wraps, so the check above measured something: ${JSON.stringify(narrowList)}`);
      await noSidewaysScroll(page);
      await page.screenshot({ path: join(shots, 'names-list-narrow.png'), fullPage: true });

      await page.goto(`${server.httpUrl}/console/#/operation/${nested.name}`);
      await page.getByRole('heading', { name: nested.name }).waitFor();
      const title = await lineBreaks(page, '#detail-title');
      assertBreaksOnlyAfterSlashes(title, 'operation page at 360 px');
      assert.ok(title[0]!.breaks.length > 0, 'the title wraps at 360 px');
      await noSidewaysScroll(page);
      // The top-level operations' ids (27 characters) stay whole too.
      await page.goto(`${server.httpUrl}/console/`);
      await page.locator('#operations tbody td.name a').first().waitFor();
      assertBreaksOnlyAfterSlashes(await lineBreaks(page, '#operations tbody td.name a'), 'top-level names at 360 px');
      await noSidewaysScroll(page);
      await page.screenshot({ path: join(shots, 'names-operation-narrow.png'), fullPage: true });
    } finally {
      await page.close();
    }
  });

  it('has a favicon: in the page and at /favicon.ico, and no request of the console fails', async (t) => {
    const page = await newPage(t, 1024, 700);
    if (page === undefined) return;
    try {
      const failed: string[] = [];
      page.on('response', (response) => {
        if (response.status() >= 400) failed.push(`${response.url()} ${response.status()}`);
      });
      await page.goto(`${server.httpUrl}/console/`);
      await page.getByRole('heading', { name: 'Operations' }).waitFor();
      const href = await page.locator('link[rel="icon"]').getAttribute('href');
      assert.ok(href, 'the page names its icon');
      const icon = await page.evaluate(async (url: string) => {
        const response = await fetch(url);
        return { status: response.status, type: response.headers.get('content-type'), text: await response.text() };
      }, new URL(href, `${server.httpUrl}/console/`).toString());
      assert.equal(icon.status, 200);
      assert.equal(icon.type, 'image/svg+xml');
      assert.match(icon.text, /^<svg /);
      const root = await http('GET', `${server.httpUrl}/favicon.ico`);
      assert.equal(root.status, 200);
      assert.equal(root.headers['content-type'], 'image/svg+xml');
      assert.equal(root.text, icon.text);
      assert.equal((await http('HEAD', `${server.httpUrl}/favicon.ico`)).status, 200);
      assert.deepEqual(failed, []);
    } finally {
      await page.close();
    }
  });
});
