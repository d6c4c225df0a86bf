/**
 * The ListOperations filter: a documented subset of AIP-160, parsed into a small AST that each
 * store translates into SQL (never evaluated in memory).
 *
 *   expression := sequence { "AND" sequence }
 *   sequence   := factor { factor }                 (juxtaposition is AND)
 *   factor     := term { "OR" term }                (OR binds tighter than AND, as AIP-160 says)
 *   term       := { "NOT" | "-" } simple
 *   simple     := "(" expression ")" | field comparator value
 *   comparator := "=" | "!=" | "<" | "<=" | ">" | ">=" | ":"
 *   value      := bare word | "double quoted" | 'single quoted'   (backslash escapes the next character)
 *
 * Every error is a LongrunError INVALID_ARGUMENT with reason INVALID_FILTER, a message starting
 * `filter: ` and the 1-based position (in UTF-16 code units) of what went wrong. Nothing else is
 * ever thrown, whatever the input: the parser is iterative except for nesting, which is capped.
 */
import { Code, invalidArgument, type LongrunError } from './errors.js';
import { printable } from './names.js';

export type FilterField = 'done' | 'name' | 'error.code' | 'create_time' | 'update_time';
export type Comparator = '=' | '!=' | '<' | '<=' | '>' | '>=';

/**
 * The parsed filter: a plain, JSON-serializable tree.
 *
 * - `name` values: `wildcard` is true when the value contains `*`, which then matches any run of
 *   characters; no other character is special.
 * - `error.code`: a google.rpc.Code number; 0 (OK) means "has no error".
 * - times: epoch milliseconds. Stored times are whole milliseconds, so a timestamp with finer
 *   digits becomes its millisecond plus 0.5: every comparison with a whole number stays exact
 *   (`> x.5` is `>= x+1`, `= x.5` matches nothing), with no rounding by operator.
 * - `present` is `field:*`: true when the field is set. Only `error.code` can be unset (the
 *   operation has not failed); for the other fields every operation has it.
 */
export type FilterExpr =
  | { kind: 'and'; terms: FilterExpr[] }
  | { kind: 'or'; terms: FilterExpr[] }
  | { kind: 'not'; term: FilterExpr }
  | { kind: 'compare'; field: 'done'; op: '=' | '!='; value: boolean }
  | { kind: 'compare'; field: 'name'; op: '=' | '!='; value: string; wildcard: boolean }
  | { kind: 'compare'; field: 'error.code'; op: Comparator; value: number }
  | { kind: 'compare'; field: 'create_time' | 'update_time'; op: Comparator; value: number }
  | { kind: 'present'; field: FilterField };

/** Longest filter accepted, in characters. */
export const MAX_FILTER_LENGTH = 4096;
/** Deepest nesting accepted: each parenthesis and each NOT / `-` is one level. */
export const MAX_FILTER_DEPTH = 32;

/** What the filter accepts, in a few lines (for README, `--help` and error hints). */
export const FILTER_SUBSET = `fields: done (true/false), name ("*" matches any run of characters), error.code (number 0-16 or
google.rpc.Code name such as NOT_FOUND; 0 = no error), create_time and update_time (RFC 3339, e.g. 2026-01-02T03:04:05Z);
comparators = != < <= > >= (ordering only on error.code and times) and ":" (equality, or presence with field:*,
e.g. error.code:* = failed); AND, OR (binds tighter than AND: a AND b OR c = a AND (b OR c)), NOT or "-",
parentheses; terms side by side are ANDed; values bare or "quoted" / 'quoted' with backslash escapes`;

const FIELDS: Readonly<Record<string, FilterField>> = {
  done: 'done',
  name: 'name',
  'error.code': 'error.code',
  create_time: 'create_time',
  createTime: 'create_time',
  update_time: 'update_time',
  updateTime: 'update_time',
};
const FIELD_LIST = 'done, name, error.code, create_time, update_time';
const CODE_NAMES: Readonly<Record<string, number>> = Code;
const MAX_CODE = 16;
const FIELD_START = /[A-Za-z_]/;
const FIELD_CHAR = /[A-Za-z0-9_.]/;
const SPACE = /\s/;
/** Characters that end a bare value. */
const VALUE_END = /[\s()]/;
/** What may follow AND, OR, NOT (besides the end): `NOTdone` or `NOT-x` are not keywords. */
const KEYWORD_END = /[\s()]/;
const KEYWORDS = ['AND', 'OR', 'NOT'] as const;

type RawComparator = Comparator | ':';
const COMPARATORS: readonly RawComparator[] = ['<=', '>=', '!=', '=', '<', '>', ':'];

/** Parses ListOperations.filter; undefined when it is empty or blank. */
export function parseFilter(text: string): FilterExpr | undefined {
  if (text.length > MAX_FILTER_LENGTH) {
    throw filterError(`is ${text.length} characters long; the limit is ${MAX_FILTER_LENGTH} (MAX_FILTER_LENGTH)`);
  }
  if (text.trim() === '') return undefined;
  return new Parser(text).parse();
}

class Parser {
  private pos = 0;
  private depth = 0;

  constructor(private readonly text: string) {}

  parse(): FilterExpr {
    const expr = this.expression();
    this.skipSpace();
    if (!this.atEnd()) throw this.error(`unexpected ${this.describeHere()}`);
    return expr;
  }

  private expression(): FilterExpr {
    const terms = [this.sequence()];
    while (this.keyword('AND')) terms.push(this.sequence());
    return terms.length === 1 ? terms[0]! : { kind: 'and', terms };
  }

  private sequence(): FilterExpr {
    const terms = [this.factor()];
    for (;;) {
      this.skipSpace();
      if (this.atEnd() || this.peek() === ')' || this.peekKeyword('AND')) break;
      terms.push(this.factor());
    }
    return terms.length === 1 ? terms[0]! : { kind: 'and', terms };
  }

  private factor(): FilterExpr {
    const terms = [this.term()];
    while (this.keyword('OR')) terms.push(this.term());
    return terms.length === 1 ? terms[0]! : { kind: 'or', terms };
  }

  private term(): FilterExpr {
    this.skipSpace();
    const at = this.pos;
    if (this.keyword('NOT') || this.symbol('-')) {
      return this.nested(at, () => ({ kind: 'not', term: this.term() }));
    }
    return this.simple();
  }

  private simple(): FilterExpr {
    this.skipSpace();
    if (this.atEnd()) throw this.error(`expected a restriction such as done = true, found ${this.describeHere()}`);
    if (this.peek() === '(') {
      const open = this.pos;
      this.pos++;
      const inner = this.nested(open, () => this.expression());
      this.skipSpace();
      if (this.peek() !== ')') {
        throw this.error(`expected ')' to close the '(' at position ${open + 1}, found ${this.describeHere()}`);
      }
      this.pos++;
      return inner;
    }
    return this.restriction();
  }

  private restriction(): FilterExpr {
    const fieldStart = this.pos;
    const keyword = KEYWORDS.find((word) => this.peekKeyword(word));
    if (keyword !== undefined) throw this.error(`expected a restriction, found '${keyword}' at position ${fieldStart + 1}`);
    if (!FIELD_START.test(this.peek())) throw this.error(`expected a field name, found ${this.describeHere()}`);
    while (!this.atEnd() && FIELD_CHAR.test(this.peek())) this.pos++;
    const fieldText = this.text.slice(fieldStart, this.pos);
    const field = Object.hasOwn(FIELDS, fieldText) ? FIELDS[fieldText] : undefined;
    if (field === undefined) {
      throw this.error(`unknown field "${printable(fieldText)}" at position ${fieldStart + 1}; filterable fields are ${FIELD_LIST}`);
    }
    this.skipSpace();
    const opStart = this.pos;
    const op = this.comparator();
    if (op === undefined) {
      throw this.error(`expected a comparator (= != < <= > >= :) after ${fieldText}, found ${this.describeHere()}`);
    }
    this.skipSpace();
    const valueStart = this.pos;
    const value = this.value();
    if (op === ':' && value.raw === '*' && !value.quoted) return { kind: 'present', field };
    return this.compare(field, op === ':' ? '=' : op, value.raw, opStart, valueStart);
  }

  private compare(field: FilterField, op: Comparator, raw: string, opStart: number, valueStart: number): FilterExpr {
    if (op !== '=' && op !== '!=' && (field === 'done' || field === 'name')) {
      throw this.error(`${field} can be compared only with =, != and :, not ${op} (position ${opStart + 1})`);
    }
    const bad = (expected: string) =>
      this.error(`${field} expects ${expected}, got "${printable(raw)}" at position ${valueStart + 1}`);
    switch (field) {
      case 'done': {
        if (raw !== 'true' && raw !== 'false') throw bad('true or false');
        return { kind: 'compare', field, op: op as '=' | '!=', value: raw === 'true' };
      }
      case 'name':
        return { kind: 'compare', field, op: op as '=' | '!=', value: raw, wildcard: raw.includes('*') };
      case 'error.code': {
        const code = parseCode(raw);
        if (code === undefined) throw bad(`a google.rpc.Code number (0-${MAX_CODE}) or name such as NOT_FOUND`);
        return { kind: 'compare', field, op, value: code };
      }
      case 'create_time':
      case 'update_time': {
        const time = parseTimestamp(raw);
        if (time === undefined) throw bad('an RFC 3339 timestamp such as 2026-01-02T03:04:05Z or 2026-01-02T04:04:05.5+01:00');
        return { kind: 'compare', field, op, value: time };
      }
    }
  }

  private comparator(): RawComparator | undefined {
    const op = COMPARATORS.find((candidate) => this.text.startsWith(candidate, this.pos));
    if (op !== undefined) this.pos += op.length;
    return op;
  }

  private value(): { raw: string; quoted: boolean } {
    if (this.atEnd()) throw this.error(`expected a value, found ${this.describeHere()}`);
    const quote = this.peek();
    if (quote === '"' || quote === "'") {
      const start = this.pos;
      const chars: string[] = [];
      this.pos++;
      while (!this.atEnd() && this.peek() !== quote) {
        if (this.peek() === '\\' && this.pos + 1 < this.text.length) this.pos++;
        chars.push(this.text[this.pos++]!);
      }
      if (this.atEnd()) throw this.error(`unterminated string starting at position ${start + 1}`);
      this.pos++;
      return { raw: chars.join(''), quoted: true };
    }
    const start = this.pos;
    while (!this.atEnd() && !VALUE_END.test(this.peek())) this.pos++;
    if (this.pos === start) throw this.error(`expected a value, found ${this.describeHere()}`);
    return { raw: this.text.slice(start, this.pos), quoted: false };
  }

  private nested<T>(at: number, parse: () => T): T {
    if (this.depth >= MAX_FILTER_DEPTH) {
      throw this.error(
        `nests deeper than ${MAX_FILTER_DEPTH} levels (MAX_FILTER_DEPTH; each parenthesis and NOT counts) at position ${at + 1}`,
      );
    }
    this.depth++;
    try {
      return parse();
    } finally {
      this.depth--;
    }
  }

  /** Consumes `word` when it stands alone (followed by a space, a parenthesis or the end). */
  private keyword(word: string): boolean {
    this.skipSpace();
    if (!this.peekKeyword(word)) return false;
    this.pos += word.length;
    return true;
  }

  private peekKeyword(word: string): boolean {
    if (!this.text.startsWith(word, this.pos)) return false;
    const after = this.text[this.pos + word.length];
    return after === undefined || KEYWORD_END.test(after);
  }

  private symbol(symbol: string): boolean {
    if (!this.text.startsWith(symbol, this.pos)) return false;
    this.pos += symbol.length;
    return true;
  }

  private skipSpace(): void {
    while (!this.atEnd() && SPACE.test(this.peek())) this.pos++;
  }

  private peek(): string {
    return this.text[this.pos] ?? '';
  }

  private atEnd(): boolean {
    return this.pos >= this.text.length;
  }

  private describeHere(): string {
    return this.atEnd()
      ? `the end of the filter at position ${this.pos + 1}`
      : `'${printable(this.peek())}' at position ${this.pos + 1}`;
  }

  private error(message: string): LongrunError {
    return filterError(message);
  }
}

function filterError(message: string): LongrunError {
  return invalidArgument('filter', message, 'INVALID_FILTER');
}

function parseCode(raw: string): number | undefined {
  if (/^\d{1,3}$/.test(raw)) {
    const code = Number(raw);
    return code <= MAX_CODE ? code : undefined;
  }
  if (!/^[A-Za-z_]{1,32}$/.test(raw)) return undefined;
  const name = raw.toUpperCase();
  return Object.hasOwn(CODE_NAMES, name) ? CODE_NAMES[name] : undefined;
}

/** RFC 3339 date-time: `T` or `t`, `Z`, `z` or a ±hh:mm offset, any number of fraction digits. */
const RFC3339 = /^(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?(?:([Zz])|([+-])(\d{2}):(\d{2}))$/;

/**
 * Epoch milliseconds of an RFC 3339 timestamp, plus 0.5 when it has sub-millisecond digits (see
 * FilterExpr); undefined when malformed or out of range (e.g. February 30, hour 24, second 60:
 * like google.protobuf.Timestamp, leap seconds are not representable).
 */
export function parseTimestamp(raw: string): number | undefined {
  const match = RFC3339.exec(raw);
  if (match === null) return undefined;
  const [, y, mo, d, h, mi, s, fraction = '', , sign, oh = '0', om = '0'] = match;
  const [year, month, day, hour, minute, second] = [y, mo, d, h, mi, s].map(Number) as [number, number, number, number, number, number];
  if (month < 1 || month > 12 || day < 1 || day > daysInMonth(year, month)) return undefined;
  if (hour > 23 || minute > 59 || second > 59 || Number(oh) > 23 || Number(om) > 59) return undefined;
  const date = new Date(0);
  date.setUTCFullYear(year, month - 1, day); // not Date.UTC, which maps years 0-99 to 1900-1999
  date.setUTCHours(hour, minute, second, Number(fraction.slice(0, 3).padEnd(3, '0')));
  const offsetMs = (sign === '-' ? -1 : 1) * (Number(oh) * 60 + Number(om)) * 60_000;
  const subMillisecond = /[1-9]/.test(fraction.slice(3)) ? 0.5 : 0;
  return date.getTime() - offsetMs + subMillisecond;
}

function daysInMonth(year: number, month: number): number {
  if (month === 2) return year % 4 === 0 && (year % 100 !== 0 || year % 400 === 0) ? 29 : 28;
  return [4, 6, 9, 11].includes(month) ? 30 : 31;
}
