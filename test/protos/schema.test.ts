/**
 * One schema at run time: an app's .proto file is read (and parsed) once, however many runtimes
 * then use it: the registry and strict checks, JSON and the HTTP routes, grpc-js's definitions and
 * server reflection, all fed from the one FileDescriptorSet made at start.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { mkdirSync, writeFileSync } from 'node:fs';
import { syncBuiltinESMExports } from 'node:module';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { createLongrun, createServer, listen, shutdown, type Longrun } from '../../src/index.js';
import { bufCurl } from '../helpers/buf-curl.js';
import { silentLogger } from '../helpers/server.js';
import { tempDir } from '../helpers/temp.js';

const REPORTS_PROTO = `syntax = "proto3";
package example.reports.v1;
import "google/api/annotations.proto";
import "google/longrunning/operations.proto";
service Reports {
  rpc GenerateReport(GenerateReportRequest) returns (google.longrunning.Operation) {
    option (google.api.http) = { post: "/v1/reports" body: "*" };
    option (google.longrunning.operation_info) = { response_type: "Report" metadata_type: "GenerateReportMetadata" };
  }
}
message GenerateReportRequest { string title = 1; int32 pages = 2; map<string, string> labels = 3; }
message GenerateReportMetadata { int32 pages_done = 1; }
message Report { string title = 1; int32 pages = 2; }
`;

describe('one schema', { timeout: 60_000 }, () => {
  const dir = tempDir('longrun-schema-');
  const protoPath = join(dir.path, 'protos', 'example', 'reports', 'v1', 'reports.proto');
  const reads: string[] = [];
  const original = fs.readFileSync;
  let longrun: Longrun;
  let server: ReturnType<typeof createServer>;
  let port: number;

  before(async () => {
    mkdirSync(join(protoPath, '..'), { recursive: true });
    writeFileSync(protoPath, REPORTS_PROTO);
    // Every read of a file, by any module (ESM named imports of node:fs included, once synced).
    fs.readFileSync = ((path: fs.PathOrFileDescriptor, ...rest: unknown[]) => {
      if (typeof path === 'string' && path.endsWith('.proto')) reads.push(path);
      return (original as (...args: unknown[]) => unknown)(path, ...rest);
    }) as typeof fs.readFileSync;
    syncBuiltinESMExports();
    longrun = await createLongrun({
      databasePath: dir.file('schema.db'),
      protoFiles: ['example/reports/v1/reports.proto'],
      includeDirs: [join(dir.path, 'protos')],
      pollMs: 50,
      logger: silentLogger as never,
    });
    longrun.method('/example.reports.v1.Reports/GenerateReport', async (request) => ({ title: String(request['title']), pages: Number(request['pages']) }));
    server = createServer();
    longrun.addToServer(server);
    port = await listen(server, '127.0.0.1', 0);
    longrun.start();
  });

  after(async () => {
    fs.readFileSync = original;
    syncBuiltinESMExports();
    await shutdown(server, 1000);
    await longrun.close(1000);
    dir.remove();
  });

  test('the app\'s .proto is read once, and no .proto twice, through gRPC, HTTP and reflection', async () => {
    // The HTTP route, JSON and the strict check; the gRPC definitions; reflection, through buf curl.
    const served = await longrun.http.listen({ host: '127.0.0.1', port: 0 });
    const created = await fetch(`${served.url}/v1/reports`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ title: 'Q3', pages: 2, labels: { a: 'b' } }) });
    assert.equal(created.status, 202, await created.clone().text());
    const name = ((await created.json()) as { name: string }).name;
    assert.deepEqual((await longrun.wait(name, 10_000)).done, true);
    const described = await bufCurl(`127.0.0.1:${port}`, ['--list-methods', '']);
    assert.equal(described.code, 0, described.stderr);
    assert.match(described.stdout, /example\.reports\.v1\.Reports\/GenerateReport/);
    const called = await bufCurl(`127.0.0.1:${port}`, ['-d', '{"title":"Q4","pages":1}', 'example.reports.v1.Reports/GenerateReport']);
    assert.equal(called.code, 0, called.stderr);
    assert.match(called.stdout, /GenerateReportMetadata/);
    // The app's file once. The files it imports from longrun's proto/ are read once too (the compiler
    // needs their definitions); so are grpc.health's and @grpc/reflection's own.
    assert.deepEqual(reads.filter((path) => path === protoPath), [protoPath]);
    assert.deepEqual(reads.filter((path, i) => reads.indexOf(path) !== i), [], 'no file is read twice');
  });
});
