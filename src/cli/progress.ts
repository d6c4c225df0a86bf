/**
 * What `longrun wait` shows on stderr while it waits (stdout keeps the operation's JSON, so
 * `longrun wait NAME > op.json` still shows progress). On a terminal: one line redrawn in place,
 * `NAME [████░░░░] 42% ETA 1m05s RUNNING`, coloured by state unless NO_COLOR is set. Elsewhere
 * (a pipe, a file, a CI log): a plain line each time something shown changes, no control characters.
 */
import { Code } from '../domain/errors.js';
import type { ClientOperation } from '../grpc/typed-client.js';

/** How the operation stands: the metadata's own `state` while it runs, if it has one (e.g. Vision's). */
export function stateOf(operation: ClientOperation): string {
  if (operation.done) {
    if (operation.error === undefined) return 'DONE';
    return operation.error.code === Code.CANCELLED ? 'CANCELLED' : 'FAILED';
  }
  const state = (operation.metadata as { state?: unknown } | undefined)?.state;
  return typeof state === 'string' && /^[A-Z_]+$/.test(state) && state !== 'STATE_UNSPECIFIED' ? state : 'RUNNING';
}

/** `7s`, `1m05s`, `2h03m`. */
export function formatRemaining(ms: number): string {
  const seconds = Math.max(0, Math.ceil(ms / 1000));
  if (seconds < 60) return `${seconds}s`;
  const minutes = Math.floor(seconds / 60);
  if (minutes < 60) return `${minutes}m${String(seconds % 60).padStart(2, '0')}s`;
  return `${Math.floor(minutes / 60)}h${String(minutes % 60).padStart(2, '0')}m`;
}

export interface ProgressView {
  /** The operation changed (or a second passed, on a terminal). */
  update(operation: ClientOperation): void;
  /** The last word: the final state on its own line. */
  finish(operation: ClientOperation): void;
  /** Leaves the terminal line clean (interrupted, or an error follows). */
  abandon(): void;
}

export interface ProgressStream {
  write(text: string): unknown;
  isTTY?: boolean;
  columns?: number;
  hasColors?(): boolean;
}

export function progressView(name: string, stream: ProgressStream, now: () => number = Date.now): ProgressView {
  return stream.isTTY ? new TerminalBar(name, stream, now) : new PlainLines(name, stream, now);
}

class PlainLines implements ProgressView {
  private shown = '';
  constructor(
    private readonly name: string,
    private readonly stream: ProgressStream,
    private readonly now: () => number,
  ) {}

  update(operation: ClientOperation): void {
    const parts = [`${this.name}: ${stateOf(operation)}`];
    if (operation.progressPercent !== undefined) parts.push(`${operation.progressPercent}%`);
    // The absolute time, not a countdown, so that a line is written only when the estimate moves.
    if (operation.estimatedCompletion !== undefined && !operation.done) {
      parts.push(`ETA ${operation.estimatedCompletion.toISOString()} (in ${formatRemaining(operation.estimatedCompletion.getTime() - this.now())})`);
    }
    const line = parts.join(' ');
    // The countdown alone changing is not news.
    const key = line.replace(/ \(in [^)]*\)$/, '');
    if (key === this.shown) return;
    this.shown = key;
    this.stream.write(`${line}\n`);
  }

  finish(operation: ClientOperation): void {
    this.update(operation);
  }

  abandon(): void {}
}

const COLOURS: Record<string, number> = { DONE: 32, SUCCEEDED: 32, FAILED: 31, CANCELLED: 33, CANCELLING: 33 };
const BAR_FULL = '█';
const BAR_EMPTY = '░';

class TerminalBar implements ProgressView {
  private last: ClientOperation | undefined;
  private readonly timer: NodeJS.Timeout;
  private readonly colour: boolean;

  constructor(
    private readonly name: string,
    private readonly stream: ProgressStream,
    private readonly now: () => number,
  ) {
    // hasColors() is false under NO_COLOR, NODE_DISABLE_COLORS or TERM=dumb.
    this.colour = stream.hasColors?.() ?? false;
    // The ETA counts down between the server's replies.
    this.timer = setInterval(() => this.last !== undefined && this.draw(this.last), 1000).unref();
  }

  update(operation: ClientOperation): void {
    this.last = operation;
    this.draw(operation);
  }

  finish(operation: ClientOperation): void {
    clearInterval(this.timer);
    this.draw(operation);
    this.stream.write('\n');
  }

  abandon(): void {
    clearInterval(this.timer);
    if (this.last !== undefined) this.stream.write('\n');
  }

  private draw(operation: ClientOperation): void {
    // A line as wide as the terminal would wrap, and \r would then redraw only its last row.
    const width = Math.max(20, (this.stream.columns || 80) - 1);
    const state = stateOf(operation);
    const percent = operation.done && operation.error === undefined ? 100 : operation.progressPercent;
    const eta =
      operation.estimatedCompletion !== undefined && !operation.done
        ? `ETA ${formatRemaining(operation.estimatedCompletion.getTime() - this.now())}`
        : '';
    const tail = [percent === undefined ? ' --%' : `${String(Math.round(percent)).padStart(3)}%`, eta.padEnd(10), state].join(' ');
    const room = width - tail.length - 2;
    // The bar takes 10 to 30 cells; the name what is left, shortened in the middle if need be.
    let barCells = Math.min(30, room - Math.min(this.name.length, 40) - 4);
    if (barCells < 5) barCells = 0;
    const nameCells = room - (barCells > 0 ? barCells + 4 : 0);
    const parts: string[] = [];
    if (nameCells >= 8) parts.push(shorten(this.name, nameCells));
    if (barCells > 0) {
      const filled = Math.round((barCells * Math.min(100, Math.max(0, percent ?? 0))) / 100);
      parts.push(`[${BAR_FULL.repeat(filled)}${BAR_EMPTY.repeat(barCells - filled)}]`);
    }
    const colour = COLOURS[state];
    const shownState = this.colour && colour !== undefined ? `\x1b[${colour}m${state}\x1b[39m` : state;
    parts.push(tail.slice(0, tail.length - state.length) + shownState);
    // \r back to the start of the line, then erase what a longer previous line left.
    this.stream.write(`\r${parts.join('  ')}\x1b[K`);
  }
}

/** `text` in exactly `cells` cells: padded, or cut in the middle (`operations/abcdefgh` in 12: `operat…efgh`). */
export function shorten(text: string, cells: number): string {
  if (text.length <= cells) return text.padEnd(cells);
  const tail = Math.floor((cells - 1) / 2);
  return `${text.slice(0, cells - 1 - tail)}…${text.slice(text.length - tail)}`;
}
