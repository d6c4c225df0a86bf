/** What a newcomer meets first: the banner names the console, and the bare address leads to it. */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { http } from '../helpers/http.js';
import { httpAddressOf, spawnServer, type ServerProcess } from '../helpers/process.js';
import { tempDir } from '../helpers/temp.js';

describe('the front door of longrun serve', { timeout: 120_000 }, () => {
  const dir = tempDir();
  let server: ServerProcess;
  let base: string;
  before(async () => {
    server = await spawnServer(dir.file('longrun.db'));
    base = await httpAddressOf(server);
  });
  after(async () => {
    await server?.stop();
    dir.remove();
  });

  it('prints the console URL beside the HTTP address', () => {
    assert.match(server.stdout(), new RegExp(`^longrun console on ${base}/console/$`, 'm'));
  });

  it('GET / redirects to the console, which answers', async () => {
    const root = await http('GET', `${base}/`);
    assert.equal(root.status, 302);
    assert.equal(root.headers['location'], '/console/');
    const page = await http('GET', `${base}/console/`);
    assert.equal(page.status, 200);
    assert.match(String(page.headers['content-type']), /text\/html/);
    assert.equal((await http('POST', `${base}/`, { body: {} })).status, 404, 'only a read is redirected');
  });
});
