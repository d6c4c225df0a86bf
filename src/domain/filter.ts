/**
 * The ListOperations filter: a documented subset of AIP-160, parsed into a small AST that each
 * store translates into indexed SQL (never evaluated in memory).
 *
 *   expression := sequence { "AND" sequence }
 *   sequence   := factor { factor }                 (juxtaposition is AND)
 *   factor     := term { "OR" term }                (OR binds tighter than AND, as AIP-160 says)
 *   term       := [ "NOT" | "-" ] simple
 *   simple     := "(" expression ")" | field comparator value
 */
import { Code, invalidArgument, type LongrunError } from './errors.js';
import { printable } from './names.js';

export type FilterField = 'done' | 'name' | 'error.code' | 'create_time' | 'update_time';
export type Comparator = '=' | '!=' | '<' | '<=' | '>' | '>=';

export type FilterExpr =
  | { kind: 'and'; terms: FilterExpr[] }
  | { kind: 'or'; terms: FilterExpr[] }
  | { kind: 'not'; term: FilterExpr }
  | { kind: 'compare'; field: 'done'; op: '=' | '!='; value: boolean }
  | { kind: 'compare'; field: 'name'; op: '=' | '!='; value: string; wildcard: boolean }
  | { kind: 'compare'; field: 'error.code'; op: Comparator; value: number }
  | { kind: 'compare'; field: 'create_time' | 'update_time'; op: Comparator; value: number }
  | { kind: 'present'; field: FilterField };

export const MAX_FILTER_LENGTH = 4096;
export const MAX_FILTER_DEPTH = 32;

export const FILTER_SUBSET = `fields: done (true/false), name ("*" is a wildcard), error.code (number or code name; 0 = no error),
create_time and update_time (RFC 3339); comparators = != < <= > >= and ":" (equality, or presence with "field:*");
AND, OR (binds tighter than AND), NOT or "-", parentheses; terms side by side are ANDed`;

const FIELDS: Record<string, FilterField> = {
  done: 'done',
  name: 'name',
  'error.code': 'error.code',
  create_time: 'create_time',
  createTime: 'create_time',
  update_time: 'update_time',
  updateTime: 'update_time',
};
const FIELD_LIST = 'done, name, error.code, create_time, update_time';
const CODE_NAMES = Code as Record<string, number>;
const RFC3339 = /^\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d{1,9})?([Zz]|[+-]\d{2}:\d{2})$/;
const FIELD_START = /[A-Za-z_]/;
const FIELD_CHAR = /[A-Za-z0-9_.]/;
/** Characters that end a bare value. */
const VALUE_END = /[\s()]/;

type RawComparator = Comparator | ':';

export function parseFilter(text: string): FilterExpr | undefined {
  if (text.length > MAX_FILTER_LENGTH) {
    throw invalidArgument('filter', `is ${text.length} characters long; the limit is ${MAX_FILTER_LENGTH}`, 'INVALID_FILTER');
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
    if (this.pos < this.text.length) throw this.error(`unexpected ${this.describeHere()}`);
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
      if (this.atEnd() || this.peek() === ')' || this.peekKeyword('AND') || this.peekKeyword('OR')) break;
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
    if (this.keyword('NOT') || this.symbol('-')) return this.nested(() => ({ kind: 'not', term: this.simple() }));
    return this.simple();
  }

  private simple(): FilterExpr {
    this.skipSpace();
    if (this.atEnd()) throw this.error('expected a restriction such as done = true, found the end of the filter');
    if (this.peek() === '(') {
      const open = this.pos;
      this.pos++;
      const inner = this.nested(() => this.expression());
      this.skipSpace();
      if (this.peek() !== ')') throw this.error(`missing ')' for the '(' at position ${open + 1}`);
      this.pos++;
      return inner;
    }
    return this.restriction();
  }

  private restriction(): FilterExpr {
    const fieldStart = this.pos;
    if (!FIELD_START.test(this.peek())) throw this.error(`expected a field name, found ${this.describeHere()}`);
    while (!this.atEnd() && FIELD_CHAR.test(this.peek())) this.pos++;
    const fieldText = this.text.slice(fieldStart, this.pos);
    const field = Object.hasOwn(FIELDS, fieldText) ? FIELDS[fieldText] : undefined;
    if (field === undefined) {
      throw this.error(`unknown field "${fieldText}" at position ${fieldStart + 1}; filterable fields are ${FIELD_LIST}`);
    }
    this.skipSpace();
    const opStart = this.pos;
    const op = this.comparator();
    if (op === undefined) throw this.error(`expected a comparator (= != < <= > >= :) after "${fieldText}", found ${this.describeHere()}`);
    this.skipSpace();
    const valueStart = this.pos;
    const value = this.value();
    if (op === ':' && value.raw === '*' && !value.quoted) return { kind: 'present', field };
    return this.compare(field, op === ':' ? '=' : op, value.raw, { opStart, valueStart, quoted: value.quoted });
  }

  private compare(field: FilterField, op: Comparator, raw: string, at: { opStart: number; valueStart: number; quoted: boolean }): FilterExpr {
    const ordering = op !== '=' && op !== '!=';
    if (ordering && (field === 'done' || field === 'name')) {
      throw this.error(`"${field}" supports only =, != and :, not ${op} (position ${at.opStart + 1})`);
    }
    const bad = (why: string) => this.error(`${field}: ${why} at position ${at.valueStart + 1}`);
    switch (field) {
      case 'done': {
        const lower = raw.toLowerCase();
        if (lower !== 'true' && lower !== 'false') throw bad(`expected true or false, got "${printable(raw)}"`);
        return { kind: 'compare', field, op: op as '=' | '!=', value: lower === 'true' };
      }
      case 'name':
        return { kind: 'compare', field, op: op as '=' | '!=', value: raw, wildcard: raw.includes('*') };
      case 'error.code': {
        const code = /^\d{1,2}$/.test(raw) ? Number(raw) : Object.hasOwn(CODE_NAMES, raw.toUpperCase()) ? CODE_NAMES[raw.toUpperCase()]! : NaN;
        if (!(code >= 0 && code <= 16)) throw bad(`expected a google.rpc.Code number (0-16) or name, got "${printable(raw)}"`);
        return { kind: 'compare', field, op, value: code };
      }
      case 'create_time':
      case 'update_time': {
        const time = RFC3339.test(raw) ? Date.parse(raw) : NaN;
        if (Number.isNaN(time)) throw bad(`expected an RFC 3339 timestamp such as 2026-01-02T03:04:05Z, got "${printable(raw)}"`);
        return { kind: 'compare', field, op, value: time };
      }
    }
  }

  private comparator(): RawComparator | undefined {
    for (const op of ['<=', '>=', '!=', '=', '<', '>', ':'] as const) {
      if (this.text.startsWith(op, this.pos)) {
        this.pos += op.length;
        return op;
      }
    }
    return undefined;
  }

  private value(): { raw: string; quoted: boolean } {
    if (this.atEnd()) throw this.error('expected a value, found the end of the filter');
    const quote = this.peek();
    if (quote === '"' || quote === "'") {
      const start = this.pos;
      let raw = '';
      this.pos++;
      while (!this.atEnd() && this.peek() !== quote) {
        if (this.peek() === '\\' && this.pos + 1 < this.text.length) this.pos++;
        raw += this.text[this.pos++];
      }
      if (this.atEnd()) throw this.error(`unterminated string starting at position ${start + 1}`);
      this.pos++;
      return { raw, quoted: true };
    }
    const start = this.pos;
    while (!this.atEnd() && !VALUE_END.test(this.peek())) this.pos++;
    if (this.pos === start) throw this.error(`expected a value, found ${this.describeHere()}`);
    return { raw: this.text.slice(start, this.pos), quoted: false };
  }

  private nested<T>(parse: () => T): T {
    if (++this.depth > MAX_FILTER_DEPTH) {
      throw this.error(`nests deeper than ${MAX_FILTER_DEPTH} levels (parentheses and NOT)`);
    }
    try {
      return parse();
    } finally {
      this.depth--;
    }
  }

  /** Consumes `word` when it stands alone (followed by a space or parenthesis). */
  private keyword(word: string): boolean {
    this.skipSpace();
    if (!this.peekKeyword(word)) return false;
    this.pos += word.length;
    return true;
  }

  private peekKeyword(word: string): boolean {
    if (!this.text.startsWith(word, this.pos)) return false;
    const after = this.text[this.pos + word.length];
    return after === undefined ? word !== 'NOT' : /[\s(]/.test(after);
  }

  private symbol(symbol: string): boolean {
    if (!this.text.startsWith(symbol, this.pos)) return false;
    this.pos += symbol.length;
    return true;
  }

  private skipSpace(): void {
    while (!this.atEnd() && /\s/.test(this.peek())) this.pos++;
  }

  private peek(): string {
    return this.text[this.pos] ?? '';
  }

  private atEnd(): boolean {
    return this.pos >= this.text.length;
  }

  private describeHere(): string {
    return this.atEnd() ? 'the end of the filter' : `'${printable(this.peek())}' at position ${this.pos + 1}`;
  }

  private error(message: string): LongrunError {
    return invalidArgument('filter', message, 'INVALID_FILTER');
  }
}
