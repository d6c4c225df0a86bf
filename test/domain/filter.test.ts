import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Code, LongrunError } from '../../src/domain/errors.js';
import { seededRandom } from '../helpers/random.js';
import {
  FILTER_SUBSET,
  MAX_FILTER_DEPTH,
  MAX_FILTER_LENGTH,
  parseFilter,
  parseTimestamp,
  type Comparator,
  type FilterExpr,
} from '../../src/domain/filter.js';

const done = (value: boolean, op: '=' | '!=' = '='): FilterExpr => ({ kind: 'compare', field: 'done', op, value });
const code = (value: number, op: Comparator = '='): FilterExpr => ({ kind: 'compare', field: 'error.code', op, value });
const name = (value: string, op: '=' | '!=' = '='): FilterExpr => ({ kind: 'compare', field: 'name', op, value, wildcard: value.includes('*') });
const T = Date.UTC(2026, 0, 2, 3, 4, 5);

/** Asserts `parseFilter(text)` throws INVALID_ARGUMENT / INVALID_FILTER whose message matches. */
function rejects(text: string, message: RegExp | string): LongrunError {
  let caught: unknown;
  try {
    parseFilter(text);
  } catch (error) {
    caught = error;
  }
  assert.ok(caught instanceof LongrunError, `expected a LongrunError for ${JSON.stringify(text)}, got ${String(caught)}`);
  assert.equal(caught.code, Code.INVALID_ARGUMENT);
  assert.equal(caught.reason, 'INVALID_FILTER');
  assert.equal(caught.metadata.field, 'filter');
  assert.match(caught.message, /^filter: /);
  if (typeof message === 'string') assert.equal(caught.message, message);
  else assert.match(caught.message, message);
  return caught;
}

describe('parseFilter', { timeout: 180_000 }, () => {
  it('returns undefined for empty and blank filters', () => {
    assert.equal(parseFilter(''), undefined);
    assert.equal(parseFilter('  \t\n '), undefined);
  });

  describe('boolean structure', () => {
    it('binds OR tighter than AND, as AIP-160 says', () => {
      assert.deepEqual(parseFilter('done = true AND error.code = 1 OR error.code = 5'), {
        kind: 'and',
        terms: [done(true), { kind: 'or', terms: [code(1), code(5)] }],
      });
      assert.deepEqual(parseFilter('error.code = 1 OR error.code = 5 AND done = true'), {
        kind: 'and',
        terms: [{ kind: 'or', terms: [code(1), code(5)] }, done(true)],
      });
    });

    it('ANDs terms side by side, with OR still binding tighter', () => {
      assert.deepEqual(parseFilter('done=true error.code=5'), { kind: 'and', terms: [done(true), code(5)] });
      assert.deepEqual(parseFilter('done=true error.code=1 OR error.code=5'), {
        kind: 'and',
        terms: [done(true), { kind: 'or', terms: [code(1), code(5)] }],
      });
    });

    it('flattens chains of one operator', () => {
      assert.deepEqual(parseFilter('error.code=1 OR error.code=2 OR error.code=3'), {
        kind: 'or',
        terms: [code(1), code(2), code(3)],
      });
      assert.deepEqual(parseFilter('done=true AND error.code=2 AND error.code=3'), {
        kind: 'and',
        terms: [done(true), code(2), code(3)],
      });
    });

    it('negates with NOT and -', () => {
      assert.deepEqual(parseFilter('NOT done = true'), { kind: 'not', term: done(true) });
      assert.deepEqual(parseFilter('-done=true'), { kind: 'not', term: done(true) });
      assert.deepEqual(parseFilter('NOT(done=true)'), { kind: 'not', term: done(true) });
      assert.deepEqual(parseFilter('NOT NOT done=true'), { kind: 'not', term: { kind: 'not', term: done(true) } });
      assert.deepEqual(parseFilter('done=false -error.code:*'), {
        kind: 'and',
        terms: [done(false), { kind: 'not', term: { kind: 'present', field: 'error.code' } }],
      });
      // NOT applies to one simple term, below OR.
      assert.deepEqual(parseFilter('NOT done=true OR error.code=5'), {
        kind: 'or',
        terms: [{ kind: 'not', term: done(true) }, code(5)],
      });
    });

    it('groups with parentheses', () => {
      assert.deepEqual(parseFilter('(done = true AND error.code = 1) OR error.code = 5'), {
        kind: 'or',
        terms: [{ kind: 'and', terms: [done(true), code(1)] }, code(5)],
      });
      assert.deepEqual(parseFilter(' ( ( done=true ) ) '), done(true));
      assert.deepEqual(parseFilter('-(done=true OR error.code=2)'), {
        kind: 'not',
        term: { kind: 'or', terms: [done(true), code(2)] },
      });
      assert.deepEqual(parseFilter('done=true(error.code=1)'), { kind: 'and', terms: [done(true), code(1)] });
    });

    it('takes keywords only in upper case and as whole words', () => {
      rejects('done=true and error.code=1', /unknown field "and" at position 11/);
      assert.deepEqual(parseFilter('name=AND'), name('AND'));
      rejects('done=true ANDerror.code=1', /unknown field "ANDerror.code" at position 11/);
    });
  });

  describe('fields and comparators', () => {
    it('done: true/false with =, != and :', () => {
      assert.deepEqual(parseFilter('done = true'), done(true));
      assert.deepEqual(parseFilter('done=false'), done(false));
      assert.deepEqual(parseFilter('done != true'), done(true, '!='));
      assert.deepEqual(parseFilter('done:true'), done(true));
      assert.deepEqual(parseFilter('done = "false"'), done(false));
      assert.deepEqual(parseFilter('done:*'), { kind: 'present', field: 'done' });
    });

    it('name: exact values and * wildcards, quoted or bare', () => {
      assert.deepEqual(parseFilter('name = "operations/abc"'), name('operations/abc'));
      assert.deepEqual(parseFilter('name=operations/abc'), name('operations/abc'));
      assert.deepEqual(parseFilter("name != 'operations/abc'"), name('operations/abc', '!='));
      assert.deepEqual(parseFilter('name:"projects/p/*"'), name('projects/p/*'));
      assert.deepEqual(parseFilter('name = "*/operations/*x?[1]"'), {
        kind: 'compare',
        field: 'name',
        op: '=',
        value: '*/operations/*x?[1]',
        wildcard: true,
      });
      assert.deepEqual(parseFilter('name:*'), { kind: 'present', field: 'name' });
      // A quoted "*" is a value (a wildcard matching every name), not presence.
      assert.deepEqual(parseFilter('name:"*"'), name('*'));
    });

    it('reads backslash escapes and both quote styles', () => {
      assert.deepEqual(parseFilter(String.raw`name = "a\"b\\c\d"`), name('a"b\\cd'));
      assert.deepEqual(parseFilter(String.raw`name = 'it\'s "x"'`), name(`it's "x"`));
      assert.deepEqual(parseFilter('name = "with space) AND ("'), name('with space) AND ('));
      assert.deepEqual(parseFilter('name = ""'), name(''));
    });

    it('error.code: numbers, code names, every comparator, and presence', () => {
      assert.deepEqual(parseFilter('error.code = 5'), code(5));
      assert.deepEqual(parseFilter('error.code = NOT_FOUND'), code(Code.NOT_FOUND));
      assert.deepEqual(parseFilter('error.code = "CANCELLED"'), code(Code.CANCELLED));
      assert.deepEqual(parseFilter('error.code = deadline_exceeded'), code(Code.DEADLINE_EXCEEDED));
      assert.deepEqual(parseFilter('error.code = OK'), code(0));
      assert.deepEqual(parseFilter('error.code = 16'), code(16));
      assert.deepEqual(parseFilter('error.code:9'), code(9));
      for (const op of ['=', '!=', '<', '<=', '>', '>='] as const) {
        assert.deepEqual(parseFilter(`error.code ${op} 3`), code(3, op));
      }
      assert.deepEqual(parseFilter('error.code:*'), { kind: 'present', field: 'error.code' });
    });

    it('create_time and update_time: RFC 3339, quoted or bare, every comparator', () => {
      for (const op of ['=', '!=', '<', '<=', '>', '>='] as const) {
        assert.deepEqual(parseFilter(`create_time ${op} 2026-01-02T03:04:05Z`), { kind: 'compare', field: 'create_time', op, value: T });
        assert.deepEqual(parseFilter(`update_time${op}"2026-01-02T03:04:05Z"`), { kind: 'compare', field: 'update_time', op, value: T });
      }
      assert.deepEqual(parseFilter('create_time:*'), { kind: 'present', field: 'create_time' });
      assert.deepEqual(parseFilter('update_time:2026-01-02T03:04:05Z'), { kind: 'compare', field: 'update_time', op: '=', value: T });
      assert.deepEqual(parseFilter('createTime > 2026-01-02T03:04:05Z'), { kind: 'compare', field: 'create_time', op: '>', value: T });
    });

    it('refuses ordering on done and name, naming the field and operator', () => {
      rejects('done < true', 'filter: done can be compared only with =, != and :, not < (position 6)');
      rejects('name >= "a"', 'filter: name can be compared only with =, != and :, not >= (position 6)');
      rejects('done>false', /done .* not >/);
      rejects('name<=x', /name .* not <=/);
    });
  });

  describe('RFC 3339 timestamps', () => {
    it('converts to epoch milliseconds', () => {
      assert.equal(parseTimestamp('2026-01-02T03:04:05Z'), T);
      assert.equal(parseTimestamp('2026-01-02t03:04:05z'), T);
      assert.equal(parseTimestamp('2026-01-02T04:04:05+01:00'), T);
      assert.equal(parseTimestamp('2026-01-01T22:34:05-04:30'), T);
      assert.equal(parseTimestamp('2026-01-02T03:04:05.123Z'), T + 123);
      assert.equal(parseTimestamp('2026-01-02T03:04:05.1Z'), T + 100);
      assert.equal(parseTimestamp('2026-01-02T03:04:05.120000000Z'), T + 120);
      assert.equal(parseTimestamp('2026-01-02T05:04:05.25+02:00'), T + 250);
      assert.equal(parseTimestamp('1970-01-01T00:00:00Z'), 0);
      assert.equal(parseTimestamp('0001-01-01T00:00:00Z'), -62135596800000);
      assert.equal(parseTimestamp('0050-06-01T00:00:00Z'), new Date('0050-06-01T00:00:00Z').getTime());
      assert.equal(parseTimestamp('2024-02-29T00:00:00Z'), Date.UTC(2024, 1, 29));
    });

    it('adds half a millisecond for sub-millisecond digits, so comparisons with whole ms stay exact', () => {
      assert.equal(parseTimestamp('2026-01-02T03:04:05.123456Z'), T + 123.5);
      assert.equal(parseTimestamp('2026-01-02T03:04:05.000000001Z'), T + 0.5);
      assert.equal(parseTimestamp('2026-01-02T03:04:05.123000Z'), T + 123);
    });

    it('rejects malformed and out-of-range timestamps', () => {
      for (const bad of [
        '2026-01-02',
        '2026-01-02T03:04Z',
        '2026-01-02T03:04:05',
        '2026-01-02 03:04:05Z',
        '2026-1-2T03:04:05Z',
        '2026-01-02T03:04:05.Z',
        '2026-01-02T03:04:05.1234567890Z',
        '2026-01-02T03:04:05+0100',
        '2026-13-01T00:00:00Z',
        '2026-00-01T00:00:00Z',
        '2026-02-29T00:00:00Z',
        '2026-04-31T00:00:00Z',
        '2026-01-00T00:00:00Z',
        '2026-01-02T24:00:00Z',
        '2026-01-02T03:60:00Z',
        '2026-12-31T23:59:60Z',
        '2026-01-02T03:04:05+24:00',
        '1767323045000',
        'yesterday',
      ]) {
        assert.equal(parseTimestamp(bad), undefined, bad);
        rejects(`create_time > "${bad}"`, /^filter: create_time expects an RFC 3339 timestamp .* at position 15$/);
      }
    });
  });

  describe('errors', () => {
    const cases: [string, string | RegExp][] = [
      ['done = true)', "filter: unexpected ')' at position 12"],
      ['(done = true AND error.code = 1))', "filter: unexpected ')' at position 33"],
      ['name = "abc', 'filter: unterminated string starting at position 8'],
      ["name = 'abc\\'", 'filter: unterminated string starting at position 8'],
      ['(done = true', "filter: expected ')' to close the '(' at position 1, found the end of the filter at position 13"],
      ['done = (true', "filter: expected a value, found '(' at position 8"],
      ['done =', 'filter: expected a value, found the end of the filter at position 7'],
      ['done', 'filter: expected a comparator (= != < <= > >= :) after done, found the end of the filter at position 5'],
      ['done ~ true', "filter: expected a comparator (= != < <= > >= :) after done, found '~' at position 6"],
      ['foo = 1', 'filter: unknown field "foo" at position 1; filterable fields are done, name, error.code, create_time, update_time'],
      ['done=true metadata.x = 1', /^filter: unknown field "metadata.x" at position 11;/],
      ['error = 1', /^filter: unknown field "error" at position 1;/],
      ['done = true AND', 'filter: expected a restriction such as done = true, found the end of the filter at position 16'],
      ['done = true OR', 'filter: expected a restriction such as done = true, found the end of the filter at position 15'],
      ['NOT', 'filter: expected a restriction such as done = true, found the end of the filter at position 4'],
      ['-', 'filter: expected a restriction such as done = true, found the end of the filter at position 2'],
      ['done = true AND OR done = false', "filter: expected a restriction, found 'OR' at position 17"],
      ['AND done = true', "filter: expected a restriction, found 'AND' at position 1"],
      ['()', "filter: expected a field name, found ')' at position 2"],
      ['= true', "filter: expected a field name, found '=' at position 1"],
      ['done = yes', 'filter: done expects true or false, got "yes" at position 8'],
      ['done = TRUE', 'filter: done expects true or false, got "TRUE" at position 8'],
      ['error.code = 17', /^filter: error.code expects a google.rpc.Code number \(0-16\) or name such as NOT_FOUND, got "17" at position 14$/],
      ['error.code = -1', /error.code expects .* got "-1" at position 14/],
      ['error.code = NOPE', /error.code expects .* got "NOPE" at position 14/],
      ['error.code = 1.5', /error.code expects .* got "1.5"/],
      ['error.code = *', /error.code expects .* got "\*"/],
      ['error.code = toString', /error.code expects .* got "toString"/],
      ['done:"*"', /done expects true or false, got "\*"/],
      ['update_time < 5', /^filter: update_time expects an RFC 3339 timestamp .* got "5" at position 15$/],
      ['name = "a\u0000b"x=', /unknown field "x" at position 13/],
      ['constructor = 1', /unknown field "constructor"/],
      ['__proto__ = 1', /unknown field "__proto__"/],
    ];
    for (const [text, message] of cases) {
      it(`rejects ${JSON.stringify(text)}`, () => {
        rejects(text, message);
      });
    }

    it('keeps control characters out of messages', () => {
      const error = rejects('done = "\u0001\u001b[31m"', /done expects true or false/);
      assert.doesNotMatch(error.message, /[\u0000-\u001f]/);
    });
  });

  describe('limits', () => {
    it(`accepts ${MAX_FILTER_LENGTH} characters and refuses one more, naming the limit`, () => {
      const filler = (length: number) => `name = "${'x'.repeat(length - 9)}"`;
      assert.equal(filler(MAX_FILTER_LENGTH).length, MAX_FILTER_LENGTH);
      assert.ok(parseFilter(filler(MAX_FILTER_LENGTH)));
      rejects(filler(MAX_FILTER_LENGTH + 1), `filter: is ${MAX_FILTER_LENGTH + 1} characters long; the limit is ${MAX_FILTER_LENGTH} (MAX_FILTER_LENGTH)`);
      rejects(' '.repeat(MAX_FILTER_LENGTH + 1), /the limit is 4096/);
    });

    it(`accepts ${MAX_FILTER_DEPTH} levels of nesting and refuses one more, naming the limit`, () => {
      const parens = (depth: number) => `${'('.repeat(depth)}done=true${')'.repeat(depth)}`;
      assert.deepEqual(parseFilter(parens(MAX_FILTER_DEPTH)), done(true));
      rejects(parens(MAX_FILTER_DEPTH + 1), `filter: nests deeper than ${MAX_FILTER_DEPTH} levels (MAX_FILTER_DEPTH; each parenthesis and NOT counts) at position ${MAX_FILTER_DEPTH + 1}`);
      const nots = (depth: number) => `${'NOT '.repeat(depth)}done=true`;
      assert.ok(parseFilter(nots(MAX_FILTER_DEPTH)));
      rejects(nots(MAX_FILTER_DEPTH + 1), /nests deeper than 32 levels/);
      rejects('-'.repeat(MAX_FILTER_DEPTH + 1) + 'done=true', /nests deeper than 32 levels/);
      rejects('(NOT '.repeat(20) + 'done=true' + ')'.repeat(20), /nests deeper than 32 levels/);
      // The worst case the length allows is refused, not a stack overflow.
      rejects('('.repeat(MAX_FILTER_LENGTH), /nests deeper/);
      rejects('-'.repeat(MAX_FILTER_LENGTH), /nests deeper/);
    });

    it('parses long flat filters without recursion', () => {
      const terms = Array.from({ length: 250 }, (_, i) => `error.code=${i % 10}`);
      const or = parseFilter(terms.join(' OR '));
      assert.equal(or?.kind === 'or' && or.terms.length, 250);
      const and = parseFilter(terms.join(' '));
      assert.equal(and?.kind === 'and' && and.terms.length, 250);
    });
  });

  it('produces JSON-serializable trees', () => {
    const tree = parseFilter('(done=true OR -name:"a*") create_time >= 2026-01-02T03:04:05Z error.code:*');
    assert.deepEqual(JSON.parse(JSON.stringify(tree)), tree);
  });

  it('does what its documented subset says', () => {
    // FILTER_SUBSET's claims, checked against the parser rather than against the text.
    for (const field of ['done', 'name', 'error.code', 'create_time', 'update_time']) {
      assert.ok(FILTER_SUBSET.includes(field), `${field} is documented`);
      assert.deepEqual(parseFilter(`${field}:*`), { kind: 'present', field }, `${field}:* parses`);
    }
    assert.throws(() => parseFilter('owner = "x"'), /unknown field/, 'no field beyond the documented ones');
    assert.ok(FILTER_SUBSET.includes('a AND b OR c = a AND (b OR c)'));
    assert.deepEqual(parseFilter('done = true AND name = "a" OR name = "b"'), parseFilter('done = true AND (name = "a" OR name = "b")'));
    assert.ok(FILTER_SUBSET.includes('NOT or "-"'));
    assert.deepEqual(parseFilter('-done = true'), parseFilter('NOT done = true'));
    assert.ok(FILTER_SUBSET.includes('google.rpc.Code name such as NOT_FOUND'));
    assert.deepEqual(parseFilter('error.code = NOT_FOUND'), parseFilter('error.code = 5'));
    assert.ok(FILTER_SUBSET.includes('terms side by side are ANDed'));
    assert.deepEqual(parseFilter('done = true name = "a"'), parseFilter('done = true AND name = "a"'));
  });

  describe('fuzzing', () => {
    const TOKENS = [
      'done', 'name', 'error.code', 'create_time', 'update_time', 'foo', 'AND', 'OR', 'NOT', '-', '(', ')', '=', '!=', '<',
      '<=', '>', '>=', ':', '*', '"', "'", '\\', 'true', 'false', '5', '17', 'NOT_FOUND', '2026-01-02T03:04:05Z',
      '"2026-01-02T03:04:05.5+01:00"', '"a*b"', ' ', ' ', '\t', '\u0000', '\u{1F600}', '\uD800', '.', 'constructor', '__proto__',
    ];
    const CHARS = ' \t()"\'\\=!<>:-*.aAzZ09_NOTANDOR\u00e9\u0000';

    it('throws nothing but INVALID_ARGUMENT LongrunErrors for thousands of random filters', () => {
      const random = seededRandom(0x5eed);
      const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)]!;
      let parsed = 0;
      let rejected = 0;
      for (let i = 0; i < 5000; i++) {
        const length = Math.floor(random() * 24);
        let text = '';
        for (let j = 0; j < length; j++) {
          text += random() < 0.7 ? pick(TOKENS) + (random() < 0.5 ? ' ' : '') : pick([...CHARS]);
        }
        try {
          const tree = parseFilter(text);
          if (tree !== undefined) assert.deepEqual(JSON.parse(JSON.stringify(tree)), tree);
          parsed++;
        } catch (error) {
          assert.ok(error instanceof LongrunError, `${JSON.stringify(text)} threw ${String(error)}`);
          assert.equal(error.code, Code.INVALID_ARGUMENT);
          assert.equal(error.reason, 'INVALID_FILTER');
          assert.match(error.message, /^filter: /);
          rejected++;
        }
      }
      // Both paths were exercised, not only the error one.
      assert.ok(parsed > 100, `only ${parsed} parsed`);
      assert.ok(rejected > 100, `only ${rejected} rejected`);
    });

    it('throws nothing but LongrunErrors for long adversarial inputs', () => {
      const inputs = [
        '('.repeat(4000) + ')'.repeat(96),
        'NOT '.repeat(1024),
        '"'.repeat(4096),
        '\\'.repeat(4096),
        `name = "${'\\'.repeat(4086)}`,
        'done=true '.repeat(409),
        'done=true OR '.repeat(314) + 'done=true',
        '2026-01-02T03:04:05.'.repeat(204),
        `create_time > ${'9'.repeat(4000)}`,
        `create_time > 2026-01-02T03:04:05.${'1'.repeat(4000)}Z`,
      ];
      for (const text of inputs) {
        try {
          parseFilter(text);
        } catch (error) {
          assert.ok(error instanceof LongrunError, `${text.slice(0, 40)}… threw ${String(error)}`);
          assert.equal(error.code, Code.INVALID_ARGUMENT);
        }
      }
    });
  });
});
