import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { GenericCaller } from '../helpers/server.js';
import { hasSample, scrape, valueOf } from '../helpers/prometheus.js';
import { eventually } from '../helpers/wait.js';
import { runCli, spawnServer, type ServerProcess } from '../helpers/process.js';
import { tempDir } from '../helpers/temp.js';

const SLEEP = '/longrun.testing.v1.Sleeper/Sleep';

async function stop(server: ServerProcess): Promise<void> {
  assert.equal(await server.stop(), 0);
}

describe('longrun serve: logs and metrics (a real process)', { timeout: 180_000 }, () => {
  const dir = tempDir();
  after(() => dir.remove());

  it('--metrics-port 0 serves /metrics on a free port, prints it, and the counters move', async () => {
    const server = await spawnServer(dir.file('metrics.db'), ['--enable-sleeper', '--metrics-port', '0', '--log-level', 'info', '--log-format', 'json']);
    const caller = new GenericCaller(server.address);
    try {
      await eventually(() => /longrun metrics on /.test(server.stdout()), 'the metrics address is printed');
      const url = /longrun metrics on (\S+)/.exec(server.stdout())![1]!;
      assert.match(url, /^http:\/\/127\.0\.0\.1:\d+\/metrics$/);
      const before = await scrape(url);
      assert.equal(hasSample(before, 'longrun_rpcs_total', { method: SLEEP }), false, 'no Sleep call counted yet');
      assert.ok(before.some((sample) => sample.name === 'process_cpu_user_seconds_total'), 'process metrics are served');

      await caller.call(SLEEP, { duration: { seconds: 0, nanos: 0 }, steps: 1 });
      const after = await scrape(url);
      assert.equal(valueOf(after, 'longrun_rpcs_total', { method: SLEEP, code: 'OK' }), 1);
      assert.equal(valueOf(after, 'longrun_operations_created_total', { method: SLEEP }), 1);

      // --log-format json: every line on stderr is one JSON object; the RPC has its line.
      await eventually(() => server.stderr().includes(`"rpc":"${SLEEP}"`), 'the RPC is logged');
      const lines = server.stderr().trim().split('\n').map((line) => JSON.parse(line) as Record<string, unknown>);
      const rpc = lines.find((line) => line['rpc'] === SLEEP)!;
      assert.deepEqual([rpc['code'], rpc['principal'], typeof rpc['durationMs']], ['OK', 'default', 'number']);
      assert.match(String(rpc['operation']), /^operations\//);
    } finally {
      caller.close();
      await stop(server);
    }
  });

  it('logs JSON when stderr is not a terminal, and pretty lines with --log-format pretty', async () => {
    const auto = await spawnServer(dir.file('auto.db'), ['--log-level', 'info']);
    await eventually(() => auto.stderr().includes('"msg":"serving"'), 'the start is logged');
    await stop(auto);
    assert.equal((JSON.parse(auto.stderr().split('\n')[0]!) as { msg: string }).msg, 'serving');

    const pretty = await spawnServer(dir.file('pretty.db'), ['--log-level', 'info', '--log-format', 'pretty']);
    await eventually(() => pretty.stderr().includes('serving'), 'the start is logged');
    await stop(pretty);
    assert.match(pretty.stderr(), /^\[[\d:.]+\] INFO: serving \{"address":"127\.0\.0\.1:\d+",/m);
    assert.doesNotMatch(pretty.stderr(), /^\{/m);
  });

  it('refuses a bad --metrics-port as a usage error', async () => {
    const result = await runCli(['serve', '--http-port', 'off', '--metrics-port', 'nine', '--db', dir.file('bad.db')]);
    assert.equal(result.code, 2);
    assert.match(result.stderr, /--metrics-port: must be a port number/);
  });
});
