#!/usr/bin/env node
/**
 * `npm test` (after the build): runs the test files with node's test runner, then checks that no
 * process the run started is still running. Every process a test starts carries
 * LONGRUN_TEST_RUN=<this run's id> in its environment (test/helpers/children.ts adds it, also to a
 * scrubbed environment; what those processes start inherits it), so the check finds exactly this
 * run's leftovers, and not a server someone runs by hand from the same checkout. Leftovers are
 * killed, named, and fail the run. The runner's summary stays the last output.
 *
 *   node scripts/test.mjs [FILE...]     (default: every dist/test/**\/*.test.js)
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const MARKER = 'LONGRUN_TEST_RUN';
const RUN = `${Date.now().toString(36)}-${randomBytes(4).toString('hex')}`;

/** Every *.test.js under dir, sorted by path. */
function testFiles(dir) {
  return readdirSync(dir, { recursive: true })
    .filter((file) => file.endsWith('.test.js'))
    .map((file) => relative(ROOT, join(dir, file)))
    .sort();
}

const files = process.argv.length > 2 ? process.argv.slice(2) : testFiles(join(ROOT, 'dist', 'test'));
// The runner picks its reporter by whether its stdout is a terminal; its stdout is a pipe here, so say which.
const reporter = process.stdout.isTTY ? 'spec' : 'tap';
const args = ['--test', '--test-concurrency=1', '--test-timeout=300000', `--test-reporter=${reporter}`, ...files];
const runner = spawn(process.execPath, args, { cwd: ROOT, stdio: ['inherit', 'pipe', 'inherit'], env: { ...process.env, [MARKER]: RUN } });

// Passed through as it comes, except the summary (from "tests N" on), held back to print last.
const SUMMARY_START = /^(ℹ|#) tests \d+$/;
let partial = '';
const held = [];
runner.stdout.setEncoding('utf8').on('data', (chunk) => {
  const lines = (partial + chunk).split('\n');
  partial = lines.pop();
  for (const line of lines) {
    if (held.length === 0 && !SUMMARY_START.test(line)) process.stdout.write(`${line}\n`);
    else held.push(line);
  }
});
// Ctrl-C reaches the runner too (same process group); this script still checks and reports.
for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP']) process.on(signal, () => runner.kill(signal));

const [code, signal] = await new Promise((resolve) => runner.on('close', (...exit) => resolve(exit)));
if (partial !== '') held.push(partial);

const leftovers = await leftoverProcesses();
let failed = code !== 0;
if (signal !== null) {
  process.stdout.write(`scripts/test.mjs: the test runner was ended by ${signal}\n`);
  failed = true;
}
if (leftovers.length > 0) {
  failed = true;
  process.stdout.write(`scripts/test.mjs: ${leftovers.length} process(es) started by the tests were still running after them (killed now):\n`);
  for (const { pid, command } of leftovers) process.stdout.write(`  pid ${pid}: ${command}\n`);
} else {
  process.stdout.write('scripts/test.mjs: no process started by the tests is left running\n');
}
for (const line of held) process.stdout.write(`${line}\n`);
process.exitCode = failed ? 1 : 0;

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
