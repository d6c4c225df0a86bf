/**
 * The benchmarks still run: the whole of `npm run bench` at BENCH_SCALE=0.01 (a hundredth of the
 * counts and durations), checking that every section reports. Its figures mean nothing at that
 * scale and are not looked at; the figures themselves come from `npm run bench` (BENCHMARKS.md).
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { runChild } from './helpers/children.js';

const BENCH = new URL('../scripts/bench/run.js', import.meta.url).pathname;

/**
 * The sections in three groups of about equal length, run side by side: at this scale the figures
 * are not looked at, so the groups may share the machine. Every section is in one group.
 */
const GROUPS = [
  ['core', 'auth', 'http', 'in-process', 'waits', 'watch', 'tracing'],
  ['peers', 'claims', 'list', 'policies'],
  ['postgres', 'callbacks', 'vision', 'ocr', 'ocr-memory'],
];

/**
 * The policies section builds commit 531cf35 from this checkout's git history. A checkout without
 * it (a shallow clone, a tarball) cannot run that section: there the test checks that the section
 * refuses, saying why, instead of its figures.
 */
const HAS_BASELINE =
  spawnSync('git', ['-C', fileURLToPath(new URL('../..', import.meta.url)), 'rev-parse', '--verify', '--quiet', '531cf35^{commit}']).status === 0;

describe('npm run bench', { timeout: 300_000 }, () => {
  it('runs every section end to end', async () => {
    // Each group in a process group of its own: the bench's servers go with it, whatever happens to this test.
    const groups = HAS_BASELINE ? GROUPS : GROUPS.map((sections) => sections.filter((section) => section !== 'policies'));
    const bench = (sections: string[]) => runChild(process.execPath, [BENCH, ...sections], { env: { ...process.env, BENCH_SCALE: '0.01' }, timeoutMs: 290_000 });
    const [runs, refused] = await Promise.all([Promise.all(groups.map(bench)), HAS_BASELINE ? undefined : bench(['policies'])]);
    if (refused !== undefined) {
      assert.notEqual(refused.code, 0, `without the history, npm run bench -- policies must fail:\n${refused.stdout}`);
      assert.match(refused.stderr, /cannot find it: .* Run it in a git clone that has the history \(not a tarball or a shallow clone: git fetch --unshallow\)/, refused.stderr);
    }
    for (const [i, { code, stdout, stderr }] of runs.entries()) assert.equal(code, 0, `npm run bench -- ${groups[i]!.join(' ')} failed:\n${stderr}\n${stdout}`);
    const stdout = runs.map((run) => run.stdout).join('\n');
    for (const section of [
      /^GetOperation server CPU, 16 in flight: .* ratio \d/m,
      /^GetOperation server CPU, 128 in flight: .* ratio \d/m,
      /^Create-to-done through gRPC .* ratio \d/m,
      /^WaitOperation wake latency, .* 1 in flight .* p99 \d/m,
      /^WaitOperation wake latency, .* 8 in flight .* p99 \d/m,
      /^GetOperation server CPU with bearer-token authentication .* ratio \d/m,
      /^Create-to-done in process .*: [\d,]+ operations\/s/m,
      /^(\d+) concurrent WaitOperation calls: \1 registered, .* \(all done: true\): 0 waiters left/m,
      ...['admin    ', 'one owner'].flatMap((who) =>
        ['done = false', 'name wildcard', 'time range'].map((filter) => new RegExp(`^list, ${who}, ${filter} .* page 100 / page 1 = \\d`, 'm')),
      ),
      /^peers: \d+ no-op jobs a measure, .* PostgreSQL [\d.]+ .* fsync (on|off)/m,
      ...['SQLite create', 'SQLite createMany', 'PostgreSQL create', 'PostgreSQL createMany'].map(
        (side) => new RegExp(`^peers, longrun ${side}: end to end [\\d,]+/s .* processing alone [\\d,]+/s`, 'm'),
      ),
      /^peers, pg-boss 12\.[\d.]+: end to end [\d,]+\/s .* processing alone [\d,]+\/s/m,
      /^peers, graphile-worker [\d.]+: end to end [\d,]+\/s .* processing alone [\d,]+\/s/m,
      // Redis may be missing where the tests run: then the bench says so instead of a figure.
      /^(peers, BullMQ [\d.]+: end to end [\d,]+\/s|peers: BullMQ absent: no Redis at )/m,
      /^peers ratio, longrun SQLite createMany end to end against the best of pg-boss [\d.]+.*: \d[\d.]* of its end-to-end rate .* \d[\d.]* of its processing-alone rate/m,
      /^peers ratio, longrun PostgreSQL createMany end to end against the best of pg-boss [\d.]+ and graphile-worker [\d.]+: \d/m,
      ...['SQLite', 'PostgreSQL'].flatMap((backend) => [
        new RegExp(`^claims ${backend}, empty queue: create-to-start p50 [\\d.,]+ ms, p99 [\\d.,]+ ms .* store claim p50`, 'm'),
        new RegExp(`^claims ${backend}, [\\d,]+ queued, the due tenth running .* p99 ratio \\d`, 'm'),
        new RegExp(`^claims ${backend}, [\\d,]+ queued, only future start times left: .* p99 ratio \\d`, 'm'),
      ]),
      ...(HAS_BASELINE ? [/^policies: baseline 531cf35, the last commit before the policies: (cached|built now) \(commit 531cf35/m] : []),
      ...(HAS_BASELINE ? ['in process', 'through gRPC'] : []).flatMap((way) =>
        // PostgreSQL where the run names a server (npm test's scripts/test.mjs does).
        ['SQLite', ...(process.env.LONGRUN_TEST_PG_URL || process.env.BENCH_PG_URL ? ['PostgreSQL'] : [])].map(
          (store) => new RegExp(`^policies, create-to-done ${way}, ${store} .* ours [\\d,]+ operations/s vs baseline 531cf35 [\\d,]+/s: ratio \\d.* CPU of the (server )?process per operation [\\d.,]+ µs vs [\\d.,]+ µs`, 'm'),
        ),
      ),
      /^PostgreSQL cross-process wake .* p99 \d/m,
      /^Tracing on vs off, GetOperation server CPU, caller sends no trace context, .* ratio \d/m,
      /^Tracing on vs off, GetOperation server CPU, caller sends a sampled traceparent, .* ratio \d/m,
      /^Tracing on vs off, create-to-done through gRPC .* ratio \d.* server CPU .* µs\/operation: ratio \d/m,
      /^Tracing parts in process, CPU per traced call .*: no SDK [\d.]+ µs .* SDK, nothing exported [\d.]+ µs .* SDK, exported [\d.]+ µs .* (\d+) of \1 exported spans received/m,
      /^Tracing on: \d+ OTLP\/HTTP protobuf exports received, .* \(all \d+ ended\)/m,
      /^PostgreSQL cross-process cancel .* p99 \d/m,
      /^PostgreSQL GetOperation server CPU, 16 in flight: .* ratio \d/m,
      /^PostgreSQL create-to-done through gRPC, .* one server .* two servers .* ratio \d/m,
      /^Vision, 1-page document, request to done .* p99 \d/m,
      /^Vision, 2-page PDF: \d+ pages\/s/m,
      /^Vision OCR, 2-page scanned PDF .*: [\d.]+ pages\/s .*(tesseract CLI absent|ratio \d)/m,
      /^Vision text layer, 2-page PDF: [\d,]+ pages\/s/m,
      /^Vision OCR memory, 5-page scanned PDF .* peak [\d,]+ MB during/m,
      /^\d+ concurrent watchers \(\d+ gRPC, \d+ SSE\) .* extra memory with all open [\d.-]+ MB RSS.* p99 [\d.,]+ ms .* all saw done: true/m,
      ...['SQLite', 'PostgreSQL'].flatMap((backend) => [
        new RegExp(`^callbacks ${backend}: completion to the receiver's 2xx, .* p50 [\\d.,]+ ms, p99 [\\d.,]+ ms`, 'm'),
        new RegExp(`^callbacks ${backend}: a backlog of \\d+ deliveries drained at [\\d,]+/s; .* ratio \\d`, 'm'),
      ]),
    ]) {
      assert.match(stdout, section, `no line like ${section} in:\n${stdout}`);
    }
  });
});
