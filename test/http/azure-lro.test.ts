/**
 * Azure's generic HTTP poller (@azure/core-lro 3.3.1) drives longrun's operations to their ends from
 * the 202 and its headers alone: it follows Operation-Location to the status monitor, honours
 * Retry-After, and reads `status` and `error` there, knowing nothing else about longrun.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { createHttpPoller, type OperationResponse, type RunningOperation } from '@azure/core-lro';
import { http } from '../helpers/http.js';
import { startTestServer, type TestServer } from '../helpers/server.js';

describe('@azure/core-lro HTTP poller against the status monitor', { timeout: 180_000 }, () => {
  let server: TestServer;
  before(async () => {
    server = await startTestServer({ http: {} });
  });
  after(() => server.close());

  /** A RunningOperation that POSTs `body` to /v1/sleep and GETs whatever URL the poller asks for. */
  function sleepOperation(body: Record<string, unknown>, onPoll: (headers: Record<string, string>) => void = () => undefined): RunningOperation {
    const send = async (method: string, url: string, payload?: unknown): Promise<OperationResponse<unknown>> => {
      const reply = await http(method, url, payload === undefined ? {} : { body: payload });
      const headers = Object.fromEntries(Object.entries(reply.headers).map(([key, value]) => [key, String(value)]));
      return { flatResponse: reply.json, rawResponse: { statusCode: reply.status, headers, body: reply.json, request: { method, url } } };
    };
    return {
      sendInitialRequest: () => send('POST', `${server.httpUrl}/v1/sleep`, body),
      sendPollRequest: async (path) => {
        const response = await send('GET', path);
        onPoll(response.rawResponse.headers);
        return response;
      },
    };
  }

  it('a succeeded operation: the poller resolves with the final resource (the Operation at Location)', async () => {
    const polled: Record<string, string>[] = [];
    const poller = createHttpPoller<any, any>(sleepOperation({ duration: '1.5s', steps: 3 }, (headers) => polled.push(headers)), { intervalInMs: 50 });
    const result = await poller.pollUntilDone();
    assert.equal(poller.operationState?.status, 'succeeded');
    assert.equal(result.done, true);
    assert.equal(result.response['@type'], 'type.googleapis.com/longrun.testing.v1.SleepResponse');
    assert.equal(result.response.steps, 3);
    // It polled the status monitor, which said how long to wait while running.
    assert.ok(polled.some((headers) => /^\d+$/.test(headers['retry-after'] ?? '')));
  });

  it('a failed operation: the poller rejects with the error code and message from the status monitor', async () => {
    const poller = createHttpPoller<any, any>(sleepOperation({ duration: '0.2s', steps: 1, failWith: { code: 9, message: 'the printer is on fire' } }), { intervalInMs: 50 });
    await assert.rejects(poller.pollUntilDone(), /the printer is on fire/);
    assert.equal(poller.operationState?.status, 'failed');
    assert.match(String(poller.operationState?.error?.message), /\b9\b.*the printer is on fire/, 'code and message from the monitor');
  });

  it('a cancelled operation: cancelled through the monitor, the poller ends canceled', async () => {
    let monitor: string | undefined;
    const poller = createHttpPoller<any, any>(sleepOperation({ duration: '60s', steps: 60 }), {
      intervalInMs: 50,
      withOperationLocation: (location) => (monitor = location),
    });
    await poller.submitted();
    assert.ok(monitor?.endsWith('/status'), 'the poller took Operation-Location from the 202');
    const cancel = await http('POST', `${monitor}/cancel`);
    assert.equal(cancel.status, 200);
    await assert.rejects(poller.pollUntilDone(), /cancel/i);
    assert.equal(poller.operationState?.status, 'canceled');
  });
});
