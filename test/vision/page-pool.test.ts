import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { describe, it } from 'node:test';
import type * as Utif from 'utif2';
import { PagePool } from '../../src/vision/page-pool.js';
import { makePdf } from './fixtures.js';

const UTIF = createRequire(import.meta.url)('utif2') as typeof Utif;

/** A one-page TIFF whose LZW data is garbage on which utif2's decoder never ends. */
function endlessTiff(): Uint8Array {
  const data = new Uint8Array(500).fill(255);
  const directory = (offset: number) =>
    [{ t256: [100], t257: [50], t258: [8], t259: [5], t262: [1], t273: [offset], t277: [1], t278: [50], t279: [data.length] }] as unknown as Utif.IFD[];
  const header = UTIF.encode(directory(0)).byteLength;
  const file = new Uint8Array(header + data.length);
  file.set(new Uint8Array(UTIF.encode(directory(header))));
  file.set(data, header);
  return file;
}

describe('Vision page pool', { timeout: 120_000 }, () => {
  it('gives a page that never finishes DEADLINE_EXCEEDED in its response, and goes on with a new worker', async () => {
    const pool = new PagePool({ size: 1, pageTimeoutMs: 10_000 });
    const endless = await pool.open(endlessTiff(), 'gs://docs/endless.tiff', 'image/tiff', { model: 'eng' });
    const started = Date.now();
    const stuck = JSON.parse(Buffer.from((await endless.annotate(1)).json).toString('utf8')) as { error: { code: number; message: string }; context: unknown };
    assert.ok(Date.now() - started >= 10_000);
    assert.equal(stuck.error.code, 4); // google.rpc.Code.DEADLINE_EXCEEDED
    assert.match(stuck.error.message, /^Page 1 of gs:\/\/docs\/endless\.tiff was not done within 10 s and was abandoned/);
    assert.deepEqual(stuck.context, { uri: 'gs://docs/endless.tiff', pageNumber: 1 });
    endless.close();

    // The stuck thread was ended; the next document is read by a fresh one. A text-layer page, so
    // that starting an OCR engine on a loaded machine cannot run into the (short) limit.
    const good = await pool.open(await makePdf([[{ text: 'After the timeout', x: 72, y: 72 }]]), 'gs://docs/good.pdf', 'application/pdf', { model: 'eng' });
    const page = JSON.parse(Buffer.from((await good.annotate(1)).json).toString('utf8')) as { fullTextAnnotation: { text: string } };
    assert.equal(page.fullTextAnnotation?.text, 'After the timeout\n', JSON.stringify(page));
    good.close();
  });
});
