#!/usr/bin/env node
/**
 * `longrun serve` runs the server, `longrun runner` only handlers, `longrun copy-store` moves a
 * store, `longrun deliveries` shows and retries completion callbacks; `longrun
 * get|list|wait|cancel|delete` talk to a server.
 * The only place (with serve.ts and client.ts) that reads argv and the environment.
 * Exit codes: see `Exit` in usage.ts.
 */
import { parseArgs } from 'node:util';
import { hashToken, isValidPrincipal } from '../auth/tokens.js';
import { ConfigError } from '../config.js';
import { LongrunError } from '../domain/errors.js';
import { ListenFailure } from './listen.js';
import { CLIENT_COMMANDS, COMMANDS, Exit, helpOf, USAGE, UsageError, type Command } from './usage.js';

const isCommand = (word: string | undefined): word is Command => (COMMANDS as readonly (string | undefined)[]).includes(word);
const wantsHelp = (args: string[]) => args.some((arg) => arg === '--help' || arg === '-h');

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  if (command === '--help' || command === '-h') return help(USAGE);
  if (command === 'help') return rest[0] === undefined ? help(USAGE) : isCommand(rest[0]) ? help(helpOf(rest[0])) : usageError(new UsageError(`unknown command "${rest[0]}"`));
  if (command === undefined) return usageError(new UsageError('a command is missing'));
  if (!isCommand(command)) return usageError(new UsageError(`unknown command "${command}"`));
  // Before anything else, so that --help never starts a server or reads stdin.
  if (wantsHelp(rest)) return help(helpOf(command));
  try {
    // Each command loads only what it needs: `longrun wait` starts in a fraction of the time the
    // whole server takes to load, so its first look at a short operation comes while it runs.
    if (command === 'serve' || command === 'runner') {
      const [{ serve, SERVE_FLAGS }, { runner }] = await Promise.all([import('./serve.js'), import('./runner.js')]);
      const { values, positionals } = parseArgs({ args: rest, options: SERVE_FLAGS, strict: true, allowPositionals: true });
      if (positionals.length > 0) throw new UsageError(`unexpected argument "${positionals[0]}"`);
      const run = command === 'serve' ? serve : runner;
      return await run(values as Record<string, string | boolean | undefined>, process.env);
    }
    if (command === 'copy-store') return await (await import('./copy-store.js')).copyStoreCommand(rest);
    if (command === 'deliveries') return await (await import('./deliveries.js')).deliveriesCommand(rest, process.env, process.stdout);
    if (command === 'hash-token') return await hashTokenCommand(rest);
    if ((CLIENT_COMMANDS as readonly string[]).includes(command)) {
      const { runClientCommand } = await import('./client.js');
      return await runClientCommand(command as (typeof CLIENT_COMMANDS)[number], rest, process.env, process);
    }
    throw new Error(`no handler for ${command}`);
  } catch (error) {
    // A bad or dangerous option of serve: the reason is enough, the whole help would drown it.
    if (error instanceof ConfigError) return usageError(new UsageError(error.message, command), false);
    if (error instanceof UsageError) return usageError(new UsageError(error.message, command));
    // The database cannot be reached, written or opened (at start, say): the reason, not a stack trace.
    if (error instanceof LongrunError && (error.reason === 'STORE_UNAVAILABLE' || error.reason === 'STORE_CANNOT_OPEN')) {
      process.stderr.write(`longrun ${command}: ${error.message}\n`);
      return Exit.FAILED;
    }
    // A port taken, an address not on this machine, a low port refused: one line, nothing left open.
    if (error instanceof ListenFailure) {
      process.stderr.write(`longrun ${command}: ${error.message}\n`);
      return Exit.CANNOT_LISTEN;
    }
    if ((error as { code?: string }).code?.startsWith('ERR_PARSE_ARGS')) return usageError(new UsageError((error as Error).message, command));
    throw error;
  }
}

function help(text: string): number {
  process.stdout.write(text);
  return Exit.OK;
}

/** The mistake, then the usage of the command (or of longrun), on stderr; exit 2. */
function usageError(error: UsageError, withUsage = true): number {
  const usage = error.command === undefined ? USAGE : helpOf(error.command as Command).split('\n\n')[0]!;
  process.stderr.write(`longrun${error.command === undefined ? '' : ` ${error.command}`}: ${error.message}\n`);
  if (withUsage) process.stderr.write(`${usage}\n${error.command === undefined ? '' : `(longrun ${error.command} --help for more)\n`}`);
  return Exit.USAGE;
}

/** Prints `<sha256 hex> <principal>`, a line of the token file, for the token read from stdin. */
async function hashTokenCommand(args: string[]): Promise<number> {
  const { positionals } = parseArgs({ args, allowPositionals: true, options: {}, strict: true });
  const [principal, ...extra] = positionals;
  if (principal === undefined) throw new UsageError('the PRINCIPAL is missing');
  if (extra.length > 0) throw new UsageError(`unexpected argument "${extra[0]}"`);
  if (!isValidPrincipal(principal)) throw new UsageError('a principal is 1-256 printable characters, no spaces, not "*"');
  let input = '';
  for await (const chunk of process.stdin) input += String(chunk);
  const token = input.replace(/\r?\n$/, '');
  if (token === '' || /\s/.test(token)) throw new UsageError('expected one token, without spaces, on stdin');
  process.stdout.write(`${hashToken(token)} ${principal}\n`);
  return Exit.OK;
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    process.stderr.write(`longrun: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
    process.exitCode = Exit.FAILED;
  },
);
