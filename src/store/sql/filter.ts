/**
 * ListOperations filters as SQL WHERE fragments over the `operations` table (columns `done` 0/1,
 * `name`, `error_code` NULL when none, `create_time` and `update_time` in epoch ms).
 *
 * Two-valued logic: every leaf yields true or false, never NULL (the only nullable column,
 * error_code, is read through COALESCE), so NOT and OR mean what they say: `NOT error.code = 5`
 * includes operations without an error.
 * Values travel as parameters; nothing from the filter is spliced into the SQL text.
 *
 * What differs between databases is kept in `SqlDialect`; the translation itself is shared.
 */
import type { FilterExpr } from '../../domain/filter.js';
import { SQLITE_DIALECT, type SqlDialect } from './dialect.js';

export { SQLITE_DIALECT, type SqlDialect } from './dialect.js';

export interface SqlFragment {
  /** Parenthesized boolean expression. */
  sql: string;
  /** One value per placeholder, in order. */
  params: (string | number | boolean)[];
}

const TIME_COLUMNS = { create_time: 'create_time', update_time: 'update_time' } as const;
const SQL_OPERATOR = { '=': '=', '!=': '<>', '<': '<', '<=': '<=', '>': '>', '>=': '>=' } as const;

/** `firstIndex`: the 1-based number of the fragment's first placeholder within its statement. */
export function filterToSql(expr: FilterExpr, dialect: SqlDialect = SQLITE_DIALECT, firstIndex = 1): SqlFragment {
  const params: (string | number | boolean)[] = [];
  const param = (value: string | number | boolean): string => {
    params.push(value);
    return dialect.placeholder(firstIndex + params.length - 1);
  };

  const translate = (node: FilterExpr): string => {
    switch (node.kind) {
      case 'and':
      case 'or':
        return `(${node.terms.map(translate).join(node.kind === 'and' ? ' AND ' : ' OR ')})`;
      case 'not':
        return `(NOT ${translate(node.term)})`;
      case 'present':
        // Only error.code can be unset; every row has the other fields.
        return node.field === 'error.code' ? '(error_code IS NOT NULL)' : '(1 = 1)';
      case 'compare':
        switch (node.field) {
          case 'done':
            return `(done ${SQL_OPERATOR[node.op]} ${param(dialect.boolean(node.value))})`;
          case 'name': {
            const match = node.wildcard
              ? dialect.wildcardMatch('name', param(dialect.wildcardPattern(node.value)))
              : `name = ${param(node.value)}`;
            return node.op === '=' ? `(${match})` : `(NOT ${match})`;
          }
          case 'error.code':
            // No error counts as code 0 (OK): `error.code = 0` is "did not fail", and `!=`/`<`/...
            // see NULL as 0 instead of making the whole leaf NULL.
            return `(COALESCE(error_code, 0) ${SQL_OPERATOR[node.op]} ${param(node.value)})`;
          case 'create_time':
          case 'update_time':
            return timeComparison(TIME_COLUMNS[node.field], node.op, node.value, param);
        }
    }
  };

  // The root of translate() is already parenthesized.
  return { sql: translate(expr), params };
}

/**
 * A time column against epoch milliseconds. A timestamp with sub-millisecond digits arrives as its
 * millisecond plus 0.5 (src/domain/filter.ts); the columns hold whole milliseconds, so such a bound
 * is rewritten onto the whole millisecond below it: PostgreSQL's BIGINT parameters refuse a
 * fraction, and an integer keeps the comparison on the index in both backends.
 */
function timeComparison(column: string, op: keyof typeof SQL_OPERATOR, value: number, param: (value: number) => string): string {
  if (Number.isInteger(value)) return `(${column} ${SQL_OPERATOR[op]} ${param(value)})`;
  const below = Math.floor(value);
  switch (op) {
    case '=':
      return '(1 = 0)';
    case '!=':
      return '(1 = 1)';
    case '<':
    case '<=':
      return `(${column} <= ${param(below)})`;
    case '>':
    case '>=':
      return `(${column} > ${param(below)})`;
  }
}
