/**
 * Batched writes lock their rows in name order. A runner's batched heartbeat and its batched
 * completion touch the same leased rows at the same moment; each statement otherwise locks rows in
 * whatever order its plan visits them (the order the batch lists them, through an index lookup per
 * name), so a heartbeat of [a, b] and a completion of [b, a] can each hold one row and wait for the
 * other's: PostgreSQL then aborts one with a deadlock. Locking every row of the batch first, sorted
 * by name, makes all batches take their locks in one global order, and no cycle can form.
 *
 * SQLite needs nothing of this: it admits one writer at a time, and a write holds the whole database.
 */

/**
 * A condition on `alias.name` that first locks (FOR UPDATE) the rows of `table` named in the array
 * `names`, in name order. The ARRAY() subquery reads (and so locks) every row before the condition
 * yields its one value, and the statement evaluates that value before it writes any row.
 */
export function lockedInNameOrder(table: string, names: string, alias: string): string {
  return `${alias}.name = ANY(ARRAY(SELECT k.name FROM (
      SELECT name FROM ${table} WHERE name = ANY(${names}) ORDER BY name FOR UPDATE) k))`;
}
