import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { tempDir } from '../helpers/temp.js';
import { makeGif, renderScan } from './scans.js';

// Loaded before anything else in the process and in each of its worker threads (tesseract.js runs
// its engine in one): every way out to the network fails and is written down.
const NO_NETWORK = `
const fs = require('node:fs');
const refuse = (what) => { fs.appendFileSync(process.env.NETWORK_LOG, what + '\\n'); throw new Error('no network in this test: ' + what); };
require('node:net').Socket.prototype.connect = function (options) { refuse('connect ' + JSON.stringify(options)); };
require('node:dns').lookup = (host) => refuse('lookup ' + host);
globalThis.fetch = async (url) => refuse('fetch ' + url);
`;

// OCR of one page through the page pool, then a fetch from a worker thread, proving the guard holds there.
const SCRIPT = `
import { readFileSync } from 'node:fs';
import { Worker } from 'node:worker_threads';
const { PagePool } = await import(process.env.POOL_MODULE);
const pool = new PagePool({ size: 1 });
const document = await pool.open(readFileSync(process.env.IMAGE), 'gs://docs/scan.gif', 'image/gif', { model: 'eng' });
const page = JSON.parse(Buffer.from((await document.annotate(1)).json).toString('utf8'));
console.log(JSON.stringify(page.fullTextAnnotation?.text ?? page.error));
document.close();
const probe = new Worker("fetch('http://127.0.0.1:9/eng.traineddata.gz').catch(() => undefined)", { eval: true });
await new Promise((resolve) => probe.on('exit', resolve));
process.exit(0);
`;

describe('Vision OCR offline', { timeout: 120_000 }, () => {
  it('recognises a page with every network call refused: the model comes from the installed package', async () => {
    const dir = tempDir('longrun-offline-');
    try {
      writeFileSync(dir.file('no-network.cjs'), NO_NETWORK);
      writeFileSync(dir.file('ocr.mjs'), SCRIPT);
      writeFileSync(dir.file('network.log'), '');
      writeFileSync(dir.file('scan.gif'), makeGif(renderScan([{ text: 'Read without network', x: 60, y: 200 }])));
      const env = {
        ...process.env,
        NETWORK_LOG: dir.file('network.log'),
        IMAGE: dir.file('scan.gif'),
        POOL_MODULE: new URL('../../src/vision/page-pool.js', import.meta.url).href,
      };
      const stdout = await new Promise<string>((resolve, reject) =>
        execFile(process.execPath, ['--require', dir.file('no-network.cjs'), dir.file('ocr.mjs')], { env, cwd: dir.path, timeout: 90_000 }, (error, out, err) =>
          error ? reject(new Error(`${error.message}\n${out}\n${err}`)) : resolve(out),
        ),
      );
      assert.equal(stdout.trim(), JSON.stringify('Read without network\n'));
      // The only attempt is the probe's: the guard works in worker threads, and OCR made none.
      assert.deepEqual(readFileSync(dir.file('network.log'), 'utf8').trim().split('\n'), ['fetch http://127.0.0.1:9/eng.traineddata.gz']);
    } finally {
      dir.remove();
    }
  });
});
