/**
 * The two HTTP answers to a long-running call: Google's (200 with the Operation, never Retry-After,
 * as gcloud and Google's libraries need) and the async request-reply pattern's (202 + Location +
 * Operation-Location + Retry-After), chosen by the method and by RFC 7240 `Prefer`.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { addSleeper } from '../../src/sleeper/sleeper.js';
import { http } from '../helpers/http.js';
import { progressed, startTestServer, type TestServer } from '../helpers/server.js';

describe('HTTP answer styles and Prefer', { timeout: 120_000 }, () => {
  let asyncServer: TestServer;
  let googleServer: TestServer;
  const sleep = (server: TestServer, body: Record<string, unknown>, headers: Record<string, string> = {}) =>
    http('POST', `${server.httpUrl}/v1/sleep`, { body, headers });
  const cancel = (server: TestServer, name: string) => http('POST', `${server.httpUrl}/v1/${name}:cancel`);

  before(async () => {
    asyncServer = await startTestServer({ waitCapMs: 5000, http: {} });
    googleServer = await startTestServer({ waitCapMs: 5000, sleeper: false, setup: (longrun) => addSleeper(longrun, { httpAnswer: 'google' }), http: {} });
  });
  after(async () => {
    await asyncServer?.close();
    await googleServer?.close();
  });

  it("a Google-style method answers 200 with the Operation and no Retry-After, and its polls never carry one", async () => {
    const created = await sleep(googleServer, { duration: '60s', steps: 60 });
    assert.equal(created.status, 200);
    assert.equal(created.headers['retry-after'], undefined);
    assert.equal(created.headers['preference-applied'], undefined);
    const name: string = created.json.name;
    assert.equal(created.headers['location'], `${googleServer.httpUrl}/v1/${name}`);
    // Wait for the first progress report, so the poll below is of a running operation with an ETA.
    await progressed(googleServer.longrun, name);
    const polled = await http('GET', `${googleServer.httpUrl}/v1/${name}`);
    assert.equal(polled.status, 200);
    assert.equal(polled.json.done, undefined);
    assert.equal(polled.headers['retry-after'], undefined);
    const monitor = await http('GET', `${googleServer.httpUrl}/v1/${name}/status`);
    assert.equal(monitor.json.status, 'running');
    assert.equal(monitor.headers['retry-after'], undefined);
    await cancel(googleServer, name);
  });

  it('Prefer: respond-async on a Google-style method: 202 with Location, Operation-Location, Retry-After and Preference-Applied; its polls carry Retry-After', async () => {
    const created = await sleep(googleServer, { duration: '60s', steps: 60 }, { prefer: 'respond-async' });
    assert.equal(created.status, 202);
    const name: string = created.json.name;
    assert.equal(created.headers['preference-applied'], 'respond-async');
    assert.equal(created.headers['location'], `${googleServer.httpUrl}/v1/${name}`);
    assert.equal(created.headers['operation-location'], `${googleServer.httpUrl}/v1/${name}/status`);
    assert.match(String(created.headers['retry-after']), /^\d+$/);
    // Kept with the operation: every poll is answered in the style it was created with.
    const polled = await http('GET', `${googleServer.httpUrl}/v1/${name}`);
    assert.match(String(polled.headers['retry-after']), /^\d+$/);
    await cancel(googleServer, name);
  });

  it('an async-style method answers 202 with Retry-After, with or without Prefer: respond-async', async () => {
    const plain = await sleep(asyncServer, { duration: '60s', steps: 60 });
    assert.equal(plain.status, 202);
    assert.match(String(plain.headers['retry-after']), /^\d+$/);
    assert.equal(plain.headers['preference-applied'], undefined);
    const asked = await sleep(asyncServer, { duration: '60s', steps: 60 }, { Prefer: 'respond-async, wait=0' });
    assert.equal(asked.status, 202);
    assert.equal(asked.headers['preference-applied'], 'respond-async, wait=0');
    await cancel(asyncServer, plain.json.name);
    await cancel(asyncServer, asked.json.name);
  });

  it('Prefer: wait=N answers 200 with the done Operation when the work ends in time, on either style', async () => {
    for (const server of [asyncServer, googleServer]) {
      const quick = await sleep(server, { duration: '0.2s', steps: 2 }, { prefer: 'wait=10' });
      assert.equal(quick.status, 200);
      assert.equal(quick.json.done, true);
      assert.equal(quick.json.response['@type'], 'type.googleapis.com/longrun.testing.v1.SleepResponse');
      assert.equal(quick.headers['retry-after'], undefined);
      assert.equal(quick.headers['preference-applied'], 'wait=10');
    }
  });

  it("Prefer: wait=N on work that outlasts it: the method's usual answer after about N seconds, the wait capped by the server's", async () => {
    const startedAt = Date.now();
    const slow = await sleep(asyncServer, { duration: '60s', steps: 60 }, { prefer: 'wait=1' });
    const waited = Date.now() - startedAt;
    assert.equal(slow.status, 202);
    assert.equal(slow.json.done, undefined);
    assert.ok(waited >= 900 && waited < 5000, `held about a second (${waited} ms)`);
    assert.match(String(slow.headers['retry-after']), /^\d+$/);
    await cancel(asyncServer, slow.json.name);

    const capped = Date.now();
    const long = await sleep(googleServer, { duration: '60s', steps: 60 }, { prefer: 'wait=3600' });
    const held = Date.now() - capped;
    assert.equal(long.status, 200, 'Google style: 200 with the running Operation');
    assert.equal(long.json.done, undefined);
    assert.ok(held >= 4500 && held < 15_000, `held to the 5 s wait cap (${held} ms)`);
    await cancel(googleServer, long.json.name);
  });

  it('a malformed wait is ignored, as RFC 7240 asks of preferences a server cannot honour', async () => {
    const reply = await sleep(asyncServer, { duration: '60s', steps: 60 }, { prefer: 'wait=soon, handling=lenient' });
    assert.equal(reply.status, 202);
    assert.equal(reply.headers['preference-applied'], undefined);
    await cancel(asyncServer, reply.json.name);
  });
});
