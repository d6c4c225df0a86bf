/**
 * Many small multi-page PDFs in several files per request and several requests at once: every
 * page that can be read comes back with its own words. The page workers hold many documents at a
 * time, opened and closed as operations come and go; a page lost to that sharing is data loss.
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { Code } from '../../src/index.js';
import { PdfFile } from '../../src/vision/pdf.js';
import { seededRandom } from '../helpers/random.js';
import { ASYNC_BATCH_ANNOTATE_FILES, fileRequest, makePdf, makePdfWithBrokenPage, startVisionServer, type VisionServer } from './fixtures.js';

interface Shard {
  totalPages: number;
  responses: { fullTextAnnotation?: { text: string }; error?: { code: number; message: string }; context: { uri: string; pageNumber: number } }[];
}

interface PlannedFile {
  uri: string;
  output: string;
  batchSize: number;
  /** The text each page must come back with; null for the page that truly cannot be parsed. */
  pages: (string | null)[];
}

// On pdf.js 5.4.624 one round lost 0 to 19 of about 60 pages (0 once in 30 rounds); three rounds always lost some.
const ROUNDS = 3;
const REQUESTS_PER_ROUND = 6;
const SEED = Number(process.env.LONGRUN_TEST_SEED ?? 20261123);

describe('Vision pages under concurrent small documents', { timeout: 180_000 }, () => {
  let server: VisionServer;
  before(async () => {
    server = await startVisionServer();
  });
  after(() => server.close());

  it('reads every page of a document while a shorter one is open in the same thread', { timeout: 10_000 }, async () => {
    // What each page worker does: several documents open at once, the shorter one loaded last.
    const five = await PdfFile.open(await makePdf([1, 2, 3, 4, 5].map((n) => [{ text: `five ${n}`, x: 72, y: 72 }])), 'five');
    const two = await PdfFile.open(await makePdf([1, 2].map((n) => [{ text: `two ${n}`, x: 72, y: 72 }])), 'two');
    try {
      for (let n = 1; n <= 5; n++) assert.deepEqual((await five.page(n)).runs.map((run) => run.text), [`five ${n}`], `page ${n} of five`);
      for (let n = 1; n <= 2; n++) assert.deepEqual((await two.page(n)).runs.map((run) => run.text), [`two ${n}`], `page ${n} of two`);
    } finally {
      await Promise.all([five.close(), two.close()]);
    }
  });

  it('reads every page of a request whose later file is shorter', { timeout: 20_000 }, async () => {
    server.put('gs://docs/pair/long.pdf', await makePdf([1, 2, 3, 4, 5].map((n) => [{ text: `long ${n}`, x: 72, y: 72 }])));
    server.put('gs://docs/pair/short.pdf', await makePdf([1, 2].map((n) => [{ text: `short ${n}`, x: 72, y: 72 }])));
    const reply = await server.call<{ name: string }>(ASYNC_BATCH_ANNOTATE_FILES, {
      requests: [fileRequest('gs://docs/pair/long.pdf', 'gs://results/pair/long/', { batchSize: 5 }), fileRequest('gs://docs/pair/short.pdf', 'gs://results/pair/short/', { batchSize: 2 })],
    });
    const { operation } = await server.client.wait(reply.name, 15_000);
    assert.equal(operation.done, true);
    assert.equal(operation.error, undefined, JSON.stringify(operation.error));
    const long = JSON.parse(readFileSync(server.pathOf('gs://results/pair/long/output-1-to-5.json'), 'utf8')) as Shard;
    assert.deepEqual(
      long.responses.map((response) => response.error?.message ?? response.fullTextAnnotation?.text),
      [1, 2, 3, 4, 5].map((n) => `long ${n}\n`),
    );
    const short = JSON.parse(readFileSync(server.pathOf('gs://results/pair/short/output-1-to-2.json'), 'utf8')) as Shard;
    assert.deepEqual(short.responses.map((response) => response.error?.message ?? response.fullTextAnnotation?.text), ['short 1\n', 'short 2\n']);
  });

  it('returns every readable page of every file with its words, round after round', { timeout: 50_000 }, async () => {
    const random = seededRandom(SEED);
    const between = (low: number, high: number) => low + Math.floor(random() * (high - low + 1));
    const brokenPdf = await makePdfWithBrokenPage();
    const problems: string[] = [];
    let checked = 0;
    for (let round = 1; round <= ROUNDS; round++) {
      const requests: PlannedFile[][] = [];
      for (let r = 1; r <= REQUESTS_PER_ROUND; r++) {
        const files: PlannedFile[] = [];
        const fileCount = between(1, 4);
        for (let f = 1; f <= fileCount; f++) {
          const name = `r${round}q${r}f${f}`;
          const uri = `gs://docs/concurrent/${name}.pdf`;
          const output = `gs://results/concurrent/${name}/`;
          // Each round, one file is the PDF whose page 2 is broken (pdf.js counts 2 pages in it): its error must stay.
          if (r === 1 && f === 1) {
            server.put(uri, brokenPdf);
            files.push({ uri, output, batchSize: between(1, 3), pages: ['first\n', null] });
            continue;
          }
          const words = Array.from({ length: between(1, 8) }, (_, i) => `Page${i + 1} of ${name}`);
          server.put(uri, await makePdf(words.map((text) => [{ text, x: 72, y: 72 }])));
          files.push({ uri, output, batchSize: between(1, 3), pages: words.map((text) => `${text}\n`) });
        }
        requests.push(files);
      }

      const operations = await Promise.all(
        requests.map(async (files) => {
          const reply = await server.call<{ name: string }>(ASYNC_BATCH_ANNOTATE_FILES, {
            requests: files.map((file) => fileRequest(file.uri, file.output, { batchSize: file.batchSize })),
          });
          return (await server.client.wait(reply.name, 30_000)).operation;
        }),
      );
      for (const operation of operations) {
        assert.equal(operation.done, true, `round ${round}: ${operation.name} did not finish in time`);
        assert.equal(operation.error, undefined, `round ${round}: ${JSON.stringify(operation.error)}`);
      }

      for (const file of requests.flat()) {
        const pageCount = file.pages.length;
        const expectedShards: string[] = [];
        for (let first = 1; first <= pageCount; first += file.batchSize) {
          expectedShards.push(`output-${first}-to-${Math.min(first + file.batchSize - 1, pageCount)}.json`);
        }
        assert.deepEqual(readdirSync(server.pathOf(file.output)).sort(), expectedShards.sort(), `${file.uri}: shards`);
        for (const shardName of expectedShards) {
          const shard = JSON.parse(readFileSync(server.pathOf(file.output + shardName), 'utf8')) as Shard;
          const [, first, last] = /^output-(\d+)-to-(\d+)\.json$/.exec(shardName)!.map(Number) as [number, number, number];
          assert.equal(shard.totalPages, pageCount, `${file.uri}: totalPages`);
          assert.deepEqual(
            shard.responses.map((response) => response.context),
            Array.from({ length: last - first + 1 }, (_, i) => ({ uri: file.uri, pageNumber: first + i })),
            `${file.uri} ${shardName}: pages`,
          );
          for (const response of shard.responses) {
            const number = response.context.pageNumber;
            const expected = file.pages[number - 1]!;
            checked++;
            if (expected === null) {
              // A page that truly cannot be parsed keeps its own error, and nothing else of it.
              assert.equal(response.error?.code, Code.INVALID_ARGUMENT, `${file.uri} page ${number}: ${JSON.stringify(response)}`);
              assert.match(response.error.message, new RegExp(`^Page ${number} of ${file.uri.replaceAll('/', '\\/')} could not be parsed`));
              assert.equal(response.fullTextAnnotation, undefined);
            } else if (response.error !== undefined || response.fullTextAnnotation?.text !== expected) {
              problems.push(`round ${round}: ${file.uri} page ${number}: ${JSON.stringify(response.error ?? response.fullTextAnnotation?.text)}`);
            }
          }
        }
      }
    }
    assert.deepEqual(problems, [], `${problems.length} of ${checked} pages lost (seed ${SEED})`);
  });
});
