/**
 * An operation whose `Any` types this process does not know (written by a server that served a
 * method this one does not: a rolling deploy, a removed method, a shared store) is answered over
 * HTTP as over gRPC: the Any as its type URL and base64 bytes, never a 500, and it never fails a
 * list page, the status monitor, the watch stream or the console.
 */
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { after, before, describe, it } from 'node:test';
import { http } from '../helpers/http.js';
import { createLongrun } from '../../src/index.js';
import { silentLogger, startTestServer, type TestServer } from '../helpers/server.js';
import { tempDir } from '../helpers/temp.js';

const EXAMPLE_PROTOS = fileURLToPath(new URL('../../../examples/proto', import.meta.url));
const REPORT_METADATA = 'type.googleapis.com/example.reports.v1.GenerateReportMetadata';
const REPORT = 'type.googleapis.com/example.reports.v1.Report';

describe('operations of types this process does not know, over HTTP', { timeout: 120_000 }, () => {
  const dir = tempDir();
  const databasePath = dir.file('longrun.db');
  let reportName: string;
  let server: TestServer;
  const url = (path: string) => `${server.httpUrl}${path}`;

  before(async () => {
    // An app's method whose types only its own protos describe...
    const app = await createLongrun({
      databasePath,
      protoFiles: ['example/reports/v1/reports.proto'],
      includeDirs: [EXAMPLE_PROTOS],
      logger: silentLogger as never,
      pollMs: 50,
    });
    try {
      app.method<{ title: string; pages: number }>('/example.reports.v1.Reports/GenerateReport', async (request, context) => {
        await context.setMetadata({ pagesDone: request.pages });
        return { title: request.title, pages: request.pages };
      });
      app.start();
      reportName = (await app.create('/example.reports.v1.Reports/GenerateReport', { title: 'Q3', pages: 3 })).name;
      assert.equal((await app.wait(reportName, 30_000)).done, true);
    } finally {
      await app.stop(1000);
      await app.close();
    }
    // ...then the same database, served by a process without them.
    server = await startTestServer({ databasePath, http: {} });
    await server.call('/longrun.testing.v1.Sleeper/Sleep', { steps: 1 });
  });
  after(async () => {
    await server?.close();
    dir.remove();
  });

  it('GET answers 200 with each unknown Any as @type and base64 value', async () => {
    const reply = await http('GET', url(`/v1/${reportName}`));
    assert.equal(reply.status, 200, reply.text);
    assert.equal(reply.json.done, true);
    assert.deepEqual(Object.keys(reply.json.metadata), ['@type', 'value']);
    assert.equal(reply.json.metadata['@type'], REPORT_METADATA);
    assert.ok(Buffer.from(reply.json.metadata.value, 'base64').length > 0);
    assert.equal(reply.json.response['@type'], REPORT);
  });

  it('one such operation does not fail a list page; known ones beside it are decoded', async () => {
    const reply = await http('GET', url('/v1/operations'));
    assert.equal(reply.status, 200, reply.text);
    assert.equal(reply.json.operations.length, 2);
    const sleep = reply.json.operations.find((op: { name: string }) => op.name !== reportName);
    assert.equal(sleep.metadata['@type'], 'type.googleapis.com/longrun.testing.v1.SleepMetadata');
    assert.equal(Object.keys(sleep.metadata)[0], '@type', '@type first, as buf curl prints it');
    assert.equal(sleep.metadata.value, undefined);
  });

  it('the status monitor, the ARM status, the watch stream and the console read it too', async () => {
    const monitor = await http('GET', url(`/v1/${reportName}/status`));
    assert.equal(monitor.status, 200, monitor.text);
    assert.equal(monitor.json.result['@type'], REPORT);
    const arm = await http('GET', url(`/v1/operationStatuses/${reportName}`));
    assert.equal(arm.status, 200, arm.text);
    assert.equal(arm.json.status, 'Succeeded');
    const watch = await http('GET', url(`/v1/${reportName}:watch`));
    assert.equal(watch.status, 200);
    assert.match(watch.text, /event: operation\n/);
    assert.match(watch.text, /event: end\n/);
    const data = JSON.parse(/event: operation\n(?:id: .*\n)?data: (.*)\n/.exec(watch.text)![1]!);
    assert.equal(data.operation.metadata['@type'], REPORT_METADATA);
    const detail = await http('GET', url(`/console/api/operation?name=${encodeURIComponent(reportName)}`));
    assert.equal(detail.status, 200, detail.text);
    assert.equal(detail.json.operation.response['@type'], REPORT);
    const list = await http('GET', url('/console/api/operations'));
    assert.equal(list.status, 200, list.text);
  });
});
