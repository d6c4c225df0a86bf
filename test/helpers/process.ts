/** `longrun serve` as a separate process, as a person or a supervisor would run it. */
import { spawn, execFile, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

export const CLI = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url));

export interface ServerProcess {
  child: ChildProcess;
  address: string;
  stderr(): string;
  stdout(): string;
  /** Resolves with the exit code (or the signal name). */
  exited: Promise<number | string>;
}

export async function spawnServer(databasePath: string, args: string[] = []): Promise<ServerProcess> {
  const child = spawn(process.execPath, [CLI, 'serve', '--port', '0', '--db', databasePath, '--log-level', 'warn', ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stderr = '';
  child.stderr!.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  const exited = once(child, 'exit').then(([code, signal]) => (code ?? signal) as number | string);
  let stdout = '';
  child.stdout!.setEncoding('utf8');
  const address = await new Promise<string>((resolve, reject) => {
    child.stdout!.on('data', (chunk: string) => {
      stdout += chunk;
      const match = /longrun listening on (\S+)/.exec(stdout);
      if (match) resolve(match[1]!);
    });
    void exited.then((code) => reject(new Error(`server exited (${code}) before listening: ${stderr}`)));
  });
  return { child, address, stderr: () => stderr, stdout: () => stdout, exited };
}

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** `env` is added to this process's environment; `input` is written to stdin. */
export function runCli(args: string[], options: { env?: Record<string, string>; input?: string } = {}): Promise<CliResult> {
  return new Promise((resolve) => {
    const child = execFile(process.execPath, [CLI, ...args], { timeout: 30_000, env: { ...process.env, ...options.env } }, (error, stdout, stderr) =>
      resolve({ code: error ? (typeof error.code === 'number' ? error.code : 1) : 0, stdout, stderr }),
    );
    child.stdin!.end(options.input ?? '');
  });
}

/** Where util-linux `script` is, to give the CLI a real pseudo-terminal; undefined if missing. */
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
  const quote = (word: string) => `'${word.replaceAll("'", `'\\''`)}'`;
  const command = [...(options.columns === undefined ? [] : [`stty cols ${options.columns} rows 24;`]), 'exec', ...[process.execPath, CLI, ...args].map(quote)].join(' ');
  return new Promise((resolve) => {
    execFile(SCRIPT!, ['-qfec', command, '/dev/null'], { timeout: 30_000, env: { ...process.env, ...options.env } }, (error, stdout) =>
      resolve({ code: error ? (typeof error.code === 'number' ? error.code : 1) : 0, output: stdout }),
    );
  });
}

/** `longrun runner` as a separate process; resolves once it printed its ready line. */
export async function spawnRunner(databaseUrl: string, args: string[] = []): Promise<ServerProcess> {
  const child = spawn(process.execPath, [CLI, 'runner', '--db', databaseUrl, '--log-level', 'warn', ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stderr = '';
  child.stderr!.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  const exited = once(child, 'exit').then(([code, signal]) => (code ?? signal) as number | string);
  let stdout = '';
  child.stdout!.setEncoding('utf8');
  const holder = await new Promise<string>((resolve, reject) => {
    child.stdout!.on('data', (chunk: string) => {
      stdout += chunk;
      const match = /longrun runner ready \((\S+)\)/.exec(stdout);
      if (match) resolve(match[1]!);
    });
    void exited.then((code) => reject(new Error(`runner exited (${code}) before it was ready: ${stderr}`)));
  });
  return { child, address: holder, stderr: () => stderr, stdout: () => stdout, exited };
}
