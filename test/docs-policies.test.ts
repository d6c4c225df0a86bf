/**
 * The command blocks of docs/policies.md, run as written in a checkout against a real
 * `longrun serve --enable-sleeper` (only the ports changed: the server's instead of 8080 and 50051),
 * each checked for what the page says it does.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { checkout } from './helpers/checkout.js';
import { runChild } from './helpers/children.js';
import { blockOf, jsonDocuments } from './helpers/doc-blocks.js';
import { http } from './helpers/http.js';
import { httpAddressOf, spawnServer, type ServerProcess } from './helpers/process.js';
import { eventually } from './helpers/wait.js';

interface Status {
  id: string;
  status: string;
  attempt?: number;
  max_attempts?: number;
  waiting?: string;
  estimated_start?: string;
  priority?: number;
  concurrency_key?: string;
  error?: { code: number };
  result?: { attempt?: number };
  updated_at: string;
  metadata?: { startTime?: string };
}

interface Operation {
  name: string;
  done?: boolean;
  error?: { code: number; details?: { '@type': string; reason?: string }[] };
}

describe('docs/policies.md: the command blocks', { timeout: 240_000, concurrency: true }, () => {
  const dir = checkout();
  let server: ServerProcess;
  let base: string;

  before(async () => {
    server = await spawnServer(dir.file('longrun.db'), ['--enable-sleeper']);
    base = await httpAddressOf(server);
  });
  after(async () => {
    await server?.stop();
    dir.remove();
  });

  /** The block as written but the ports; fails with its output and the server's if it does not exit 0. */
  async function run(marker: string): Promise<string> {
    return (await runWithStderr(marker)).stdout;
  }

  async function runWithStderr(marker: string, target = { server, base }): Promise<{ stdout: string; stderr: string }> {
    const script = blockOf('docs/policies.md', marker).replaceAll('localhost:8080', new URL(target.base).host).replaceAll('127.0.0.1:50051', target.server.address);
    const { code, stdout, stderr } = await runChild('sh', ['-e', '-c', script], { cwd: dir.path, timeoutMs: 120_000 });
    assert.equal(code, 0, `${stdout}\n${stderr}\nserver:\n${target.server.stderr()}`);
    return { stdout, stderr };
  }

  /** The names of the operations the block's two creating calls printed (curl's, then buf curl's). */
  function createdBy(stdout: string): string[] {
    const names = (jsonDocuments(stdout) as Operation[]).map((operation) => operation.name);
    assert.equal(names.length, 2, `one operation over HTTP, one over gRPC: ${stdout}`);
    for (const name of names) assert.match(name, /^operations\/[\w-]{27}$/);
    return names;
  }

  const statusOf = async (name: string): Promise<Status> => {
    const reply = await http('GET', `${base}/v1/${name}/status`);
    assert.equal(reply.status, 200, reply.text);
    return reply.json as Status;
  };

  async function waitDone(name: string): Promise<Operation> {
    for (;;) {
      const reply = await http('POST', `${base}/v1/${name}:wait`, { body: { timeout: '30s' } });
      assert.equal(reply.status, 200, reply.text);
      if ((reply.json as Operation).done) return reply.json as Operation;
    }
  }

  it('policies-retries: the first two attempts fail, a retry waits between them, the third succeeds', { timeout: 180_000 }, async () => {
    const stdout = await run('policies-retries');
    const [printed, created] = jsonDocuments(stdout) as [Status, Operation];
    assert.match(printed.id, /^operations\/[\w-]{27}$/, `the status monitor of the curl-created operation: ${stdout}`);
    assert.equal(printed.max_attempts, 3);
    assert.match(created.name, /^operations\/[\w-]{27}$/, 'buf curl created one too');
    // The curl-created operation may be past its retries by the time buf curl (an npx start) returns: its
    // attempt count tells of them. The one buf curl created is watched through its retries from its creation.
    let seenRetryWait = false;
    await eventually(async () => {
      const status = await statusOf(created.name);
      if (status.waiting === 'retry_scheduled' && status.attempt === 2 && status.estimated_start !== undefined) seenRetryWait = true;
      return status.status === 'succeeded';
    }, `${created.name} to succeed after its retries`, 60_000);
    assert.ok(seenRetryWait, '"attempt": 2, "waiting": "retry_scheduled" and "estimated_start" while the last retry waited');
    for (const name of [printed.id, created.name]) {
      await eventually(async () => (await statusOf(name)).status === 'succeeded', `${name} to succeed`, 60_000);
      const status = await statusOf(name);
      assert.equal(status.attempt, 3, 'the third attempt succeeded');
      assert.equal(status.result?.attempt, 3, `the Sleeper's response says which attempt it was: ${JSON.stringify(status)}`);
    }
  });

  it('policies-timeout: both operations end DEADLINE_EXCEEDED (reason TIMEOUT) after 2 s of a 60 s sleep', { timeout: 120_000 }, async () => {
    const started = Date.now();
    const names = createdBy(await run('policies-timeout'));
    for (const name of names) {
      const operation = await waitDone(name);
      assert.equal(operation.error?.code, 4, `${name}: DEADLINE_EXCEEDED`);
      assert.ok(operation.error?.details?.some((detail) => detail['@type'] === 'type.googleapis.com/google.rpc.ErrorInfo' && detail.reason === 'TIMEOUT'), JSON.stringify(operation));
    }
    assert.ok(Date.now() - started < 50_000, 'ended by the timeout, not by the 60 s sleep');
  });

  it('policies-start-time: both operations exist at once and wait, scheduled for 2030', { timeout: 120_000 }, async () => {
    const names = createdBy(await run('policies-start-time'));
    for (const name of names) {
      const status = await statusOf(name);
      assert.equal(status.status, 'pending', JSON.stringify(status));
      assert.equal(status.waiting, 'scheduled');
      assert.equal(new Date(status.estimated_start!).toISOString(), '2030-01-01T12:00:00.000Z');
    }
  });

  it('policies-priority: both operations carry priority 10 and run', { timeout: 120_000 }, async () => {
    const names = createdBy(await run('policies-priority'));
    for (const name of names) {
      assert.equal((await waitDone(name)).error, undefined);
      assert.equal((await statusOf(name)).priority, 10);
    }
  });

  it('policies-concurrency-key: the two operations of key printer-7 run one at a time', { timeout: 120_000 }, async () => {
    const names = createdBy(await run('policies-concurrency-key'));
    await eventually(async () => {
      // (Statuses read one by one are not one instant, so how many run at once is judged below from
      // each run's own start and end times.)
      const statuses = await Promise.all(names.map(statusOf));
      for (const status of statuses) assert.equal(status.concurrency_key, 'printer-7');
      return statuses.every((status) => status.status === 'succeeded');
    }, 'both operations of printer-7 to succeed', 60_000);
    // Each run, from its start (the Sleeper's metadata) to its end (the done status's update time), ends before the other starts.
    const runs = (await Promise.all(names.map(statusOf)))
      .map((status) => ({ start: Date.parse(status.metadata!.startTime!), end: Date.parse(status.updated_at) }))
      .sort((a, b) => a.start - b.start);
    assert.ok(runs[0]!.end <= runs[1]!.start, `one at a time: ${JSON.stringify(runs)}`);
  });

  it('policies-concurrency-per-key: on a server with --concurrency-per-key 2, two of scanner-2 run at once, never three', { timeout: 120_000 }, async () => {
    const pairs = await spawnServer(dir.file('pairs.db'), ['--enable-sleeper', '--concurrency-per-key', '2']);
    try {
      const pairsBase = await httpAddressOf(pairs);
      const { stdout } = await runWithStderr('policies-concurrency-per-key', { server: pairs, base: pairsBase });
      const names = stdout.match(/^operations\/[\w-]{27}$/gm) ?? [];
      assert.equal(names.length, 3, stdout);
      const [printed] = jsonDocuments(stdout) as [Status];
      assert.deepEqual([printed.id, printed.status], [names[2], 'pending'], `the third's status monitor: ${stdout}`);
      const status = async (name: string) => {
        const reply = await http('GET', `${pairsBase}/v1/${name}/status`);
        assert.equal(reply.status, 200, reply.text);
        return reply.json as Status;
      };
      let sawWaiting = false;
      await eventually(async () => {
        // (Statuses read one by one are not one instant: one seen running may have ended before the
        // next was read, so how many ran at once is judged below from each run's start and end.)
        const statuses = await Promise.all(names.map(status));
        if (statuses.filter((one) => one.status === 'running').length === 2 && statuses.some((one) => one.waiting === 'waiting_for_key')) sawWaiting = true;
        return statuses.every((one) => one.status === 'succeeded');
      }, 'the three operations of scanner-2 to succeed', 60_000);
      assert.ok(sawWaiting || printed.waiting === 'waiting_for_key', 'the third waited for its key while two ran');
      // From each run's start (the Sleeper's metadata) to its end (the done status's update time): two at once, never three.
      const runs = (await Promise.all(names.map(status))).map((one) => ({ start: Date.parse(one.metadata!.startTime!), end: Date.parse(one.updated_at) }));
      const atStart = runs.map((run) => runs.filter((other) => other.start <= run.start && run.start < other.end).length);
      assert.equal(Math.max(...atStart), 2, `two at once, never three: ${JSON.stringify(runs)}`);
    } finally {
      await pairs.stop();
    }
  });

  it('policies-rerun: a failed operation is counted, re-run by filter over HTTP, by name over gRPC and the CLI, each re-run linked to it', { timeout: 180_000 }, async () => {
    const { stdout, stderr } = await runWithStderr('policies-rerun');
    const failed = /^(operations\/[\w-]{27}) failed$/m.exec(stdout)?.[1];
    assert.ok(failed !== undefined, `the block says which operation failed: ${stdout}`);
    assert.match(stderr, /^would re-run 1 operation$/m, 'the dry run counts the one failed operation');
    assert.match(stderr, /^would cancel \d+ operations?$/m, 'the cancel dry run counts');
    const reranByCli = new RegExp(`^re-ran ${failed} as (operations/[\\w-]{27})$`, 'm').exec(stderr)?.[1];
    assert.ok(reranByCli !== undefined, stderr);
    const bulks = (jsonDocuments(stdout) as Operation[]).map((operation) => operation.name);
    assert.equal(bulks.length, 2, `the HTTP call and buf curl each print their bulk operation: ${stdout}`);
    const created: string[] = [reranByCli];
    for (const bulk of bulks) {
      const done = (await waitDone(bulk)) as Operation & { response?: { '@type': string; reruns?: { original: string; operation: string }[] } };
      assert.equal(done.error, undefined, JSON.stringify(done));
      assert.equal(done.response?.['@type'], 'type.googleapis.com/longrun.v1.RerunOperationsResponse');
      assert.equal(done.response?.reruns?.length, 1, JSON.stringify(done.response));
      assert.equal(done.response!.reruns![0]!.original, failed);
      created.push(done.response!.reruns![0]!.operation);
    }
    assert.equal(new Set(created).size, 3, `three re-runs, each a new operation: ${created}`);
    for (const name of created) {
      const status = await statusOf(name);
      assert.equal((status as Status & { rerun_of?: string }).rerun_of, failed, `${name} links to ${failed}`);
    }
  });
});
