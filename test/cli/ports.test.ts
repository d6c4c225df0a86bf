/**
 * A port that cannot be had (taken by another program, an address not on this machine, a low port
 * without the privilege): `serve` and `runner` say so in one line naming the address, what it was
 * for and the option that moves it, exit 5 promptly, and leave nothing open. And `Longrun.close()`
 * and `shutdown()` leave nothing listening when they are called while a port is still being bound.
 */
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { connect, createServer, type Server as NetServer } from 'node:net';
import { after, describe, it, type TestContext } from 'node:test';
import { createLongrun } from '../../src/app.js';
import { createServer as createGrpcServer, listen, shutdown } from '../../src/grpc/server.js';
import { runChild, type ChildResult } from '../helpers/children.js';
import { CLI, runCli } from '../helpers/process.js';
import { silentLogger } from '../helpers/server.js';
import { tempDir } from '../helpers/temp.js';

/** The exit code of a port that cannot be had (usage.ts `Exit.CANNOT_LISTEN`). */
const CANNOT_LISTEN = 5;
/** A start that fails must end within this: before, a taken HTTP port left the process up, half started, forever. */
const PROMPT_MS = 30_000;

const dir = tempDir();
after(() => dir.remove());

/** A port held by this test's own server on 127.0.0.1, released when the test ends. */
async function holdPort(t: TestContext): Promise<number> {
  const holder: NetServer = createServer();
  await new Promise<void>((resolve, reject) => {
    holder.once('error', reject);
    holder.listen(0, '127.0.0.1', resolve);
  });
  t.after(() => new Promise<void>((resolve) => holder.close(() => resolve())));
  return (holder.address() as { port: number }).port;
}

/** A port that was free a moment ago (bound and released by this process). */
async function freePort(): Promise<number> {
  const probe = createServer();
  await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
  const { port } = probe.address() as { port: number };
  await new Promise<void>((resolve) => probe.close(() => resolve()));
  return port;
}

/** Whether something accepts connections on 127.0.0.1:port. */
function listeningOn(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

async function assertNothingOn(ports: number[], what: string): Promise<void> {
  for (const port of ports) assert.equal(await listeningOn(port), false, `nothing listens on ${port} ${what}`);
}

let databases = 0;

/** `longrun ARGS` with a database of its own, bounded by PROMPT_MS (a hang fails the test with the output so far). */
function longrun(t: TestContext, args: string[], options: { command?: string; prefix?: string[] } = {}): Promise<ChildResult> {
  const database = dir.file(`ports-${++databases}.db`);
  const storage = ['--storage-root', dir.file('storage'), '--log-level', 'warn'];
  return runChild(options.command ?? process.execPath, [...(options.prefix ?? []), CLI, ...args, '--db', database, ...storage], { timeoutMs: PROMPT_MS, t });
}

function assertOneLine(result: ChildResult, line: string): void {
  const output = `stdout:\n${result.stdout}\nstderr:\n${result.stderr}`;
  assert.equal(result.code, CANNOT_LISTEN, output);
  assert.equal(result.stderr, `${line}\n`, output);
  assert.equal(result.stdout, '', 'nothing claims to be listening');
}

describe('longrun serve on a port that is taken', { timeout: 180_000 }, () => {
  it('the HTTP port: one line naming it and --http-port, exit 5, the gRPC and metrics ports closed again', async (t) => {
    const taken = await holdPort(t);
    const [grpcPort, metricsPort] = [await freePort(), await freePort()];
    const result = await longrun(t, ['serve', '--port', `${grpcPort}`, '--metrics-port', `${metricsPort}`, '--http-port', `${taken}`]);
    assertOneLine(
      result,
      `longrun serve: cannot listen on 127.0.0.1:${taken} for HTTP: address already in use; choose another with --http-port (or --http-port off)`,
    );
    await assertNothingOn([grpcPort, metricsPort], 'after the failed start');
  });

  it('the gRPC port: one line naming it and --port (not grpc-js\'s "No address added"), exit 5', async (t) => {
    const taken = await holdPort(t);
    const metricsPort = await freePort();
    const result = await longrun(t, ['serve', '--port', `${taken}`, '--metrics-port', `${metricsPort}`, '--http-port', '0']);
    assertOneLine(result, `longrun serve: cannot listen on 127.0.0.1:${taken} for gRPC: address already in use; choose another with --port`);
    await assertNothingOn([metricsPort], 'after the failed start');
  });

  it('the metrics port: one line naming it and --metrics-port, exit 5', async (t) => {
    const taken = await holdPort(t);
    const result = await longrun(t, ['serve', '--port', '0', '--http-port', '0', '--metrics-port', `${taken}`]);
    assertOneLine(result, `longrun serve: cannot listen on 127.0.0.1:${taken} for metrics: address already in use; choose another with --metrics-port`);
  });
});

describe('longrun runner on a metrics port that is taken', { timeout: 120_000 }, () => {
  it('says so in one line and exits 5 without running anything', async (t) => {
    const taken = await holdPort(t);
    const result = await longrun(t, ['runner', '--enable-sleeper', '--metrics-port', `${taken}`]);
    assertOneLine(result, `longrun runner: cannot listen on 127.0.0.1:${taken} for metrics: address already in use; choose another with --metrics-port`);
  });
});

describe('longrun serve on an address it cannot have', { timeout: 120_000 }, () => {
  it('an address not on this machine (EADDRNOTAVAIL): names the address and --host, exit 5', async (t) => {
    // 192.0.2.0/24 is TEST-NET-1 (RFC 5737): never assigned to a machine.
    const result = await longrun(t, ['serve', '--host', '192.0.2.1', '--allow-insecure', '--port', '50999', '--http-port', '0']);
    assertOneLine(result, 'longrun serve: cannot listen on 192.0.2.1:50999 for gRPC: address not available on this machine; choose another with --host');
  });

  it('a low port without the privilege (EACCES): names it and --port, exit 5', async (t) => {
    // Ports below this need CAP_NET_BIND_SERVICE; where it is 0 or 1 (some containers), port 1 is anyone's.
    const unprivilegedStart = Number(readFileSync('/proc/sys/net/ipv4/ip_unprivileged_port_start', 'utf8'));
    assert.ok(unprivilegedStart > 1, `this machine lets anyone bind port 1 (net.ipv4.ip_unprivileged_port_start = ${unprivilegedStart}); the test needs it above 1`);
    // As root, the server runs without the capability (setpriv drops it from the bounding set before exec).
    const root = process.getuid?.() === 0;
    assert.ok(!root || existsSync('/usr/bin/setpriv'), 'setpriv (util-linux) is needed to drop the privilege as root');
    const result = await longrun(
      t,
      ['serve', '--port', '1', '--http-port', '0'],
      root ? { command: '/usr/bin/setpriv', prefix: ['--bounding-set', '-net_bind_service', '--', process.execPath] } : {},
    );
    assertOneLine(result, 'longrun serve: cannot listen on 127.0.0.1:1 for gRPC: permission denied (ports below 1024 need privileges); choose another with --port');
  });

  it('exit 5 is in the help of serve and runner, and in longrun --help', async () => {
    for (const args of [['serve', '--help'], ['runner', '--help'], ['--help']]) {
      const help = await runCli(args);
      assert.match(help.stdout, /5 (could not listen on a port|serve or runner could not listen on a port)/, `longrun ${args.join(' ')}`);
    }
  });
});

describe('closing while a port is still being bound', { timeout: 60_000 }, () => {
  it('Longrun.close() leaves no HTTP or metrics server listening, also when a listen was in progress or failed', async (t) => {
    const taken = await holdPort(t);
    const longrun = await createLongrun({ databasePath: dir.file('close.db'), logger: silentLogger });
    await assert.rejects(longrun.http.listen({ port: taken }), { code: 'EADDRINUSE' });
    // Not awaited: close() is called while both are binding, as a shutdown during start-up would.
    const metrics = longrun.serveMetrics({ port: 0 });
    const http = longrun.http.listen({ port: 0 });
    await longrun.close(0);
    const ports = (await Promise.allSettled([metrics, http])).flatMap((outcome) => (outcome.status === 'fulfilled' ? [outcome.value.port] : []));
    await assertNothingOn(ports, 'after Longrun.close()');
    // Open, this would be NOT_FOUND; closed, the store refuses the read.
    await assert.rejects(longrun.get('operations/none'), /database connection is not open/);
  });

  it('shutdown() of a gRPC server whose listen is in progress leaves its port free', async () => {
    const server = createGrpcServer();
    const port = await freePort();
    // Not awaited: grpc-js's own shutdown does not wait for a bind, which then stays open for good.
    const bound = listen(server, '127.0.0.1', port);
    await shutdown(server, 0);
    await bound.catch(() => undefined);
    await assertNothingOn([port], 'after shutdown()');
  });
});
