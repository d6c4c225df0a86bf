/**
 * ListOperations as one SELECT, shared by the SQL backends: owner and parent, unexpired, keyset
 * paging after a cursor, the AIP-160 filter, newest first.
 */
import type { ListQuery } from '../types.js';
import type { SqlDialect } from './dialect.js';
import { filterToSql } from './filter.js';
import { READ_COLUMNS } from './rows.js';

export interface ListStatement {
  sql: string;
  params: (string | number | boolean)[];
}

/** `table`: the operations table as the backend names it (PostgreSQL qualifies it with its schema). */
export function listStatement(query: ListQuery, dialect: SqlDialect, table = 'operations'): ListStatement {
  const params: (string | number | boolean)[] = [];
  const param = (value: string | number | boolean): string => {
    params.push(value);
    return dialect.placeholder(params.length);
  };
  const where: string[] = [];
  if (query.owner !== undefined) where.push(`owner = ${param(query.owner)}`);
  where.push(`parent = ${param(query.parent)}`, `(expire_time IS NULL OR expire_time > ${param(query.now)})`);
  if (query.after !== undefined) {
    // `create_time <= ?` is the part an index can seek to, so page 100 starts where page 99
    // ended instead of scanning past the first 99 pages; the OR alone is not sargable. It goes
    // before the filter: SQLite takes the first upper bound it meets on create_time, and the
    // cursor's is always at least as tight as a filter's.
    const { createTime, name } = query.after;
    where.push(`create_time <= ${param(createTime)}`);
    where.push(`(create_time < ${param(createTime)} OR (create_time = ${param(createTime)} AND name < ${param(name)}))`);
  }
  if (query.filter !== undefined) {
    const filter = filterToSql(query.filter, dialect, params.length + 1);
    where.push(filter.sql);
    params.push(...filter.params);
  }
  const sql = `SELECT ${READ_COLUMNS} FROM ${table} WHERE ${where.join(' AND ')}
    ORDER BY create_time DESC, name DESC LIMIT ${dialect.limit(param(query.limit))}`;
  return { sql, params };
}
