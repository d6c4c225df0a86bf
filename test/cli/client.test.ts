/**
 * The `longrun` client as a person and a script use it: on a pseudo-terminal (util-linux
 * `script`) and through a pipe, against a real `longrun serve`; help and exit codes of every command.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { spawnChild } from '../helpers/children.js';
import { CLI, runCli, runCliInTerminal, spawnServer, type ServerProcess } from '../helpers/process.js';
import { createLogger, createLongrun, createServer, listen, shutdown } from '../../src/index.js';
import { GenericCaller } from '../helpers/server.js';
import { tempDir } from '../helpers/temp.js';
import { within } from '../helpers/wait.js';

const SLEEP = '/longrun.testing.v1.Sleeper/Sleep';
const COMMANDS = ['serve', 'get', 'list', 'wait', 'cancel', 'delete', 'hash-token', 'deliveries'];
/** Any control character but the newline: what a pipe must never receive. */
const CONTROL = /[\x00-\x09\x0b-\x1f\x7f]/;

const sleepRequest = (ms: number, steps: number, extra: Record<string, unknown> = {}) => ({
  duration: { seconds: Math.floor(ms / 1000), nanos: (ms % 1000) * 1e6 },
  steps,
  ...extra,
});

/** The percents of a progress output, in order. */
const percents = (text: string) => [...text.matchAll(/(\d+)%/g)].map((match) => Number(match[1]));

describe('longrun --help and usage errors', { timeout: 180_000 }, () => {
  for (const command of COMMANDS) {
    it(`${command} --help and -h print its usage on stdout and exit 0`, async () => {
      for (const flag of ['--help', '-h']) {
        const result = await runCli([command, flag]);
        assert.equal(result.code, 0, result.stderr);
        assert.match(result.stdout, new RegExp(`^usage: longrun ${command}`));
        assert.match(result.stdout, /exit codes/);
        assert.equal(result.stderr, '');
      }
    });
  }

  it('longrun --help and longrun help COMMAND', async () => {
    const top = await runCli(['--help']);
    assert.equal(top.code, 0);
    for (const command of COMMANDS) assert.match(top.stdout, new RegExp(`longrun ${command}`));
    const wait = await runCli(['help', 'wait']);
    assert.deepEqual([wait.code, wait.stdout.split('\n')[0]], [0, 'usage: longrun wait NAME [--timeout DURATION] [options]']);
  });

  it('a usage error says what is wrong, prints the usage on stderr and exits 2', async () => {
    const cases: [string[], RegExp][] = [
      [[], /a command is missing/],
      [['frobnicate'], /unknown command "frobnicate"/],
      [['get'], /NAME is missing/],
      [['cancel', 'a', 'b'], /unexpected argument "b"/],
      [['list', '--bogus'], /Unknown option '--bogus'/],
      [['list', '--limit', 'ten'], /--limit takes a whole number/],
      [['wait', 'operations/x', '--timeout', 'soon'], /--timeout/],
      [['get', 'operations/x', '--tls-cert', 'c.pem'], /--tls-cert and --tls-key go together/],
      [['hash-token'], /PRINCIPAL is missing/],
      [['serve', '--port', 'abc'], /--port/],
    ];
    for (const [args, why] of cases) {
      const result = await runCli(args);
      assert.equal(result.code, 2, `${args.join(' ')}: ${result.stderr}`);
      assert.match(result.stderr, why);
      if (args[0] !== 'serve') assert.match(result.stderr, /usage: longrun/, `${args.join(' ')} shows its usage`);
      assert.equal(result.stdout, '');
    }
  });
});

describe('longrun client commands, at a terminal and through a pipe', { timeout: 180_000 }, () => {
  const dir = tempDir();
  let server: ServerProcess;
  let caller: GenericCaller;
  let address: string[];
  const start = async (ms: number, steps: number, extra?: Record<string, unknown>) =>
    (await caller.call<{ name: string }>(SLEEP, sleepRequest(ms, steps, extra))).name;

  before(async () => {
    server = await spawnServer(dir.file('client.db'), ['--enable-sleeper']);
    caller = new GenericCaller(server.address);
    address = ['--address', server.address];
  });
  after(async () => {
    caller.close();
    await server.stop();
    dir.remove();
  });

  it('wait on a terminal redraws one progress line (bar, rising percent, ETA, state) and exits 0', async () => {
    const name = await start(2500, 5);
    // Node turns colour off when CI is set (as CI logs are no terminal); this terminal is a real one.
    const { code, output } = await runCliInTerminal(['wait', name, ...address], { env: { TERM: 'xterm-256color', FORCE_COLOR: '1' } });
    assert.equal(code, 0, output);
    const [progress, ...json] = output.split('\r\n');
    const frames = progress!.split('\r').filter((frame) => frame !== '');
    assert.ok(frames.length >= 3, `the line was redrawn: ${JSON.stringify(progress)}`);
    for (const frame of frames) assert.ok(frame.endsWith('\x1b[K'), 'each frame erases the rest of the line');
    const seen = percents(progress!);
    assert.ok(seen.some((percent) => percent > 0 && percent < 100), `partial progress shown: ${seen}`);
    assert.deepEqual([...seen].sort((a, b) => a - b), seen, 'the percent only rises');
    assert.equal(seen.at(-1), 100);
    assert.match(progress!, /█+░+\]/, 'a bar');
    assert.match(progress!, /ETA \d+s/);
    assert.match(progress!, /RUNNING/);
    assert.match(frames.at(-1)!, /\x1b\[32mDONE\x1b\[39m/, 'the final state, in green');
    assert.equal(JSON.parse(json.join('\n')).done, true, 'then the operation as JSON');
  });

  it('wait on a terminal respects NO_COLOR and a narrow terminal', async () => {
    const name = await start(1200, 3);
    const { code, output } = await runCliInTerminal(['wait', name, ...address], { env: { TERM: 'xterm-256color', NO_COLOR: '1' }, columns: 50 });
    assert.equal(code, 0, output);
    const progress = output.split('\r\n')[0]!;
    assert.doesNotMatch(progress, /\x1b\[\d+m/, 'no colour');
    for (const frame of progress.split('\r').filter((each) => each !== '')) {
      assert.ok(frame.replace('\x1b[K', '').length < 50, `fits 50 columns: ${JSON.stringify(frame)}`);
    }
    assert.match(progress, /DONE/);
  });

  it('wait through a pipe writes plain progress lines on stderr, only on change, and the JSON on stdout', async () => {
    const name = await start(2500, 5);
    const result = await runCli(['wait', name, ...address]);
    assert.equal(result.code, 0, result.stderr);
    assert.doesNotMatch(result.stderr + result.stdout, CONTROL, 'no control characters');
    const lines = result.stderr.trimEnd().split('\n');
    assert.ok(lines.length >= 2, result.stderr);
    for (const line of lines) assert.ok(line.startsWith(`${name}: `), line);
    assert.equal(new Set(lines).size, lines.length, 'no line repeated');
    assert.ok(lines.some((line) => /RUNNING \d+% ETA \d{4}-\d\d-\d\dT[^ ]+ \(in \d+s\)$/.test(line)), result.stderr);
    assert.equal(lines.at(-1), `${name}: DONE 100%`);
    const seen = percents(result.stderr);
    assert.deepEqual([...seen].sort((a, b) => a - b), seen);
    assert.equal(JSON.parse(result.stdout).done, true);
  });

  it('wait exits 1 for a failed or cancelled operation, naming its state', async () => {
    const failed = await start(10, 1, { failWith: { code: 9, message: 'the precondition failed' } });
    const result = await runCli(['wait', failed, ...address]);
    assert.equal(result.code, 1, result.stderr);
    assert.match(result.stderr, new RegExp(`${failed}: FAILED`));
    assert.equal(JSON.parse(result.stdout).error.message, 'the precondition failed');

    const long = await start(60_000, 600);
    assert.equal((await runCli(['cancel', long, ...address])).code, 0);
    const cancelled = await runCli(['wait', long, ...address]);
    assert.equal(cancelled.code, 1);
    assert.match(cancelled.stderr, new RegExp(`${long}: CANCELLED`));
  });

  it('wait --timeout that runs out prints the running operation and exits 4', async () => {
    const name = await start(60_000, 600);
    const result = await runCli(['wait', name, '--timeout', '300ms', ...address]);
    assert.equal(result.code, 4, result.stderr);
    assert.equal(JSON.parse(result.stdout).done, false);
    await runCli(['cancel', name, ...address]);
  });

  it('Ctrl-C (SIGINT) stops waiting with exit 130 and leaves the operation running', async (t) => {
    const name = await start(60_000, 600);
    const wait = spawnChild(process.execPath, [CLI, 'wait', name, ...address], { t });
    const [firstLine] = await wait.waitFor(/^.*\n/, 'longrun wait to print the running state', 10_000, 'stderr');
    assert.match(firstLine, /RUNNING/);
    wait.process.kill('SIGINT');
    assert.equal((await within(wait.exited, 'longrun wait to exit after SIGINT')).code, 130);
    const got = await runCli(['get', name, ...address]);
    assert.equal(JSON.parse(got.stdout).done, false, 'still running');
    await runCli(['cancel', name, ...address]);
  });

  it('list prints a table that fits the terminal, and --json one document for scripts', async () => {
    const names = [await start(10, 1), await start(10, 1)];
    for (const name of names) assert.equal((await runCli(['wait', name, ...address])).code, 0);

    const piped = await runCli(['list', '--filter', 'done = true AND error.code = 0', ...address]);
    assert.equal(piped.code, 0, piped.stderr);
    assert.doesNotMatch(piped.stdout, CONTROL);
    const [header, ...rows] = piped.stdout.trimEnd().split('\n');
    assert.match(header!, /^NAME +STATE +TYPE +CREATED$/);
    for (const name of names) assert.ok(rows.some((row) => row.startsWith(name) && /DONE +longrun\.testing\.v1\.SleepMetadata +\d{4}-/.test(row)), piped.stdout);

    const json = await runCli(['list', '--json', '--limit', '1', ...address]);
    assert.equal(json.code, 0);
    const document = JSON.parse(json.stdout) as { operations: { name: string; done: boolean; metadata: { '@type': string } }[] };
    assert.equal(document.operations.length, 1);
    assert.equal(document.operations[0]!.metadata['@type'], 'type.googleapis.com/longrun.testing.v1.SleepMetadata');

    const narrow = await runCliInTerminal(['list', ...address], { columns: 40 });
    assert.equal(narrow.code, 0);
    const lines = narrow.output.trimEnd().split('\r\n');
    assert.match(lines[0]!, /^NAME +STATE$/);
    for (const line of lines) assert.ok(line.length <= 40, `fits 40 columns: ${line}`);
  });

  it('exits 3 when the operation does not exist or the server is unreachable, 2 for a malformed name', async () => {
    const missing = await runCli(['get', 'operations/AAAAAAAAAAAAAAAAAAAAAAAAAAA', ...address]);
    assert.equal(missing.code, 3, missing.stderr);
    assert.match(missing.stderr, /does not exist/);
    for (const command of ['get', 'wait', 'cancel', 'delete']) {
      assert.equal((await runCli([command, 'operations/AAAAAAAAAAAAAAAAAAAAAAAAAAA', ...address])).code, 3, command);
    }
    const unreachable = await runCli(['list', '--address', '127.0.0.1:1']);
    assert.equal(unreachable.code, 3, unreachable.stderr);
    const malformed = await runCli(['get', 'not a name', ...address]);
    assert.equal(malformed.code, 2, malformed.stderr);
  });
});

describe('longrun get of an embedding app operation', { timeout: 180_000 }, () => {
  it('decodes types it does not know through server reflection, else prints them as {"@type", "value": base64}', async () => {
    const appProtos = fileURLToPath(new URL('../../../examples/proto', import.meta.url));
    const dir = tempDir();
    const longrun = await createLongrun({
      databasePath: dir.file('app.db'),
      protoFiles: ['example/reports/v1/reports.proto'],
      includeDirs: [appProtos],
      logger: createLogger('silent'),
    });
    longrun.method('/example.reports.v1.Reports/GenerateReport', async (request: { title: string }, context) => {
      await context.setMetadata({ pagesDone: 2 });
      return { title: request.title, pages: 2 };
    });
    const withReflection = createServer();
    longrun.addToServer(withReflection);
    const withoutReflection = createServer();
    longrun.addToServer(withoutReflection, { reflection: false });
    const reflecting = `127.0.0.1:${await listen(withReflection, '127.0.0.1', 0)}`;
    const silent = `127.0.0.1:${await listen(withoutReflection, '127.0.0.1', 0)}`;
    longrun.start();
    try {
      const operation = await longrun.create('/example.reports.v1.Reports/GenerateReport', { title: 'Q3', pages: 2 });
      await longrun.wait(operation.name, 10_000);
      const decoded = await runCli(['get', operation.name, '--address', reflecting]);
      assert.equal(decoded.code, 0, decoded.stderr);
      assert.deepEqual(JSON.parse(decoded.stdout), {
        name: operation.name,
        metadata: { '@type': 'type.googleapis.com/example.reports.v1.GenerateReportMetadata', pagesDone: 2 },
        done: true,
        response: { '@type': 'type.googleapis.com/example.reports.v1.Report', title: 'Q3', pages: 2 },
      });

      const undecoded = await runCli(['get', operation.name, '--address', silent]);
      assert.equal(undecoded.code, 0, undecoded.stderr);
      const registry = longrun.registry;
      assert.deepEqual(JSON.parse(undecoded.stdout), {
        name: operation.name,
        metadata: {
          '@type': 'type.googleapis.com/example.reports.v1.GenerateReportMetadata',
          value: Buffer.from(registry.encode('example.reports.v1.GenerateReportMetadata', { pagesDone: 2 })).toString('base64'),
        },
        done: true,
        response: {
          '@type': 'type.googleapis.com/example.reports.v1.Report',
          value: Buffer.from(registry.encode('example.reports.v1.Report', { title: 'Q3', pages: 2 })).toString('base64'),
        },
      });
    } finally {
      await Promise.all([shutdown(withReflection, 1000), shutdown(withoutReflection, 1000)]);
      await longrun.close(1000);
      dir.remove();
    }
  });
});

describe('longrun delete', { timeout: 180_000 }, () => {
  it('says in its help, and does, that a running operation is refused (exit 1), not deleted', async () => {
    const help = await runCli(['delete', '--help']);
    assert.match(help.stdout, /refuses a running operation/);
    assert.doesNotMatch(help.stdout, /done or not/);
    const dir = tempDir();
    const server = await spawnServer(dir.file('delete.db'), ['--enable-sleeper']);
    const caller = new GenericCaller(server.address);
    try {
      const { name } = await caller.call<{ name: string }>(SLEEP, sleepRequest(60_000, 600));
      const refused = await runCli(['delete', name, '--address', server.address]);
      assert.equal(refused.code, 1, refused.stderr);
      assert.match(refused.stderr, /cancel it first/);
      assert.equal(JSON.parse((await runCli(['get', name, '--address', server.address])).stdout).name, name, 'still there');
      await runCli(['cancel', name, '--address', server.address]);
    } finally {
      caller.close();
      await server.stop();
      dir.remove();
    }
  });
});
