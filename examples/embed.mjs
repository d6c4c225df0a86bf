// docs/embedding.md's embedding example, verbatim (test/readme.test.ts checks that they match and runs it).
import { setTimeout as sleep } from 'node:timers/promises';
import { Code, createLongrun, createServer, listen, shutdown, stateOf } from 'longrun';

const longrun = await createLongrun({
  databasePath: './data/reports.db',
  protoFiles: ['example/reports/v1/reports.proto'],
  includeDirs: [new URL('./proto', import.meta.url).pathname],
});
const GENERATE_REPORT = '/example.reports.v1.Reports/GenerateReport';

// The work behind each GenerateReport call. Types come from the method's operation_info.
longrun.method(GENERATE_REPORT, async (request, context) => {
  for (let page = 1; page <= request.pages; page++) {
    context.signal.throwIfAborted(); // cooperative cancellation
    await sleep(100); // the page's work
    // Progress and metadata in one write: a watcher never sees one without the other.
    await context.update({ percent: (page / request.pages) * 100, metadata: { pagesDone: page } });
  }
  return { title: request.title, pages: request.pages };
});

// Serve google.longrunning.Operations and example.reports.v1.Reports on one grpc-js server.
const server = createServer();
longrun.addToServer(server, {
  implementations: {
    'example.reports.v1.Reports': {
      GetReport: (call, callback) => callback(null, { title: call.request.title, pages: 0 }),
    },
  },
});
const port = await listen(server, '127.0.0.1', Number(process.env.PORT ?? 0));
longrun.start();
console.log(`serving on 127.0.0.1:${port}`);

// Start one in-process, exactly as a gRPC call to GenerateReport would, and watch it to the end.
const operation = await longrun.create(GENERATE_REPORT, { title: 'Q3', pages: 3 });
for await (const state of longrun.watch(operation.name)) {
  console.log(`${stateOf(state)} ${Math.round(state.progressPercent ?? 0)}%`); // PENDING 0%, RUNNING 33% ... DONE 100%
}
const done = await longrun.get(operation.name); // or: await longrun.wait(operation.name)
console.log(done.name, JSON.stringify(longrun.registry.unpack(done.response)));

// The request is checked as strictly as over the wire: nothing is coerced or dropped.
await longrun.create(GENERATE_REPORT, { title: 'Q4', pages: 'many' }).catch((error) => console.log(`refused: ${error.message}`));

// Cancel a long one: its handler's signal fires, and it ends CANCELLED.
const annual = await longrun.create(GENERATE_REPORT, { title: 'Annual', pages: 1000 });
await longrun.cancel(annual.name);
const cancelled = await longrun.wait(annual.name);
console.log(`cancelled: ${cancelled.error?.code === Code.CANCELLED}`);

// List what is done, newest first, a page at a time; delete what is no longer needed.
const { operations, nextPageToken } = await longrun.list({ filter: 'done = true', pageSize: 10 });
console.log(`done: ${operations.length}, more pages: ${nextPageToken !== ''}`);
for (const finished of operations) await longrun.delete(finished.name);

await shutdown(server, 1000);
await longrun.close();
