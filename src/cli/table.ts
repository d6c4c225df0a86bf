/**
 * The table `longrun list` prints: NAME, STATE, PROGRESS, TYPE (the metadata's message name),
 * CREATED and UPDATED (from the metadata's `createTime`/`startTime` and `updateTime`/`endTime`,
 * when it has them). On a terminal narrower than the table, the right-hand columns go first, then
 * NAME is shortened; to a pipe or file, nothing is cut.
 */
import type { ClientOperation } from '../grpc/typed-client.js';
import { shorten, stateOf } from './progress.js';

interface Column {
  title: string;
  value(operation: ClientOperation): string;
}

const COLUMNS: Column[] = [
  { title: 'NAME', value: (o) => o.name },
  { title: 'STATE', value: stateOf },
  { title: 'PROGRESS', value: (o) => (o.done ? '' : o.progressPercent === undefined ? '' : `${o.progressPercent}%`) },
  { title: 'TYPE', value: (o) => o.metadataType ?? '' },
  { title: 'CREATED', value: (o) => timeOf(o, ['createTime', 'startTime']) },
  { title: 'UPDATED', value: (o) => timeOf(o, ['updateTime', 'endTime']) },
];

const GAP = '  ';

/** Lines of the table, without trailing spaces. `width`: the terminal's, or undefined for no limit. */
export function formatTable(operations: ClientOperation[], width?: number): string[] {
  const rows = operations.map((operation) => COLUMNS.map((column) => column.value(operation)));
  let shown = COLUMNS.map((_, index) => index).filter((index) => index < 2 || rows.some((row) => row[index] !== ''));
  const widths = COLUMNS.map((column, index) => Math.max(column.title.length, ...rows.map((row) => row[index]!.length)));
  const total = (columns: number[]) => columns.reduce((sum, index) => sum + widths[index]!, 0) + GAP.length * (columns.length - 1);
  if (width !== undefined) {
    while (shown.length > 2 && total(shown) > width) shown = shown.slice(0, -1);
    const over = total(shown) - width;
    if (over > 0) widths[0] = Math.max(COLUMNS[0]!.title.length, widths[0]! - over);
  }
  const line = (cells: string[]) =>
    shown
      .map((index) => shorten(cells[index]!, widths[index]!))
      .join(GAP)
      .trimEnd();
  return [line(COLUMNS.map((column) => column.title)), ...rows.map(line)];
}

/** A Timestamp field of the metadata (`{ seconds, nanos }`), as RFC 3339 to the second. */
function timeOf(operation: ClientOperation, fields: string[]): string {
  const metadata = operation.metadata as Record<string, unknown> | undefined;
  for (const field of fields) {
    const value = metadata?.[field] as { seconds?: unknown } | null | undefined;
    const seconds = Number(value?.seconds);
    if (value && Number.isFinite(seconds) && seconds > 0) return new Date(seconds * 1000).toISOString().replace('.000Z', 'Z');
  }
  return '';
}
