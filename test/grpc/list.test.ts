import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { status } from '@grpc/grpc-js';
import { SLEEP_METHOD } from '../../src/sleeper/sleeper.js';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { errorInfoOf, rejectsWith } from '../helpers/status.js';

describe('ListOperations', { timeout: 180_000 }, () => {
  let server: TestServer;
  const top: string[] = []; // newest last
  const underParent: string[] = [];
  const cancelled: string[] = [];
  const PARENT = 'projects/p/locations/l';

  const create = async (parent = '') => (await server.longrun.create(SLEEP_METHOD, { parent })).name;

  before(async () => {
    // No runner: operations stay pending unless cancelled, so the listing is fully known.
    // A clock that ticks on every read, so creation order is strictly newest-first.
    let now = Date.now();
    server = await startTestServer({ runner: false, clock: { now: () => now++ } });
    for (let i = 0; i < 7; i++) top.push(await create());
    for (let i = 0; i < 60; i++) underParent.push(await create(PARENT));
    for (const name of top.slice(0, 2)) {
      await server.client.cancel(name);
      cancelled.push(name);
    }
  });
  after(() => server.close());

  async function listAll(params: { name?: string; filter?: string; pageSize?: number }): Promise<{ names: string[]; pages: number }> {
    const names: string[] = [];
    let pageToken = '';
    let pages = 0;
    do {
      const page = await server.client.list({ ...params, pageToken });
      names.push(...page.operations.map((o) => o.name));
      pageToken = page.nextPageToken;
      pages++;
    } while (pageToken !== '');
    return { names, pages };
  }

  it('lists the collection newest first in pages, with an empty token only at the end', async () => {
    const { names, pages } = await listAll({ name: 'operations', pageSize: 3 });
    assert.deepEqual(names, [...top].reverse());
    assert.equal(pages, 3);
  });

  it('accepts the parent with or without the /operations suffix, and keeps collections apart', async () => {
    const a = await listAll({ name: PARENT, pageSize: 1000 });
    const b = await listAll({ name: `${PARENT}/operations`, pageSize: 1000 });
    assert.deepEqual(a.names, [...underParent].reverse());
    assert.deepEqual(b.names, a.names);
  });

  it('uses 50 for page_size 0 and coerces more than 1000 to 1000', async () => {
    const defaultPage = await server.client.list({ name: PARENT, pageSize: 0 });
    assert.equal(defaultPage.operations.length, 50);
    assert.notEqual(defaultPage.nextPageToken, '');
    const bigPage = await server.client.list({ name: PARENT, pageSize: 5000 });
    assert.equal(bigPage.operations.length, 60);
    assert.equal(bigPage.nextPageToken, '');
  });

  it('refuses a negative page_size with INVALID_ARGUMENT naming it', async () => {
    const error = await rejectsWith(server.client.list({ pageSize: -1 }), status.INVALID_ARGUMENT, /^page_size: /);
    assert.equal(errorInfoOf(error).metadata['field'], 'page_size');
  });

  it('stays stable when operations are inserted between pages', async () => {
    // A collection of its own: the insertions must not change what the other tests list.
    const collection = 'projects/p/locations/inserted';
    const originals: string[] = [];
    for (let i = 0; i < 50; i++) originals.push(await create(collection));
    const first = await server.client.list({ name: collection, pageSize: 20 });
    const inserted = [await create(collection), await create(collection)];
    const rest: string[] = [];
    let pageToken = first.nextPageToken;
    while (pageToken !== '') {
      const page = await server.client.list({ name: collection, pageSize: 20, pageToken });
      rest.push(...page.operations.map((o) => o.name));
      pageToken = page.nextPageToken;
    }
    const seen = [...first.operations.map((o) => o.name), ...rest];
    assert.deepEqual(seen, [...originals].reverse(), 'every original exactly once, in order');
    assert.ok(inserted.every((name) => !seen.includes(name)));
  });

  it('binds the page token to name and filter, and detects tampering', async () => {
    const page = await server.client.list({ name: 'operations', pageSize: 2, filter: 'done = false' });
    let error = await rejectsWith(
      server.client.list({ name: 'operations', pageSize: 2, filter: 'done = true', pageToken: page.nextPageToken }),
      status.INVALID_ARGUMENT,
      /page_token/,
    );
    assert.equal(errorInfoOf(error).reason, 'INVALID_PAGE_TOKEN');
    await rejectsWith(server.client.list({ name: PARENT, pageSize: 2, filter: 'done = false', pageToken: page.nextPageToken }), status.INVALID_ARGUMENT);
    const token = page.nextPageToken;
    const tampered = token.slice(0, 5) + (token[5] === 'A' ? 'B' : 'A') + token.slice(6);
    error = await rejectsWith(server.client.list({ name: 'operations', pageSize: 2, filter: 'done = false', pageToken: tampered }), status.INVALID_ARGUMENT);
    assert.equal(errorInfoOf(error).reason, 'INVALID_PAGE_TOKEN');
    await rejectsWith(server.client.list({ pageToken: 'not-a-token' }), status.INVALID_ARGUMENT, /page_token/);
  });

  describe('filter', () => {
    const running = () => top.filter((n) => !cancelled.includes(n)).reverse();
    const prefix = () => top[3]!.slice(0, 14);
    // Filters and expectations are functions: the names exist only once `before` has run.
    const cases: [string, () => string, () => string[]][] = [
      ['done = true', () => 'done = true', () => [...cancelled].reverse()],
      ['done = false', () => 'done = false', running],
      ['NOT done = true', () => 'NOT done = true', running],
      ['error.code = CANCELLED', () => 'error.code = CANCELLED', () => [...cancelled].reverse()],
      ['error.code = 1 OR error.code = 5', () => 'error.code = 1 OR error.code = 5', () => [...cancelled].reverse()],
      ['error.code:*', () => 'error.code:*', () => [...cancelled].reverse()],
      ['-error.code:*', () => '-error.code:*', running],
      ['exact name', () => `name = "${top[3]}"`, () => [top[3]!]],
      ['name wildcard', () => `name = "${prefix()}*"`, () => top.filter((n) => n.startsWith(prefix())).reverse()],
      ['wildcard AND done', () => 'name = "operations/*" AND done = true', () => [...cancelled].reverse()],
      ['time range', () => 'create_time > "2000-01-01T00:00:00Z" AND create_time < 2999-01-01T00:00:00Z', () => [...top].reverse()],
      ['no match', () => 'update_time < "2000-01-01T00:00:00Z"', () => []],
    ];
    for (const [title, filter, expected] of cases) {
      it(`selects with ${title}`, async () => {
        const { names } = await listAll({ name: 'operations', filter: filter(), pageSize: 2 });
        assert.deepEqual(names, expected());
      });
    }

    it('names the position of a syntax error', async () => {
      const error = await rejectsWith(server.client.list({ filter: 'done = (true' }), status.INVALID_ARGUMENT, /^filter: .*position \d+/);
      assert.equal(errorInfoOf(error).reason, 'INVALID_FILTER');
    });

    it('names an unknown field', async () => {
      await rejectsWith(server.client.list({ filter: 'owner = "x"' }), status.INVALID_ARGUMENT, /unknown field "owner"/);
    });
  });

  it('answers return_partial_success with UNIMPLEMENTED', async () => {
    const error = await rejectsWith(
      new Promise((resolve, reject) =>
        (server.client as unknown as { client: { ListOperations: Function } }).client.ListOperations(
          { name: 'operations', returnPartialSuccess: true },
          (e: Error | null, r: unknown) => (e ? reject(e) : resolve(r)),
        ),
      ),
      status.UNIMPLEMENTED,
    );
    assert.equal(errorInfoOf(error).reason, 'PARTIAL_SUCCESS_UNSUPPORTED');
  });
});
