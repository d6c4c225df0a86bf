#!/usr/bin/env node
/**
 * `longrun serve` runs the server; `longrun get|list|wait|cancel|delete` talk to one.
 * The only place (with serve.ts) that reads argv and the environment.
 */
import { parseArgs } from 'node:util';
import { hashToken, isValidPrincipal } from '../auth/tokens.js';
import { ConfigError } from '../config.js';
import { runClientCommand, CLIENT_COMMANDS, ClientUsageError } from './client.js';
import { serve, SERVE_FLAGS } from './serve.js';

const USAGE = `usage:
  longrun serve [--host H] [--port P] [--db FILE] [--sync NORMAL|FULL] [--retention 30d] [--wait-cap 60s]
                [--max-waits-per-principal 1000] [--lease 30s] [--poll 1s] [--max-attempts 3] [--shutdown-grace 10s] [--enable-sleeper]
                [--log-level info] [--log-format auto|json|pretty] [--metrics-port P]
                [--token-file FILE] [--tls-cert FILE --tls-key FILE] [--tls-client-ca FILE]
                [--admins P1,P2] [--allow-insecure]   (each flag also as LONGRUN_* environment variable)
  longrun get NAME                  [--address host:port]
  longrun list [COLLECTION] [--filter EXPR] [--page-size N] [--all]
  longrun wait NAME [--timeout 60s]
  longrun cancel NAME
  longrun delete NAME
      client options: --address host:port (LONGRUN_ADDRESS), --tls-ca FILE (LONGRUN_TLS_CA),
      --tls-cert FILE --tls-key FILE (mTLS); the bearer token is read from LONGRUN_TOKEN
  longrun hash-token PRINCIPAL      reads a token on stdin, prints its token-file line
`;

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  if (command === undefined || command === '--help' || command === '-h' || command === 'help') {
    process.stdout.write(USAGE);
    return command === undefined ? 2 : 0;
  }
  try {
    if (command === 'serve') {
      const { values } = parseArgs({ args: rest, options: SERVE_FLAGS, strict: true });
      return await serve(values as Record<string, string | boolean | undefined>, process.env);
    }
    if (command === 'hash-token') return await hashTokenCommand(rest);
    if ((CLIENT_COMMANDS as readonly string[]).includes(command)) {
      return await runClientCommand(command as (typeof CLIENT_COMMANDS)[number], rest, process.env);
    }
    process.stderr.write(`longrun: unknown command "${command}"\n${USAGE}`);
    return 2;
  } catch (error) {
    if (error instanceof ConfigError || error instanceof ClientUsageError || (error as { code?: string }).code?.startsWith('ERR_PARSE_ARGS')) {
      process.stderr.write(`longrun ${command}: ${(error as Error).message}\n`);
      return 2;
    }
    throw error;
  }
}

/** Prints `<sha256 hex> <principal>`, a line of the token file, for the token read from stdin. */
async function hashTokenCommand(args: string[]): Promise<number> {
  const [principal, ...extra] = args;
  if (principal === undefined || extra.length > 0) throw new ClientUsageError('usage: longrun hash-token PRINCIPAL < token');
  if (!isValidPrincipal(principal)) throw new ClientUsageError('a principal is 1-256 printable characters, no spaces, not "*"');
  let input = '';
  for await (const chunk of process.stdin) input += String(chunk);
  const token = input.replace(/\r?\n$/, '');
  if (token === '' || /\s/.test(token)) throw new ClientUsageError('expected one token, without spaces, on stdin');
  process.stdout.write(`${hashToken(token)} ${principal}\n`);
  return 0;
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    process.stderr.write(`longrun: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
    process.exitCode = 1;
  },
);
