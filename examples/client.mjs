// The README's client example, verbatim (test/readme.test.ts checks that they match and runs it).
import { createClient } from 'longrun';

const client = createClient(process.env.LONGRUN_ADDRESS ?? '127.0.0.1:50051', {
  protoFiles: ['longrun/testing/v1/sleeper.proto'], // to decode Sleep's metadata and response
});

for await (const operation of client.list({ filter: 'done = false' })) {
  console.log('running:', operation.name, operation.metadataType);
}

const operation = await client.wait(process.argv[2], {
  onProgress: (running) => console.log(`progress: ${running.progressPercent ?? 0}%`),
  signal: AbortSignal.timeout(10 * 60_000), // give up after 10 minutes
});
if (operation.error) console.log('failed:', operation.error.code, operation.error.message);
else console.log('done:', operation.responseType, JSON.stringify(operation.response));
client.close();
