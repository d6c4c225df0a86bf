// The README's embedding example, verbatim (test/readme.test.ts checks that they match and runs it).
import { createLongrun, createServer, listen, shutdown } from 'longrun';

const longrun = await createLongrun({
  databasePath: './data/reports.db',
  protoFiles: ['example/reports/v1/reports.proto'],
  includeDirs: [new URL('./proto', import.meta.url).pathname],
});

// The work behind each GenerateReport call. Types come from the method's operation_info.
longrun.method('/example.reports.v1.Reports/GenerateReport', async (request, context) => {
  for (let page = 1; page <= request.pages; page++) {
    context.signal.throwIfAborted(); // cooperative cancellation
    await context.setMetadata({ pagesDone: page });
    await context.progress((page / request.pages) * 100);
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

// Start one in-process, exactly as a gRPC call to GenerateReport would, and wait for it.
const operation = await longrun.create('/example.reports.v1.Reports/GenerateReport', { title: 'Q3', pages: 3 });
const done = await longrun.wait(operation.name);
console.log(done.name, JSON.stringify(longrun.registry.unpack(done.response)));

await shutdown(server, 1000);
await longrun.close();
