/**
 * The few spots where the SQL of the two backends differs; everything else in src/store/sql/ is
 * written once against this.
 */
export interface SqlDialect {
  /** Placeholder for the `index`-th parameter of a statement (1-based). */
  placeholder(index: number): string;
  /** A boolean parameter's value (SQLite stores 0/1, PostgreSQL has a boolean type). */
  boolean(value: boolean): number | boolean;
  /** `column` matches `placeholder`, whose value is `wildcardPattern(...)`; case-sensitive. */
  wildcardMatch(column: string, placeholder: string): string;
  /** A pattern in which `*` matches any run of characters and every other character only itself. */
  wildcardPattern(value: string): string;
  /** Pins a query to an index where the planner needs telling ('' where it does not). */
  indexHint(index: string): string;
  /** A LIMIT of the parameter at `placeholder`. */
  limit(placeholder: string): string;
}

/** SQLite: `?` placeholders; GLOB (case-sensitive, `*` is already its wildcard) with `?` and `[` bracketed. */
export const SQLITE_DIALECT: SqlDialect = {
  placeholder: () => '?',
  boolean: (value) => (value ? 1 : 0),
  wildcardMatch: (column, placeholder) => `${column} GLOB ${placeholder}`,
  // `]` outside brackets is literal in GLOB; `[?]` and `[[]` match a literal `?` and `[`.
  wildcardPattern: (value) => value.replace(/[?[]/g, (char) => `[${char}]`),
  indexHint: (index) => `INDEXED BY ${index}`,
  // Not the bare parameter: SQLite (3.53) plans with a LIMIT parameter's value, so binding one
  // expires the statement and every run prepares it anew (about 300 µs for the claim, 3 µs for a
  // one-line SELECT; `npm run bench -- policies`). An expression is planned once.
  limit: (placeholder) => `CAST(${placeholder} AS INTEGER)`,
};

/** PostgreSQL: `$n` placeholders; LIKE (case-sensitive) with its own escape character. */
export const POSTGRES_DIALECT: SqlDialect = {
  placeholder: (index) => `$${index}`,
  boolean: (value) => value,
  wildcardMatch: (column, placeholder) => `${column} LIKE ${placeholder} ESCAPE '\\'`,
  wildcardPattern: (value) => value.replace(/[\\%_]/g, (char) => `\\${char}`).replace(/\*/g, '%'),
  indexHint: () => '',
  limit: (placeholder) => placeholder,
};
