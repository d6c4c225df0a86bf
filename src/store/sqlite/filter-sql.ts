/**
 * ListOperations filters as SQLite WHERE fragments. Every leaf yields a plain true/false (never
 * NULL), so NOT and OR keep their two-valued meaning over nullable columns like error_code.
 * Values travel as parameters; nothing from the filter is spliced into the SQL text.
 */
import type { FilterExpr } from '../../domain/filter.js';

export interface SqlFragment {
  sql: string;
  params: (string | number)[];
}

const TIME_COLUMNS = { create_time: 'create_time', update_time: 'update_time' } as const;

export function filterToSql(expr: FilterExpr): SqlFragment {
  const params: (string | number)[] = [];
  const sql = translate(expr, params);
  return { sql: `(${sql})`, params };
}

function translate(expr: FilterExpr, params: (string | number)[]): string {
  switch (expr.kind) {
    case 'and':
    case 'or':
      return `(${expr.terms.map((term) => translate(term, params)).join(expr.kind === 'and' ? ' AND ' : ' OR ')})`;
    case 'not':
      return `NOT ${translate(expr.term, params)}`;
    case 'present':
      return expr.field === 'error.code' ? '(error_code IS NOT NULL)' : '(1)';
    case 'compare':
      switch (expr.field) {
        case 'done':
          params.push(expr.value ? 1 : 0);
          return `(done ${expr.op === '=' ? '=' : '<>'} ?)`;
        case 'name':
          params.push(expr.wildcard ? globPattern(expr.value) : expr.value);
          return `(${expr.op === '=' ? '' : 'NOT '}name ${expr.wildcard ? 'GLOB' : '='} ?)`;
        case 'error.code':
          // No error counts as code 0 (OK), so `error.code = 0` means "did not fail".
          params.push(expr.value);
          return `(COALESCE(error_code, 0) ${expr.op === '!=' ? '<>' : expr.op} ?)`;
        case 'create_time':
        case 'update_time':
          params.push(expr.value);
          return `(${TIME_COLUMNS[expr.field]} ${expr.op === '!=' ? '<>' : expr.op} ?)`;
      }
  }
}

/** `*` is the only wildcard; GLOB's other metacharacters are matched literally. */
function globPattern(value: string): string {
  return value.replace(/[?[]/g, (char) => `[${char}]`);
}
