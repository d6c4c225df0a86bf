/** `longrun serve` as a separate process, as a person or a supervisor would run it (started through children.ts). */
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { runChild, spawnChild, type Child } from './children.js';
import { within } from './wait.js';

export const CLI = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url));

export interface ServerProcess {
  child: ChildProcess;
  address: string;
  stderr(): string;
  stdout(): string;
  /** Resolves with the exit code (or the signal name). */
  exited: Promise<number | string>;
  /** Sends `signal` (SIGTERM by default) and resolves with `exited`; fails if the process is still running after `ms`. */
  stop(signal?: NodeJS.Signals, ms?: number): Promise<number | string>;
}

/**
 * `longrun serve` on port 0. The Vision sample is on, as by default, with its storage root beside
 * the database (not ./data/storage of the checkout); `args` come last and win.
 */
export function spawnServer(databasePath: string, args: string[] = [], env: Record<string, string> = {}): Promise<ServerProcess> {
  const serveArgs = ['serve', '--port', '0', '--http-port', '0', '--db', databasePath, '--storage-root', storageRootFor(databasePath), '--log-level', 'warn', ...args];
  return spawnLongrun(serveArgs, /longrun listening on (\S+)/, 'longrun serve', env);
}

/** The `http://HOST:PORT` that `longrun serve` prints for its HTTP gateway (after its gRPC line). */
export function httpAddressOf(server: ServerProcess, ms = 30_000): Promise<string> {
  const printed = () => /longrun http on (http:\/\/\S+)/.exec(server.stdout())?.[1];
  return within(
    new Promise<string>((resolve) => {
      const check = () => {
        const url = printed();
        if (url !== undefined) resolve(url);
      };
      server.child.stdout!.on('data', check);
      check();
    }),
    'longrun serve to print its HTTP address',
    ms,
  );
}

/** Resolves with the first line of `server`'s stderr (its log) that `pattern` matches, woken by its output; fails after `ms`. */
export function logLineOf(server: ServerProcess, pattern: RegExp, what: string, ms = 30_000): Promise<string> {
  const found = () => server.stderr().split('\n').find((line) => pattern.test(line));
  return within(
    new Promise<string>((resolve) => {
      const check = () => {
        const line = found();
        if (line === undefined) return;
        server.child.stderr!.off('data', check);
        resolve(line);
      };
      server.child.stderr!.on('data', check);
      check();
    }),
    `${what} (in its log)`,
    ms,
  );
}

/** Beside a SQLite file; for a database URL, a fresh temp folder (never ./data/storage of the checkout). */
function storageRootFor(database: string): string {
  return /^postgres(ql)?:\/\//.test(database) ? mkdtempSync(join(tmpdir(), 'longrun-storage-')) : join(dirname(database), 'storage');
}

/**
 * `longrun ARGS` as a child process (through children.ts: its own process group, always ended),
 * resolved once stdout matches `ready`; `address` is the match's first group (the bound address,
 * or a runner's holder id). A process that exits before it is ready fails this at once, with its
 * output.
 */
async function spawnLongrun(args: string[], ready: RegExp, what: string, env: Record<string, string> = {}): Promise<ServerProcess> {
  const started = spawnChild(process.execPath, [CLI, ...args], { env: { ...process.env, ...env } });
  const address = (await started.waitFor(ready, `${what} to print its ready line`, 30_000))[1]!;
  return serverProcess(started, address, what);
}

/** A started child as a ServerProcess (`stop` signals its group, SIGKILL after `ms`). */
export function serverProcess(started: Child, address: string, what: string): ServerProcess {
  const exited = started.exited.then(({ code, signal }) => (code ?? signal) as number | string);
  const stop = async (signal: NodeJS.Signals = 'SIGTERM', ms = 30_000) => {
    const exit = await started.kill(signal, ms);
    if (exit.forced && signal !== 'SIGKILL') assert.fail(`not within ${ms} ms: ${what} to exit after ${signal}\n${started.output()}`);
    return exit.code ?? exit.signal!;
  };
  return { child: started.process, address, stderr: started.stderr, stdout: started.stdout, exited, stop };
}

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** `env` is added to this process's environment; `input` is written to stdin. */
export async function runCli(args: string[], options: { env?: Record<string, string>; input?: string } = {}): Promise<CliResult> {
  const result = await runChild(process.execPath, [CLI, ...args], {
    env: { ...process.env, ...options.env },
    ...(options.input !== undefined && { input: options.input }),
  });
  return { code: result.code ?? 1, stdout: result.stdout, stderr: result.stderr };
}

/** Where util-linux `script` is, to give the CLI a real pseudo-terminal; undefined if missing (runCliInTerminal then fails: terminal tests never skip). */
export const SCRIPT = ['/usr/bin/script', '/bin/script'].find((path) => existsSync(path));

/**
 * Runs the CLI on a pseudo-terminal, as a person at a terminal would: `script` (util-linux) makes
 * the pty, and stdout and stderr both reach it (as on a screen), so the result is one `output`.
 * `columns` sets the terminal's width (stty); the exit code is the CLI's (script -e).
 */
export function runCliInTerminal(
  args: string[],
  options: { env?: Record<string, string>; columns?: number } = {},
): Promise<{ code: number; output: string }> {
  assert.ok(SCRIPT !== undefined, 'util-linux `script` (/usr/bin/script) is needed for the terminal tests (Debian: bsdutils); they fail rather than skip without it');
  const quote = (word: string) => `'${word.replaceAll("'", `'\\''`)}'`;
  const command = [...(options.columns === undefined ? [] : [`stty cols ${options.columns} rows 24;`]), 'exec', ...[process.execPath, CLI, ...args].map(quote)].join(' ');
  return runChild(SCRIPT, ['-qfec', command, '/dev/null'], { env: { ...process.env, ...options.env } }).then((result) => ({
    code: result.code ?? 1,
    output: result.stdout,
  }));
}

/** `longrun runner` as a separate process; resolves once it printed its ready line (`address` is its holder id). */
export function spawnRunner(databaseUrl: string, args: string[] = [], env: Record<string, string> = {}): Promise<ServerProcess> {
  return spawnLongrun(['runner', '--db', databaseUrl, '--storage-root', storageRootFor(databaseUrl), '--log-level', 'warn', ...args], /longrun runner ready \((\S+)\)/, 'longrun runner', env);
}
