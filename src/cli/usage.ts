/** The help of every `longrun` command, and the exit codes a shell script can test. */
import { OPTIONS } from '../config.js';

/** Exit codes of every command. */
export const Exit = {
  /** Done: the command succeeded; for `wait` (and `get`), the operation did not fail. */
  OK: 0,
  /** The operation failed or was cancelled; or the server refused the call (permission, authentication...). */
  FAILED: 1,
  /** Bad usage: unknown command or flag, missing argument, a value the server rejects as INVALID_ARGUMENT. */
  USAGE: 2,
  /** The operation does not exist (or expired), or the server could not be reached. */
  NOT_FOUND_OR_UNREACHABLE: 3,
  /** `wait --timeout` ran out while the operation was still running. */
  STILL_RUNNING: 4,
  /** `serve` or `runner` could not listen on one of its ports (in use, address not available, permission refused). */
  CANNOT_LISTEN: 5,
} as const;

/** A mistake in the command line: its message and the command's usage go to stderr, exit 2. */
export class UsageError extends Error {
  constructor(
    message: string,
    readonly command?: string,
  ) {
    super(message);
  }
}

const CLIENT_OPTIONS = `client options (every client command):
  --address HOST:PORT   the server (default: 127.0.0.1:50051, or LONGRUN_ADDRESS)
  --tls-ca FILE         speak TLS, trusting this PEM CA (LONGRUN_TLS_CA); without it, plaintext
                        unless --tls-cert is given (then the system's roots)
  --tls-cert FILE       client certificate for mTLS (LONGRUN_TLS_CLIENT_CERT), with --tls-key
  --tls-key FILE        its PEM private key (LONGRUN_TLS_CLIENT_KEY)
  -h, --help            this help
  The bearer token, if the server wants one, is read from LONGRUN_TOKEN (never a flag).`;

const EXIT_CODES = `exit codes: 0 ok, 1 the operation failed (or the call was refused), 2 usage,
  3 not found or server unreachable`;

const HELP: Record<string, string> = {
  get: `usage: longrun get NAME [options]

Prints the operation NAME (e.g. operations/abc) on stdout in proto3 JSON, as buf curl and grpcurl
print it (plus "done": false while it runs): name, done, and its metadata, response or error, each
Any with its "@type". Types longrun does not know are asked of the server's reflection; one that
stays unknown prints as {"@type", "value": base64}.

${CLIENT_OPTIONS}

${EXIT_CODES}; get exits 0 for a running operation, 1 for a failed one.
`,
  list: `usage: longrun list [COLLECTION] [--filter EXPR] [--limit N] [--json] [options]

Lists the operations of COLLECTION (default: operations; or e.g. projects/p/locations/l), newest
first, every page of them. On stdout, a table: NAME, STATE (RUNNING or the metadata's own state;
DONE, FAILED or CANCELLED once done), PROGRESS, TYPE (the metadata's message) and, when the
metadata has them, CREATED and UPDATED. On a terminal the table is cut to its width.

  --filter EXPR    AIP-160 filter, e.g. 'done = false', 'error.code = CANCELLED',
                   'create_time > "2026-01-02T03:04:05Z"'
  --limit N        stop after N operations (default: all)
  --page-size N    operations per ListOperations call (default: the server's)
  --json           one JSON document instead of the table, for scripts:
                   {"operations": [ ... ]}, each operation as \`longrun get\` prints it

${CLIENT_OPTIONS}

${EXIT_CODES}
`,
  wait: `usage: longrun wait NAME [--timeout DURATION] [options]

Waits until the operation NAME is done, then prints it as JSON on stdout (as \`longrun get\`).
Meanwhile progress goes to stderr: on a terminal, one line redrawn in place with a bar, the
percent, the ETA (from the server's estimated completion) and the state, coloured unless NO_COLOR
is set; to a pipe or file, a plain line each time the state, percent or estimate changes.

  --timeout DURATION   give up after this long (e.g. 30s, 5m, 2h); the operation, still running,
                       is printed and the exit code is 4. Default: wait as long as it takes.

${CLIENT_OPTIONS}

${EXIT_CODES}, 4 still running when --timeout ran out. Ctrl-C stops waiting (exit 130); the
operation goes on.
`,
  cancel: `usage: longrun cancel NAME [options]
       longrun cancel --filter EXPR [COLLECTION] [--dry-run] [--all-principals] [options]

Asks the server to cancel the operation NAME. Cancellation is asynchronous: \`longrun wait NAME\`
then ends with the operation CANCELLED (exit 1), or DONE if it finished first.

With --filter, cancels every unfinished operation of COLLECTION (default: operations) the AIP-160
filter matches, as one bulk operation (longrun.v1.BulkOperations/CancelOperations), waits for it
and prints it as JSON; its response lists what was cancelled. stderr says how many.

  --filter EXPR        which operations, e.g. 'done = false'
  --dry-run            only count them (stderr: "would cancel N operations")
  --all-principals     every principal's operations (admins only; default: your own)
  --request-id ID      the same ID again makes no second bulk operation

${CLIENT_OPTIONS}

${EXIT_CODES}
`,
  rerun: `usage: longrun rerun NAME [options]
       longrun rerun --filter EXPR [COLLECTION] [--dry-run] [--all-principals] [options]

Starts the done operation NAME again with the same request: a new operation that names the original
(rerun_of in the status monitor, the watch stream and \`longrun get\`). Prints the new operation as
JSON on stdout.

With --filter, re-runs every done operation of COLLECTION (default: operations) the AIP-160 filter
matches, e.g. 'done = true AND error.code = 14' (UNAVAILABLE), as one bulk operation
(longrun.v1.BulkOperations/RerunOperations), waits for it and prints it as JSON; its response lists
each original and its re-run. stderr says how many.

  --filter EXPR        which operations
  --dry-run            only count them (stderr: "would re-run N operations")
  --all-principals     every principal's operations (admins only; default: your own)
  --request-id ID      re-runs each original at most once for this ID, however often it is given

${CLIENT_OPTIONS}

${EXIT_CODES}
`,
  delete: `usage: longrun delete NAME [options]

Deletes the operation NAME once it is done. The server refuses a running operation
(FAILED_PRECONDITION, exit 1): cancel it first, \`longrun wait\` for it to end, then delete it.

${CLIENT_OPTIONS}

${EXIT_CODES}
`,
  'copy-store': `usage: longrun copy-store --from FILE --to URL [--pg-schema longrun]

Copies a SQLite store (FILE, e.g. ./data/longrun.db) into PostgreSQL (URL, postgres://...):
every operation with its request, result and idempotency key, and the key that signs operation
names and page tokens, so names, page tokens and retries made before the move keep working.
Run it with the servers stopped; running it again copies only what is missing. Completion
callback URLs of unfinished operations come along; the delivery history does not.

exit codes: 0 copied, 1 failed (nothing is written then), 2 usage
`,
  deliveries: `usage: longrun deliveries list [--state STATE] [--operation NAME] [--limit N] [--json] [--db FILE|URL]
       longrun deliveries retry ID [--db FILE|URL]

Completion callbacks (signed webhooks), read from the store itself, so it works with the servers
up or down. list prints the deliveries newest first: ID (the webhook-id), STATE, ATTEMPTS, LAST
(the last HTTP status or error), UPDATED, OPERATION and RECEIVER (without its query string).
retry makes a dead or gone delivery pending again with its attempts reset, due now, and lets
its receiver have deliveries again after a 410; a running deliverer sends it within its poll.

  --state STATE     pending, delivered, dead (the retry schedule ran out) or gone (a 410)
  --operation NAME  only the deliveries of this operation
  --limit N         at most N deliveries (default: all)
  --json            {"deliveries": [...]} instead of the table
  --db FILE|URL     the store (default: ./data/longrun.db, or LONGRUN_DB)
  --pg-schema NAME  PostgreSQL schema (default: longrun, or LONGRUN_PG_SCHEMA)

exit codes: 0 ok, 1 retry of a delivered one, 2 usage, 3 no such delivery
`,
  'hash-token': `usage: longrun hash-token PRINCIPAL < token

Reads one token on stdin and prints its line for a --token-file: "<sha256 hex> PRINCIPAL".
The token never appears on a command line or in the file.

  printf %s "$TOKEN" | longrun hash-token alice >> tokens.txt

exit codes: 0 ok, 2 usage (no principal, a bad principal, or no token on stdin)
`,
};

const PLACEHOLDERS: Record<string, string> = {
  string: 'VALUE', file: 'FILE', list: 'A,B', port: 'PORT', 'optional-port': 'PORT', duration: 'DURATION', int: 'N',
};

/** Words in lines of at most `width` columns, each indented by `indent` spaces. */
function wrap(text: string, indent: number, width: number): string {
  const lines: string[] = [];
  let line = '';
  for (const word of text.split(/\s+/)) {
    if (line !== '' && indent + line.length + 1 + word.length > width) {
      lines.push(line);
      line = word;
    } else line = line === '' ? word : `${line} ${word}`;
  }
  lines.push(line);
  return lines.map((each) => `${' '.repeat(indent)}${each}`).join('\n');
}

function serveHelp(command: 'serve' | 'runner'): string {
  const lines = OPTIONS.map((option) => {
    const value = option.kind === 'boolean' ? '' : ` ${option.values?.join('|') ?? PLACEHOLDERS[option.kind]}`;
    const fallback = option.default === '' ? '' : ` Default: ${option.default}.`;
    const negation = option.negation === undefined ? '' : `, --${option.negation}`;
    return `  --${option.flag}${value}${negation}  [${option.env}]\n${wrap(`${option.description}${fallback}`, 6, 78)}`;
  });
  const intro =
    command === 'serve'
      ? `usage: longrun serve [options]

Serves google.longrunning.Operations over gRPC on a SQLite database or PostgreSQL, and runs the
work of the methods it serves (unless --no-runner). Prints "longrun listening on HOST:PORT" once
it listens; stops gracefully on SIGTERM or SIGINT.`
      : `usage: longrun runner --db URL [--enable-sleeper] [--enable-vision] [options]

Runs the handlers of operations that servers (serve --no-runner) create on the same database, and
serves no RPCs. Prints "longrun runner ready (HOLDER)" once it runs; on SIGTERM or SIGINT it lets
handlers finish for --shutdown-grace, gives the leases of the rest back and exits 0.`;
  return `${intro}
Every option is also an environment variable (in brackets); flags win.
Durations take ms, s, m, h or d (e.g. 30s, 5m).

${lines.join('\n')}
  -h, --help
      this help

exit codes: 0 stopped after SIGTERM/SIGINT, 1 failed while serving, 2 a bad or dangerous option,
  5 could not listen on a port (in use, address not available, or permission refused: one line on
  stderr names the address and the option that moves it)
`;
}

export const CLIENT_COMMANDS = ['get', 'list', 'wait', 'cancel', 'delete', 'rerun'] as const;
export const COMMANDS = ['serve', 'runner', 'copy-store', 'deliveries', 'get', 'list', 'wait', 'cancel', 'delete', 'rerun', 'hash-token'] as const;
export type Command = (typeof COMMANDS)[number];

export function helpOf(command: Command): string {
  return command === 'serve' || command === 'runner' ? serveHelp(command) : HELP[command]!;
}

export const USAGE = `usage: longrun COMMAND [options]     (longrun COMMAND --help for each)

  longrun serve [--port 50051] [--db FILE|URL] [--no-vision] ...    run the server
  longrun runner --db URL [--enable-sleeper] ...                     run handlers only
  longrun copy-store --from FILE --to URL                            move SQLite into PostgreSQL
  longrun deliveries list [--state dead] | retry ID                  completion callbacks
  longrun list [COLLECTION] [--filter EXPR] [--json]                 list operations as a table
  longrun get NAME                                                   print an operation as JSON
  longrun wait NAME [--timeout 5m]                                   show progress until it is done
  longrun cancel NAME | --filter EXPR [--dry-run]                   cancel one operation, or every match
  longrun rerun NAME | --filter EXPR [--dry-run]                    run done operations again
  longrun delete NAME                                                delete an operation
  longrun hash-token PRINCIPAL < token                               a line for --token-file

Client commands talk to --address HOST:PORT (default 127.0.0.1:50051, or LONGRUN_ADDRESS).

exit codes: 0 ok, 1 the operation failed (or the call was refused), 2 usage,
  3 not found or server unreachable, 4 wait --timeout ran out with the operation still running,
  5 serve or runner could not listen on a port
`;
