/**
 * Every process a test starts goes through here (`spawnChild`, `runChild`): it runs in a process
 * group of its own (`detached`), with LONGRUN_TEST_RUN in its environment, and its whole group
 * (itself and whatever it started) is ended in every path: by the test (`kill`), when the test
 * file's tests are over (an `after` hook), when this process exits, and when it is told to stop
 * (SIGTERM, SIGINT, SIGHUP: the runner cancelling a file). scripts/test.mjs then checks that no
 * process carrying the run's marker is left.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { after } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';

/** The marker in every child's environment; scripts/test.mjs sets it per run (one per test process otherwise). */
export const TEST_RUN_VARIABLE = 'LONGRUN_TEST_RUN';
export const TEST_RUN = process.env[TEST_RUN_VARIABLE] ?? `process-${process.pid}`;

/** How long a group has after SIGTERM before it gets SIGKILL. */
export const KILL_AFTER_MS = 5_000;

export interface ChildExit {
  /** The exit code, or null when a signal ended it. */
  code: number | null;
  signal: NodeJS.Signals | null;
}

export interface ChildOptions {
  cwd?: string;
  /** The child's whole environment (default: this process's); the run's marker is always added. */
  env?: NodeJS.ProcessEnv;
  /** Written to stdin, which is then closed (default: stdin is closed at once). */
  input?: string;
  /** Run as this user and group (tests of permissions, when this process is root). */
  uid?: number;
  gid?: number;
  /** The test (or suite) whose end kills it, through `t.after`; otherwise the end of the file does. */
  t?: { after(fn: () => unknown): void };
}

export interface Child {
  readonly process: ChildProcess;
  readonly pid: number;
  /** What it wrote so far. */
  stdout(): string;
  stderr(): string;
  /** Both, labelled, for assertion messages. */
  output(): string;
  /** Settles once it exited and its output is read to the end. */
  readonly exited: Promise<ChildExit>;
  /**
   * The first match of `pattern` in its stdout (or `stream`). Fails at once, with its output, if
   * it exits first, and after `ms` otherwise (the child is then killed).
   */
  waitFor(pattern: RegExp, what: string, ms?: number, stream?: 'stdout' | 'stderr'): Promise<RegExpExecArray>;
  /**
   * Sends `signal` to its group, SIGKILL after `ms` if any of the group is left; resolves with its
   * exit once the group is gone (`forced`: SIGKILL was needed).
   */
  kill(signal?: NodeJS.Signals, ms?: number): Promise<ChildExit & { forced: boolean }>;
}

/** Children not yet known to be gone with their groups. */
const live = new Set<Child>();

/** Starts `command args` in a process group of its own. */
export function spawnChild(command: string, args: readonly string[], options: ChildOptions = {}): Child {
  const child = spawn(command, args, {
    cwd: options.cwd,
    env: { ...(options.env ?? process.env), [TEST_RUN_VARIABLE]: TEST_RUN },
    stdio: ['pipe', 'pipe', 'pipe'],
    // Its own process group, so that kill reaches what it starts too (a server's workers, bench servers).
    detached: true,
    ...(options.uid !== undefined && { uid: options.uid }),
    ...(options.gid !== undefined && { gid: options.gid }),
  });
  const pid = child.pid;
  if (pid === undefined) {
    // spawn failed (no such command): the error event says why.
    throw new Error(`could not start ${command}`);
  }
  const text = { stdout: '', stderr: '' };
  const watchers = new Set<() => void>();
  for (const stream of ['stdout', 'stderr'] as const) {
    child[stream].setEncoding('utf8').on('data', (chunk: string) => {
      text[stream] += chunk;
      for (const watcher of watchers) watcher();
    });
  }
  child.stdin.on('error', () => undefined); // a child that exits without reading its stdin
  child.stdin.end(options.input ?? '');
  // 'close': exited, and every byte of its output read.
  const exited = once(child, 'close').then(([code, signal]) => ({ code, signal }) as ChildExit);
  const output = () => `${command} ${args.join(' ')}\n--- stdout\n${text.stdout}--- stderr\n${text.stderr}`;
  const kill = async (signal: NodeJS.Signals = 'SIGTERM', ms = KILL_AFTER_MS): Promise<ChildExit & { forced: boolean }> => {
    signalGroup(child, signal);
    const forced = !(await groupGone(child, ms));
    if (forced) {
      signalGroup(child, 'SIGKILL');
      await groupGone(child, KILL_AFTER_MS);
    }
    const exit = await exited;
    live.delete(handle);
    return { ...exit, forced };
  };
  const handle: Child = {
    process: child,
    pid,
    stdout: () => text.stdout,
    stderr: () => text.stderr,
    output,
    exited,
    waitFor(pattern, what, ms = 30_000, stream = 'stdout') {
      return new Promise<RegExpExecArray>((resolve, reject) => {
        const timer = setTimeout(() => {
          finish();
          reject(new Error(`not within ${ms} ms: ${what}\n${output()}`));
          void kill('SIGKILL');
        }, ms);
        const check = () => {
          const match = pattern.exec(text[stream]);
          if (match !== null) {
            finish();
            resolve(match);
          }
        };
        const finish = () => {
          clearTimeout(timer);
          watchers.delete(check);
        };
        watchers.add(check);
        check();
        void exited.then(({ code, signal }) => {
          if (!watchers.has(check)) return;
          finish();
          reject(new Error(`exited (${code ?? signal}) before ${what}\n${output()}`));
        });
      });
    },
    kill,
  };
  live.add(handle);
  options.t?.after(() => kill());
  // A group whose leader is gone may still hold members; they are killed by the hooks below.
  void exited.then(() => {
    if (!groupExists(child)) live.delete(handle);
  });
  return handle;
}

export interface ChildResult extends ChildExit {
  stdout: string;
  stderr: string;
}

/**
 * Runs `command args` to its end. Past `timeoutMs` its group is killed and this fails with its
 * output (a command that hangs is a failure to report, not an exit code to assert on).
 */
export async function runChild(command: string, args: readonly string[], options: ChildOptions & { timeoutMs?: number } = {}): Promise<ChildResult> {
  const child = spawnChild(command, args, options);
  const ms = options.timeoutMs ?? 30_000;
  let timer: NodeJS.Timeout | undefined;
  const timedOut = new Promise<'timeout'>((resolve) => {
    timer = setTimeout(() => resolve('timeout'), ms);
  });
  const outcome = await Promise.race([child.exited, timedOut]);
  clearTimeout(timer);
  if (outcome === 'timeout') {
    await child.kill('SIGKILL');
    throw new Error(`not within ${ms} ms: ${command} to exit\n${child.output()}`);
  }
  // Anything it left running in its group goes with it.
  await child.kill('SIGKILL', 0);
  return { ...outcome, stdout: child.stdout(), stderr: child.stderr() };
}

/**
 * Whether the child's pid still names its group. Once the child has exited (and been reaped), the
 * kernel keeps the number only while members of its group live; with none left it may go to a new
 * process (pid_max is 32768 here, and a run starts thousands), which would lead a group of its own
 * under that number: another test's server. So: the child alive, or no process holding its pid
 * (then only stragglers of its group can answer).
 */
function stillOurs(child: ChildProcess): boolean {
  if (child.exitCode === null && child.signalCode === null) return true;
  try {
    process.kill(child.pid!, 0);
    return false;
  } catch {
    return true;
  }
}

function signalGroup(child: ChildProcess, signal: NodeJS.Signals): void {
  if (!stillOurs(child)) return;
  try {
    process.kill(-child.pid!, signal);
  } catch {
    // ESRCH: the group is gone already.
  }
}

function groupExists(child: ChildProcess): boolean {
  if (!stillOurs(child)) return false;
  try {
    process.kill(-child.pid!, 0);
    return true;
  } catch {
    return false;
  }
}

/** Polls: a group's end announces nothing (its members are not our children). */
async function groupGone(child: ChildProcess, ms: number): Promise<boolean> {
  const end = performance.now() + ms;
  while (groupExists(child)) {
    if (performance.now() >= end) return false;
    await sleep(10);
  }
  return true;
}

installHooks();

/** Once, when a test file first imports this module (so the `after` hook is the file's own). */
function installHooks(): void {
  // The file's tests are over (passed, failed, timed out or cancelled): end what they left.
  after(() => Promise.all([...live].map((child) => child.kill('SIGTERM'))).then(() => undefined));
  // Whatever happens to this process, its children's groups do not outlive it.
  process.once('exit', killAllNow);
  for (const signal of ['SIGTERM', 'SIGINT', 'SIGHUP'] as const) {
    const onSignal = () => {
      killAllNow();
      process.off(signal, onSignal);
      // Then die of it as we would have without this hook.
      if (process.listenerCount(signal) === 0) process.kill(process.pid, signal);
    };
    process.on(signal, onSignal);
  }
}

function killAllNow(): void {
  for (const child of live) signalGroup(child.process, 'SIGKILL');
  live.clear();
}
