import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import Database from 'better-sqlite3';
import pg from 'pg';
import { parseFilter } from '../../src/domain/filter.js';
import { POSTGRES_DIALECT } from '../../src/store/sql/dialect.js';
import { SQLITE_DIALECT, filterToSql, type SqlDialect } from '../../src/store/sql/filter.js';
import { stopTestPostgres, testPostgres, type TestDatabase } from '../helpers/postgres.js';

const T0 = Date.UTC(2026, 0, 1);
const MINUTE = 60_000;

/** [name, done, error_code]; row i is created at T0 + i minutes and, when done, updated 30 s later. */
const ROWS: [string, 0 | 1, number | null][] = [
  ['operations/a1', 0, null], // 0
  ['operations/a2', 1, null], // 1
  ['operations/a3', 1, 1], // 2
  ['operations/a4', 1, 5], // 3
  ['operations/A1', 1, 1], // 4
  ['operations/b1', 0, null], // 5
  ['operations/b?', 1, 13], // 6
  ['operations/b[1]', 1, null], // 7
  ['operations/b]', 0, null], // 8
  ['operations/b%', 1, 5], // 9
  ['operations/b_', 0, null], // 10
  ['operations/bx', 1, 16], // 11
  ['operations/ab*c', 0, null], // 12
  ['operations/abzc', 1, 2], // 13
  ['projects/p/operations/c1', 0, null], // 14
  ['projects/p/operations/c2', 1, 3], // 15
  ['projects/q/operations/d1', 1, null], // 16
  ['projects/P/operations/E1', 0, null], // 17
  ['operations/a1x', 1, 4], // 18
  ['operations/zz', 1, 5], // 19
];
const ALL = ROWS.map((_, i) => i);
const DONE = [1, 2, 3, 4, 6, 7, 9, 11, 13, 15, 16, 18, 19];
const NOT_DONE = [0, 5, 8, 10, 12, 14, 17];
const NO_ERROR = [0, 1, 5, 7, 8, 10, 12, 14, 16, 17];
const FAILED = [2, 3, 4, 6, 9, 11, 13, 15, 18, 19];
const CODE_5 = [3, 9, 19];
const A_STAR = [0, 1, 2, 3, 12, 13, 18];
const except = (excluded: number[]) => ALL.filter((i) => !excluded.includes(i));
/** Code-unit order, as SQLite's BINARY collation and PostgreSQL's "C" sort. */
const byCodeUnit = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);
const namesOf = (rows: number[]) => rows.map((i) => ROWS[i]![0]).sort(byCodeUnit);

const CASES: [filter: string, expected: number[]][] = [
  // done
  ['done = true', DONE],
  ['done != false', DONE],
  ['-done=true', NOT_DONE],
  ['NOT done = true', NOT_DONE],
  // error.code, NULL-safe: no error is code 0
  ['error.code = 5', CODE_5],
  ['error.code = NOT_FOUND', CODE_5],
  ['NOT error.code = 5', except(CODE_5)],
  ['error.code != 5', except(CODE_5)],
  ['-(error.code = 5)', except(CODE_5)],
  ['error.code = 0', NO_ERROR],
  ['error.code = OK', NO_ERROR],
  ['error.code != 0', FAILED],
  ['error.code:*', FAILED],
  ['-error.code:*', NO_ERROR],
  ['error.code >= 5', [3, 6, 9, 11, 19]],
  ['error.code < 3', [...NO_ERROR, 2, 4, 13]],
  ['NOT error.code > 3', [...NO_ERROR, 2, 4, 13, 15]],
  ['error.code = CANCELLED OR error.code = NOT_FOUND', [2, 3, 4, 9, 19]],
  ['NOT (error.code = 5 OR error.code = 1)', except([2, 3, 4, 9, 19])],
  // OR binds tighter than AND: err=0 AND (done OR err=5); left to right would add 3, 9, 19.
  ['error.code = 0 AND done = true OR error.code = 5', [1, 7, 16]],
  ['(error.code = 0 AND done = true) OR error.code = 5', [1, 7, 16, ...CODE_5]],
  ['done = true error.code = 1', [2, 4]],
  // name: exact, case-sensitive, `*` the only wildcard
  ['name = "operations/a1"', [0]],
  ['name = "operations/b?"', [6]],
  ['name = "operations/a*"', A_STAR],
  ['name != "operations/a*"', except(A_STAR)],
  ['-name:"operations/a*"', except(A_STAR)],
  ['name = "operations/b?*"', [6]],
  ['name = "operations/b[1]*"', [7]],
  ['name = "operations/b[1]"', [7]],
  ['name = "*]"', [7, 8]],
  ['name = "operations/b%*"', [9]],
  ['name = "operations/b_*"', [10]],
  ['name = "*b_"', [10]],
  ['name = "operations/ab*c"', [12, 13]],
  ['name = "operations/*1*"', [0, 4, 5, 7, 18]],
  ['name = "projects/*/operations/*"', [14, 15, 16, 17]],
  ['name = "projects/p/*"', [14, 15]],
  ['name = "*"', ALL],
  ["name = \"x' OR 1=1 --\"", []],
  // times: epoch ms, offsets, sub-millisecond digits
  ['create_time >= 2026-01-01T00:05:00Z AND create_time < "2026-01-01T00:08:00Z"', [5, 6, 7]],
  ['create_time > 2026-01-01T01:04:00+01:00', except([0, 1, 2, 3, 4])],
  ['create_time = 2026-01-01T00:02:00Z', [2]],
  ['create_time = 2026-01-01T00:02:00.0000001Z', []],
  ['create_time <= 2026-01-01T00:02:00.000000001Z', [0, 1, 2]],
  ['create_time < 2026-01-01T00:02:00.000000001Z', [0, 1, 2]],
  ['create_time >= 2026-01-01T00:02:00.000000001Z', except([0, 1, 2])],
  ['create_time > 2026-01-01T00:02:00.000000001Z', except([0, 1, 2])],
  ['update_time >= 2026-01-01T00:19:30Z', [19]],
  ['update_time != 2026-01-01T00:00:00Z', except([0])],
  ['updateTime > 2026-01-01T00:18:00Z', [18, 19]],
  // presence of always-present fields
  ['name:* AND done:* AND create_time:* AND update_time:*', ALL],
  ['NOT create_time:*', []],
  // mixes
  ['(done = false OR error.code = 5) -name = "projects/*"', [0, 3, 5, 8, 9, 10, 12, 19]],
  // done AND ((NOT name = ...) OR failed)
  ['done = true AND NOT name = "operations/*" OR error.code:*', [2, 3, 4, 6, 9, 11, 13, 15, 16, 18, 19]],
];

describe('filterToSql over SQLite', { timeout: 180_000 }, () => {
  let db: Database.Database;

  before(() => {
    db = new Database(':memory:');
    db.exec(`CREATE TABLE operations (
      name TEXT NOT NULL UNIQUE, done INTEGER NOT NULL, error_code INTEGER,
      create_time INTEGER NOT NULL, update_time INTEGER NOT NULL)`);
    const insert = db.prepare('INSERT INTO operations VALUES (?, ?, ?, ?, ?)');
    ROWS.forEach(([name, done, errorCode], i) => {
      const created = T0 + i * MINUTE;
      insert.run(name, done, errorCode, created, created + done * 30_000);
    });
  });

  after(() => db.close());

  function select(filter: string): string[] {
    const expr = parseFilter(filter);
    assert.ok(expr);
    const { sql, params } = filterToSql(expr);
    assert.equal(sql.split('?').length - 1, params.length, 'one parameter per placeholder');
    const rows = db.prepare(`SELECT name FROM operations WHERE ${sql} ORDER BY name`).all(...params) as { name: string }[];
    return rows.map((row) => row.name);
  }

  for (const [filter, expected] of CASES) {
    it(`selects ${filter}`, () => {
      assert.deepEqual(select(filter), namesOf(expected));
    });
  }

  it('never puts values in the SQL text', () => {
    const { sql, params } = filterToSql(parseFilter(`name = "x' OR 1=1 --" OR name = "a?*" OR create_time > 2026-01-01T00:00:00Z OR error.code = 7`)!);
    assert.doesNotMatch(sql, /x'|1=1|a\?|7|2026/);
    assert.deepEqual(params, ["x' OR 1=1 --", 'a[?]*', T0, 7]);
  });

  it('keeps NOT two-valued over the nullable error_code', () => {
    // Every filter and its negation split the rows in two, with nothing lost to NULL.
    for (const [filter] of CASES) {
      const yes = select(filter);
      const no = select(`NOT (${filter})`);
      assert.equal(yes.length + no.length, ROWS.length, filter);
      assert.deepEqual(new Set([...yes, ...no]).size, ROWS.length, filter);
    }
  });

  it('translates each leaf as documented', () => {
    const sqlOf = (filter: string) => filterToSql(parseFilter(filter)!);
    assert.deepEqual(sqlOf('done = true'), { sql: '(done = ?)', params: [1] });
    assert.deepEqual(sqlOf('done != true'), { sql: '(done <> ?)', params: [1] });
    assert.deepEqual(sqlOf('name = "a"'), { sql: '(name = ?)', params: ['a'] });
    assert.deepEqual(sqlOf('name != "a*[x]?"'), { sql: '(NOT name GLOB ?)', params: ['a*[[]x][?]'] });
    assert.deepEqual(sqlOf('error.code != 5'), { sql: '(COALESCE(error_code, 0) <> ?)', params: [5] });
    assert.deepEqual(sqlOf('error.code:*'), { sql: '(error_code IS NOT NULL)', params: [] });
    assert.deepEqual(sqlOf('name:*'), { sql: '(1 = 1)', params: [] });
    assert.deepEqual(sqlOf('update_time <= 1970-01-01T00:00:01Z'), { sql: '(update_time <= ?)', params: [1000] });
    assert.deepEqual(sqlOf('-done=true error.code=1 OR error.code=2'), {
      sql: '((NOT (done = ?)) AND ((COALESCE(error_code, 0) = ?) OR (COALESCE(error_code, 0) = ?)))',
      params: [1, 1, 2],
    });
  });

  it('leaves placeholders and wildcard matching to the dialect', () => {
    const numbered: SqlDialect = {
      placeholder: (index) => `$${index + 2}`,
      boolean: (value) => (value ? 1 : 0),
      indexHint: () => '',
      limit: (placeholder) => placeholder,
      wildcardMatch: (column, placeholder) => `${column} LIKE ${placeholder} ESCAPE '\\'`,
      wildcardPattern: (value) => value.replace(/[\\%_]/g, '\\$&').replaceAll('*', '%'),
    };
    assert.deepEqual(filterToSql(parseFilter('done = true AND (name = "a_*" OR error.code = 5)')!, numbered), {
      sql: "((done = $3) AND ((name LIKE $4 ESCAPE '\\') OR (COALESCE(error_code, 0) = $5)))",
      params: [1, 'a\\_%', 5],
    });
    assert.deepEqual(filterToSql(parseFilter('done = true')!), filterToSql(parseFilter('done = true')!, SQLITE_DIALECT));
  });
});

// The same table, through the PostgreSQL dialect (LIKE with its escapes, $n placeholders, a real
// boolean column), on a real server: the two backends must select the same rows for every filter.
describe('filterToSql over PostgreSQL', { timeout: 180_000 }, () => {
  let database: TestDatabase;
  let client: pg.Client;

  before(async () => {
    database = await (await testPostgres()).freshDatabase();
    client = new pg.Client({ connectionString: database.url });
    await client.connect();
    await client.query(`CREATE TABLE operations (
      name TEXT NOT NULL UNIQUE, done BOOLEAN NOT NULL, error_code INTEGER,
      create_time BIGINT NOT NULL, update_time BIGINT NOT NULL)`);
    for (const [i, [name, done, errorCode]] of ROWS.entries()) {
      const created = T0 + i * MINUTE;
      await client.query('INSERT INTO operations VALUES ($1, $2, $3, $4, $5)', [name, done === 1, errorCode, created, created + done * 30_000]);
    }
  });

  after(async () => {
    await client?.end();
    await database?.drop();
    await stopTestPostgres();
  });

  async function select(filter: string): Promise<string[]> {
    const expr = parseFilter(filter);
    assert.ok(expr);
    const { sql, params } = filterToSql(expr, POSTGRES_DIALECT);
    assert.equal(new Set(sql.match(/\$\d+/g) ?? []).size, params.length, 'one parameter per placeholder');
    const { rows } = await client.query<{ name: string }>(`SELECT name FROM operations WHERE ${sql} ORDER BY name COLLATE "C"`, params);
    return rows.map((row) => row.name);
  }

  it('selects the same rows as the table says, for every filter', async () => {
    for (const [filter, expected] of CASES) assert.deepEqual(await select(filter), namesOf(expected), filter);
  });

  it('keeps NOT two-valued over the nullable error_code', async () => {
    for (const [filter] of CASES) {
      const yes = await select(filter);
      const no = await select(`NOT (${filter})`);
      assert.equal(yes.length + no.length, ROWS.length, filter);
      assert.equal(new Set([...yes, ...no]).size, ROWS.length, filter);
    }
  });
});
