/**
 * Hostile input, property-based: random and adversarial requests to every Operations RPC and to
 * the Sleeper's creating method, over gRPC and over the HTTP gateway (random paths, methods,
 * headers, bodies and query strings), against a real `longrun serve` process with bearer tokens.
 *
 * Why a child process and not an in-process server: "never crashes" is then the process staying
 * alive (an uncaught exception or a native fault in SQLite would end it, not just fail a promise),
 * and its memory is its own, with none of the test's allocations mixed in. The server runs the
 * unchanged CLI under test/helpers/memory-probe.ts, which on SIGUSR2 collects garbage and reports
 * process.memoryUsage(): the live JS heap after a full GC is what must stay flat (V8 grows and
 * shrinks its heap lazily, so RSS alone moves by tens of MiB without any leak). RSS
 * (/proc/<pid>/status VmRSS, native SQLite memory included) is recorded too, with a looser bound.
 *
 * The calls are sampled up front from fast-check arbitraries with a fixed seed (printed; set
 * LONGRUN_FUZZ_SEED to replay another) and sent 64 at a time. Names and page tokens the server
 * hands out are collected while it runs and fed back, whole or mangled, to later calls. Shrinking
 * is not used: the server's state moves on between calls, so a failing call is reported as it was
 * sent, with its index, and the seed reproduces the sequence.
 */
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { Agent, request as httpRequest } from 'node:http';
import { after, before, describe, it } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import fc from 'fast-check';
import { BUNDLED_PROTO_FILES, hashToken } from '../../src/index.js';
import { LOADER_OPTIONS, PROTO_DIR } from '../../src/protos/paths.js';
import type { ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { spawnChild } from '../helpers/children.js';
import { tempDir } from '../helpers/temp.js';
import { within } from '../helpers/wait.js';

const SEED = Number(process.env.LONGRUN_FUZZ_SEED ?? 151_2026);
// 12,000 keep `npm test` short and still show a leak of 1 KiB a call (see the memory check); a
// longer run: LONGRUN_FUZZ_CALLS=100000.
const CALLS = Number(process.env.LONGRUN_FUZZ_CALLS ?? 12_000);
const PARALLEL = 64;
/** RSS is sampled after every batch of this many calls. */
const BATCH = 1_200;
/** Growth allowed between the first sample after warm-up and the last (see the memory check). */
const HEAP_GROWTH_LIMIT_BYTES = 8 * 1024 * 1024;
const RSS_GROWTH_LIMIT_BYTES = 128 * 1024 * 1024;

const OPS = 'google.longrunning.Operations';
const RPCS = {
  GetOperation: `/${OPS}/GetOperation`,
  ListOperations: `/${OPS}/ListOperations`,
  WaitOperation: `/${OPS}/WaitOperation`,
  CancelOperation: `/${OPS}/CancelOperation`,
  DeleteOperation: `/${OPS}/DeleteOperation`,
  Sleep: '/longrun.testing.v1.Sleeper/Sleep',
} as const;
type Rpc = keyof typeof RPCS;
const RPC_NAMES = Object.keys(RPCS) as Rpc[];

const TOKENS = { alice: 'fuzz-alice-token', bob: 'fuzz-bob-token', ops: 'fuzz-ops-token' } as const;
type Who = keyof typeof TOKENS;

// ---------------------------------------------------------------------------------------------
// Recipes: what to send, sampled up front. References to names and tokens the server issued are
// indices into pools filled while the run goes on.

type Text =
  | { kind: 'literal'; value: string }
  | { kind: 'issued'; index: number; mangle: Mangle };
type Mangle =
  | { kind: 'none' }
  | { kind: 'truncate'; at: number }
  | { kind: 'append'; suffix: string }
  | { kind: 'prepend'; prefix: string }
  | { kind: 'flip'; at: number };

interface Recipe {
  rpc: Rpc | 'raw';
  /** For 'raw': which method receives the bytes. */
  target: Rpc;
  who: Who | 'none' | 'forged';
  name: Text;
  filter: string;
  pageSize: number;
  pageToken: Text;
  partial: boolean;
  timeout: { seconds: string; nanos: number } | null;
  sleep: Record<string, unknown>;
  idempotencyKey: string | undefined;
  bytes: Uint8Array;
}

/** Characters that break naive parsers: separators, dots, NUL and controls, unicode, quotes. */
const HOSTILE_UNITS = [
  '/', '.', '..', 'a', 'Z', '0', '-', '_', '~', '*', '%', '%2e', ' ', '\0', '\n', '\u0001', '\u007f', 'é', '😀',
  '\u202e', '\ufeff', '\uffff', '\ud800', 'operations', 'projects', '"', "'", '\\', '(', ')', '=', ':',
];
const hostileString = (maxLength: number) => fc.string({ unit: fc.constantFrom(...HOSTILE_UNITS), maxLength });
const hugeString = fc
  .tuple(fc.constantFrom(1_025, 4_097, 70_000, 1_000_000), fc.constantFrom('a', '/', '😀', '(', 'A'))
  .map(([n, unit]) => unit.repeat(n));
const anyString = fc.oneof(
  { weight: 4, arbitrary: hostileString(40) },
  { weight: 2, arbitrary: fc.string({ unit: 'binary', maxLength: 60 }) },
  { weight: 1, arbitrary: hugeString },
);

const mangle: fc.Arbitrary<Mangle> = fc.oneof(
  { weight: 4, arbitrary: fc.constant<Mangle>({ kind: 'none' }) },
  fc.nat(60).map((at): Mangle => ({ kind: 'truncate', at })),
  hostileString(8).map((suffix): Mangle => ({ kind: 'append', suffix })),
  fc.constantFrom('projects/p/', 'projects/p/locations/l/', '../', '/', 'operations/').map((prefix): Mangle => ({ kind: 'prepend', prefix })),
  fc.nat(60).map((at): Mangle => ({ kind: 'flip', at })),
);
const issued = fc.record({ kind: fc.constant('issued' as const), index: fc.nat(1_000), mangle });
const literal = (arbitrary: fc.Arbitrary<string>) => arbitrary.map((value): Text => ({ kind: 'literal', value }));

const nameText: fc.Arbitrary<Text> = fc.oneof(
  { weight: 5, arbitrary: issued },
  {
    weight: 2,
    arbitrary: literal(
      fc.constantFrom(
        '', '/', 'operations', 'operations/', 'operations/..', 'operations/.', '../operations/x', 'operations/a/..',
        'operations/\0', 'operations/%2e%2e', 'projects//operations/x', 'projects/p/operations', 'projects/../operations/x',
        'operations/' + 'A'.repeat(128), 'operations/' + 'A'.repeat(129), 'operations/AAAAAAAAAAAAAAAAAAAAAAAAAAA',
        'projects/p/locations/l', 'projects/p/locations/l/operations',
      ),
    ),
  },
  { weight: 2, arbitrary: literal(anyString) },
  { weight: 2, arbitrary: literal(fc.tuple(hostileString(20), hostileString(20)).map(([p, id]) => `${p}operations/${id}`)) },
);

const FILTER_TOKENS = [
  'done', 'name', 'error.code', 'create_time', 'update_time', 'metadata', '=', '!=', '<', '<=', '>', '>=', ':', '*',
  'AND', 'OR', 'NOT', '-', '(', ')', 'true', 'false', '"operations/*"', '"', "'", '\\', 'NOT_FOUND', '0', '16', '99',
  '-1', '1e309', '"2024-01-01T00:00:00Z"', '2024-01-01T00:00:00Z', '"2024-13-45T99:99:99Z"', '\0', 'é', '😀',
];
const filterText = fc.oneof(
  { weight: 3, arbitrary: fc.constant('') },
  { weight: 6, arbitrary: fc.array(fc.constantFrom(...FILTER_TOKENS), { maxLength: 12 }).chain((tokens) => fc.constantFrom(tokens.join(' '), tokens.join(''))) },
  { weight: 2, arbitrary: anyString },
  {
    weight: 1,
    arbitrary: fc
      .tuple(fc.nat(5_000), fc.constantFrom('(', 'NOT ', '-', '(NOT '))
      .map(([depth, open]) => `${open.repeat(depth)}done = true${open.startsWith('(') ? ')'.repeat(depth) : ''}`),
  },
);

const tokenText: fc.Arbitrary<Text> = fc.oneof(
  { weight: 4, arbitrary: literal(fc.constant('')) },
  { weight: 4, arbitrary: issued },
  { weight: 1, arbitrary: literal(fc.base64String({ maxLength: 200 }).map((s) => s.replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, ''))) },
  { weight: 1, arbitrary: literal(fc.uint8Array({ minLength: 41, maxLength: 120 }).map((b) => Buffer.from(b).toString('base64url'))) },
  { weight: 1, arbitrary: literal(anyString) },
);

const pageSize = fc.oneof(
  fc.integer({ min: 0, max: 5 }),
  fc.integer(),
  fc.constantFrom(-1, 0, 1, 1_000, 1_001, 2_147_483_647, -2_147_483_648),
);

const int64 = fc.oneof(
  fc.integer({ min: -1, max: 1 }).map(String),
  fc.bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n }).map(String),
  fc.constantFrom('9223372036854775807', '-9223372036854775808', '3600', '3601', '2147484'),
);
const duration = fc.record({ seconds: int64, nanos: fc.oneof(fc.integer(), fc.integer({ min: 0, max: 50_000_000 })) });
/** Mostly done within a wait; some run for seconds, so that cancelling them finds them running. */
const validDuration = fc.oneof(
  { weight: 4, arbitrary: fc.record({ seconds: fc.constant('0'), nanos: fc.integer({ min: 0, max: 30_000_000 }) }) },
  { weight: 1, arbitrary: fc.record({ seconds: fc.constantFrom('1', '3'), nanos: fc.constant(0) }) },
);

const sleepRequest = fc.record(
  {
    duration: fc.oneof({ weight: 5, arbitrary: validDuration }, { weight: 1, arbitrary: duration }),
    steps: fc.oneof({ weight: 5, arbitrary: fc.integer({ min: 0, max: 3 }) }, { weight: 1, arbitrary: fc.integer() }),
    failWith: fc.option(
      fc.record({ code: fc.oneof({ weight: 3, arbitrary: fc.integer({ min: 1, max: 16 }) }, fc.integer()), message: anyString }),
      { freq: 2, nil: undefined },
    ),
    requestId: fc.option(fc.oneof(fc.constantFrom('r1', 'r2'), anyString), { freq: 2, nil: undefined }),
    parent: fc.option(fc.oneof(fc.constantFrom('projects/p', 'projects/p/locations/l', 'projects/p/locations/..'), anyString), { freq: 2, nil: undefined }),
  },
  { requiredKeys: ['duration', 'steps', 'failWith', 'requestId', 'parent'] },
);

/** Header values grpc-js will send: printable ASCII (it refuses others before they leave). */
const idempotencyKey = fc.option(
  fc.oneof(
    fc.constantFrom('key-1', 'key-2', 'key-3', ' ', 'has space', 'x'.repeat(256), 'x'.repeat(257), 'y'.repeat(5_000)),
    fc.string({ unit: fc.integer({ min: 0x20, max: 0x7e }).map((c) => String.fromCharCode(c)), maxLength: 300 }),
  ),
  { nil: undefined },
);

/** Arbitrary bytes, and protobuf-shaped bytes that lie: wrong wire types, lengths past the end, bad UTF-8, groups. */
const rawBytes = fc.oneof(
  fc.uint8Array({ maxLength: 64 }),
  fc.constantFrom(
    [0x08, 0x01], [0x0a, 0xff, 0x01], [0x0a, 0x02, 0xff, 0xfe], [0x10, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01],
    [0x0b], [0x0c], [0x0f], [0x0a, 0x05, 0x0a, 0x03, 0x0a, 0x01], [0x12, 0x80, 0x80, 0x80, 0x80, 0x10], [0x1a, 0x02, 0x08, 0x96],
    [0x0d, 0x00], [0x09, 0x00, 0x00], [0x22, 0x00, 0x22, 0x00], [0x28, 0x01, 0x28, 0x02], [0x00], [0xff, 0xff, 0xff, 0xff, 0x0f],
  ).map((bytes) => Uint8Array.from(bytes)),
  fc.uint8Array({ minLength: 1, maxLength: 16 }).map((tail) => Uint8Array.from([0x0a, tail.length, ...tail])),
);

const recipe: fc.Arbitrary<Recipe> = fc.record({
  rpc: fc.oneof(
    { weight: 2, arbitrary: fc.constantFrom<Rpc | 'raw'>('raw') },
    { weight: 2, arbitrary: fc.constantFrom<Rpc | 'raw'>('Sleep') },
    { weight: 5, arbitrary: fc.constantFrom<Rpc | 'raw'>('GetOperation', 'ListOperations', 'WaitOperation', 'CancelOperation', 'DeleteOperation') },
  ),
  target: fc.constantFrom(...RPC_NAMES),
  who: fc.oneof({ weight: 6, arbitrary: fc.constantFrom<Who>('alice', 'bob', 'ops') }, { weight: 1, arbitrary: fc.constantFrom('none' as const, 'forged' as const) }),
  name: nameText,
  filter: filterText,
  pageSize,
  pageToken: tokenText,
  partial: fc.oneof({ weight: 19, arbitrary: fc.constant(false) }, { weight: 1, arbitrary: fc.constant(true) }),
  timeout: fc.option(duration, { nil: null }),
  sleep: sleepRequest as fc.Arbitrary<Record<string, unknown>>,
  idempotencyKey,
  bytes: rawBytes,
});

// ---------------------------------------------------------------------------------------------
// HTTP recipes: methods, paths (issued names, mangled, with route suffixes, or junk), query
// strings, headers and bodies.

const HTTP_CALLS = Number(process.env.LONGRUN_FUZZ_HTTP_CALLS ?? 6_000);
const HTTP_PARALLEL = 32;
const HTTP_BATCH = 1_000;

interface HttpRecipe {
  /** create: POST-ish /v1/sleep; operation: /v1/{name}{suffix}; list: a collection; raw: any path. */
  kind: 'create' | 'operation' | 'list' | 'raw';
  method: string;
  name: Text;
  suffix: string;
  raw: string;
  collection: string;
  query: [string, string][];
  who: Who | 'none' | 'forged' | 'garbage';
  garbage: string;
  idempotencyKey: string | undefined;
  contentType: string | undefined;
  body: unknown;
}

const printable = (maxLength: number) => fc.string({ unit: fc.integer({ min: 0x20, max: 0x7e }).map((c) => String.fromCharCode(c)), maxLength });
const QUERY_KEYS = ['pageSize', 'page_size', 'pageToken', 'filter', 'name', 'returnPartialSuccess', 'return_partial_success', '$alt', 'alt', 'fields', 'timeout', 'duration', 'steps', 'failWith.code', 'fail_with.message', 'a.b.c', '', '__proto__', 'constructor'];
const validSleepBody = sleepRequest.map((r) => ({ ...r, duration: `${(r['duration'] as { seconds: string }).seconds}s` }));
const jsonBody = fc.oneof(
  { weight: 2, arbitrary: fc.record({ duration: fc.constantFrom('0s', '0.01s', '1s', '-1s', '99999999999s', 'soon', ''), steps: fc.oneof(fc.integer(), fc.constant('3')), colour: fc.constant('blue') }, { requiredKeys: ['duration'] }) },
  { weight: 2, arbitrary: fc.json({ maxDepth: 4 }) },
  { weight: 2, arbitrary: fc.jsonValue({ maxDepth: 3 }) },
  { weight: 2, arbitrary: fc.record({ timeout: fc.constantFrom('0.05s', '1s', 'x', '-1s', '315576000001s') }) },
  { weight: 1, arbitrary: anyString },
  { weight: 1, arbitrary: fc.constantFrom('{', '{"duration":', '[]', 'null', '"x"', '{"__proto__":{"polluted":1}}', '\ufeff{}', '{"requests":[{}]}') },
);
const httpRecipe: fc.Arbitrary<HttpRecipe> = fc.record({
  kind: fc.oneof(
    { weight: 4, arbitrary: fc.constant('create' as const) },
    { weight: 6, arbitrary: fc.constant('operation' as const) },
    { weight: 2, arbitrary: fc.constant('list' as const) },
    { weight: 2, arbitrary: fc.constant('raw' as const) },
  ),
  method: fc.oneof(
    { weight: 12, arbitrary: fc.constantFrom('GET', 'POST', 'DELETE') },
    { weight: 2, arbitrary: fc.constantFrom('PUT', 'PATCH', 'OPTIONS', 'HEAD') },
  ),
  name: nameText,
  suffix: fc.constantFrom('', '', '', ':cancel', ':wait', '/status', '/status/cancel', ':bogus', '/x', ':', '/'),
  raw: fc.oneof(
    fc.constantFrom('/v1/sleep', '/v1/operations', '/openapi.json', '/', '/v1', '/v1/', '//v1/operations', '/v1/sleep:cancel', '/v1/operations:wait', '/v1/files:asyncBatchAnnotate', '*'),
    fc.array(fc.oneof(hostileString(12), fc.constantFrom('%zz', '%', '%2F', '%00', '%c3%28', 'v1', '**', '{name}', ':cancel')), { maxLength: 8 }).map((parts) => parts.join('/')),
  ),
  collection: fc.constantFrom('operations', 'projects/p/locations/l/operations', 'projects/p/operations', 'projects/p/locations/../operations'),
  query: fc.array(fc.tuple(fc.oneof(fc.constantFrom(...QUERY_KEYS), hostileString(10)), fc.oneof(anyString, filterText, pageSize.map(String), fc.constantFrom('true', 'false', 'json;enum-encoding=int'))), { maxLength: 4 }),
  who: fc.oneof({ weight: 6, arbitrary: fc.constantFrom<Who>('alice', 'bob', 'ops') }, { weight: 1, arbitrary: fc.constantFrom('none' as const, 'forged' as const, 'garbage' as const) }),
  garbage: fc.oneof(printable(80), fc.constantFrom('Bearer', 'Bearer ', 'Basic YWxpY2U6cHc=', 'bearer fuzz-alice-token', 'Bearer fuzz-alice-token extra')),
  idempotencyKey: idempotencyKey.map((key) => (key === undefined ? undefined : key.trim() === '' ? undefined : key)),
  contentType: fc.option(fc.constantFrom('application/json', 'text/plain', 'application/x-www-form-urlencoded', 'application/json; charset=latin1', 'multipart/form-data; boundary=x'), { nil: undefined }),
  body: fc.oneof({ weight: 3, arbitrary: fc.constant(undefined) }, { weight: 3, arbitrary: validSleepBody }, { weight: 4, arbitrary: jsonBody }),
});

/** The request line and method a recipe stands for; creations are mostly POSTs, collections mostly GETs. */
function targetOf(r: HttpRecipe, pools: Pools, index: number): { method: string; path: string } {
  const usual = index % 5 !== 0;
  switch (r.kind) {
    case 'create':
      return { method: usual ? 'POST' : r.method, path: '/v1/sleep' };
    case 'list':
      return { method: usual ? 'GET' : r.method, path: `/v1/${r.collection}` };
    case 'operation':
      return { method: r.method, path: encodePath(resolve(r.name, pools.names, 'operations/AAAAAAAAAAAAAAAAAAAAAAAAAAA') + r.suffix, true) };
    case 'raw':
      return { method: r.method, path: encodePath(r.raw, false) };
  }
}

/**
 * Percent-encodes what a request line cannot carry, leaving `%` sequences (valid or not) as they
 * are. Cut to 20,000 characters first: Node refuses request lines over 16 KiB anyway (431), and
 * encoding a million characters one by one would stall this client, not the server.
 */
function encodePath(name: string, rooted: boolean): string {
  let encoded = '';
  for (const char of name.slice(0, 20_000)) {
    encoded += /^[A-Za-z0-9\-._~!$&'()*+,;=:@\/%]$/.test(char) ? char : [...Buffer.from(char, 'utf8')].map((b) => `%${b.toString(16).padStart(2, '0')}`).join('');
  }
  if (rooted) return `/v1/${encoded}`;
  return encoded.startsWith('/') ? encoded : `/${encoded}`;
}

/** Like encodeURIComponent, but lone surrogates become U+FFFD instead of throwing. */
function encodeQuery(text: string): string {
  return [...Buffer.from(text.slice(0, 20_000), 'utf8')].map((b) => (/[A-Za-z0-9\-._~]/.test(String.fromCharCode(b)) ? String.fromCharCode(b) : `%${b.toString(16).padStart(2, '0')}`)).join('');
}

// ---------------------------------------------------------------------------------------------

interface Pools {
  names: string[];
  tokens: string[];
  /** Entries ever remembered, to pick which one to replace. */
  seen: number;
}

function resolve(text: Text, pool: string[], fallback: string): string {
  if (text.kind === 'literal') return text.value;
  const base = pool.length === 0 ? fallback : pool[text.index % pool.length]!;
  const m = text.mangle;
  switch (m.kind) {
    case 'none':
      return base;
    case 'truncate':
      return base.slice(0, m.at % (base.length + 1));
    case 'append':
      return base + m.suffix;
    case 'prepend':
      return m.prefix + base;
    case 'flip': {
      if (base.length === 0) return 'A';
      const at = m.at % base.length;
      const flipped = base[at] === 'A' ? 'B' : 'A';
      return base.slice(0, at) + flipped + base.slice(at + 1);
    }
  }
}

/** Keeps at most `max` entries, replacing old ones, so pools stay small and fresh. */
function remember(pools: Pools, pool: string[], value: string, max = 256): void {
  if (value === '') return;
  pools.seen++;
  if (pool.length < max) pool.push(value);
  else pool[(pools.seen * 7919) % max] = value;
}

interface Outcome {
  code: grpc.status;
  details: string;
}

const PROBE = fileURLToPath(new URL('../helpers/memory-probe.js', import.meta.url));

/** `longrun serve` under the memory probe; `memory()` asks it for a GC and its memory usage. */
interface ProbedServer {
  child: ChildProcess;
  address: string;
  /** `http://127.0.0.1:PORT` of its HTTP gateway. */
  httpUrl: string;
  stderr(): string;
  memory(): Promise<NodeJS.MemoryUsage>;
  exited: Promise<unknown>;
}

async function spawnProbedServer(args: string[]): Promise<ProbedServer> {
  const started = spawnChild(process.execPath, ['--expose-gc', PROBE, 'serve', '--port', '0', '--http-port', '0', ...args]);
  const child = started.process;
  const waiting: ((usage: NodeJS.MemoryUsage) => void)[] = [];
  let lines = '';
  child.stdout!.on('data', (chunk: string) => {
    lines += chunk;
    let newline: number;
    while ((newline = lines.indexOf('\n')) >= 0) {
      const line = lines.slice(0, newline);
      lines = lines.slice(newline + 1);
      if (line.startsWith('longrun memory ')) waiting.shift()?.(JSON.parse(line.slice('longrun memory '.length)) as NodeJS.MemoryUsage);
    }
  });
  // The HTTP line is printed after the gRPC one; a server that exits first fails this at once, with its output.
  const httpUrl = (await started.waitFor(/longrun http on (\S+)/, 'the probed longrun serve to print its addresses', 30_000))[1]!;
  const address = /longrun listening on (\S+)/.exec(started.stdout())![1]!;
  return {
    child,
    address,
    httpUrl,
    stderr: started.stderr,
    exited: started.exited,
    memory: () =>
      new Promise((resolve) => {
        waiting.push(resolve);
        child.kill('SIGUSR2');
      }),
  };
}

describe('hostile input: property-based fuzzing of a real longrun serve process', { timeout: 240_000 }, () => {
  const dir = tempDir();
  let server: ProbedServer;
  let client: grpc.Client;
  let definition: protoLoader.PackageDefinition;

  before(async () => {
    const tokenFile = dir.file('tokens');
    writeFileSync(tokenFile, Object.entries(TOKENS).map(([who, token]) => `${hashToken(token)} ${who}`).join('\n') + '\n');
    server = await spawnProbedServer([
      '--db', dir.file('longrun.db'),
      '--enable-sleeper',
      '--no-vision', // the Sleeper's creating method is the one fuzzed
      '--token-file', tokenFile,
      '--admins', 'ops',
      '--wait-cap', '100ms',
      // Low, so that parallel waits of one principal reach it and release it many times.
      '--max-waits-per-principal', '4',
      '--log-level', 'error',
      '--log-format', 'json',
    ]);
    client = new grpc.Client(server.address, grpc.credentials.createInsecure());
    definition = protoLoader.loadSync([...BUNDLED_PROTO_FILES], { ...LOADER_OPTIONS, includeDirs: [PROTO_DIR] });
  });

  after(async () => {
    client?.close();
    if (server !== undefined && server.child.exitCode === null) {
      server.child.kill('SIGKILL');
      await within(server.exited, 'the probed server to exit after SIGKILL');
    }
    dir.remove();
  });

  it(`survives ${CALLS} random and adversarial calls: never INTERNAL or UNKNOWN, never down, memory flat`, async (t) => {
    t.diagnostic(`seed ${SEED} (LONGRUN_FUZZ_SEED), ${CALLS} calls (LONGRUN_FUZZ_CALLS), ${PARALLEL} in parallel`);
    const recipes = fc.sample(recipe, { seed: SEED, numRuns: CALLS });
    const pools: Pools = { names: [], tokens: [], seen: 0 };
    const counts = new Map<string, Map<string, number>>();
    const failures: string[] = [];
    const rss: number[] = [];
    const heap: number[] = [];

    const methodOf = (rpc: Rpc) => {
      const [, service, method] = /^\/([^/]+)\/([^/]+)$/.exec(RPCS[rpc])!;
      return (definition[service!] as grpc.ServiceDefinition)[method!]!;
    };

    const send = (index: number): Promise<void> => {
      const r = recipes[index]!;
      const rpc = r.rpc === 'raw' ? r.target : r.rpc;
      const method = methodOf(rpc);
      const headers = new grpc.Metadata();
      if (r.who === 'forged') headers.set('authorization', 'Bearer not-a-token-anyone-has');
      else if (r.who !== 'none') headers.set('authorization', `Bearer ${TOKENS[r.who]}`);
      if (rpc === 'Sleep' && r.idempotencyKey !== undefined) headers.set('idempotency-key', r.idempotencyKey);
      const request = r.rpc === 'raw' ? Buffer.from(r.bytes) : requestFor(rpc, r, pools);
      const serialize = r.rpc === 'raw' ? (bytes: Buffer) => bytes : method.requestSerialize;
      return new Promise((done) => {
        client.makeUnaryRequest(
          RPCS[rpc],
          serialize as (value: unknown) => Buffer,
          (bytes: Buffer) => bytes,
          request,
          headers,
          { deadline: Date.now() + 15_000 },
          (error, reply) => {
            const outcome: Outcome = error ? { code: error.code, details: error.details } : { code: grpc.status.OK, details: '' };
            const label = r.rpc === 'raw' ? `${rpc} (raw bytes)` : rpc;
            const byCode = counts.get(label) ?? new Map<string, number>();
            counts.set(label, byCode);
            const codeName = grpc.status[outcome.code] ?? String(outcome.code);
            byCode.set(codeName, (byCode.get(codeName) ?? 0) + 1);
            if (outcome.code === grpc.status.INTERNAL || outcome.code === grpc.status.UNKNOWN) {
              const kind = `${label} ${codeName} "${outcome.details}"`;
              if (!failures.some((f) => f.includes(kind))) failures.push(`#${index} ${label} ${codeName} "${outcome.details}" request ${describeRequest(request)}`);
            }
            if (!error && reply !== undefined) harvest(rpc, method.responseDeserialize(reply), pools);
            done();
          },
        );
      });
    };

    let next = 0;
    const worker = async (end: number) => {
      while (next < end) await send(next++);
    };
    const started = performance.now();
    for (let batchEnd = BATCH; batchEnd <= CALLS + BATCH - 1; batchEnd += BATCH) {
      const end = Math.min(batchEnd, CALLS);
      await Promise.all(Array.from({ length: PARALLEL }, () => worker(end)));
      assert.ok(server.child.exitCode === null && server.child.signalCode === null, `the server is still running after ${end} calls; stderr: ${server.stderr().slice(-3000)}`);
      heap.push((await server.memory()).heapUsed);
      rss.push(residentBytes(server.child.pid!));
    }
    const seconds = (performance.now() - started) / 1000;

    let total = 0;
    const codeTotals = new Map<string, number>();
    for (const rpc of [...counts.keys()].sort()) {
      const byCode = counts.get(rpc)!;
      const sum = [...byCode.values()].reduce((a, b) => a + b, 0);
      total += sum;
      const parts = [...byCode.entries()].sort((a, b) => b[1] - a[1]).map(([code, n]) => `${code} ${n}`);
      t.diagnostic(`${rpc}: ${sum} calls: ${parts.join(', ')}`);
      for (const [code, n] of byCode) codeTotals.set(code, (codeTotals.get(code) ?? 0) + n);
    }
    t.diagnostic(
      `all: ${total} calls in ${seconds.toFixed(1)} s: ` +
        [...codeTotals.entries()].sort((a, b) => b[1] - a[1]).map(([code, n]) => `${code} ${n}`).join(', '),
    );
    t.diagnostic(`issued names seen ${pools.names.length}, page tokens seen ${pools.tokens.length}`);
    const mib = (values: number[]) => values.map((b) => (b / 2 ** 20).toFixed(1)).join(' ');
    t.diagnostic(`server heap used after GC, after each ${BATCH} calls (MiB): ${mib(heap)}`);
    t.diagnostic(`server VmRSS after each ${BATCH} calls (MiB): ${mib(rss)}`);

    assert.equal(total, CALLS);
    assert.deepEqual(failures.slice(0, 10), [], `${failures.length} calls answered INTERNAL or UNKNOWN`);
    // Every RPC was reached with well-formed and with raw requests, and got past validation sometimes.
    for (const rpc of RPC_NAMES) {
      assert.ok(counts.has(rpc) && counts.has(`${rpc} (raw bytes)`), `${rpc} was called both ways`);
      assert.ok((counts.get(rpc)!.get('OK') ?? 0) > 0, `${rpc} succeeded at least once`);
    }
    // Memory: after the first quarter (caches, pools and compiled code have reached their working
    // size), the live heap must stay flat: a leak of 1 KiB a call would add ~9 MiB over the
    // remaining 9,000 calls. RSS also moves with V8's lazy heap sizing, hence its looser bound.
    const growth = (values: number[], limit: number, what: string) => {
      const warm = values[Math.floor(values.length / 4)]!;
      const grew = values[values.length - 1]! - warm;
      assert.ok(grew < limit, `${what} grew ${(grew / 2 ** 20).toFixed(1)} MiB after warm-up (limit ${limit / 2 ** 20} MiB)`);
    };
    growth(heap, HEAP_GROWTH_LIMIT_BYTES, 'heap used after GC');
    growth(rss, RSS_GROWTH_LIMIT_BYTES, 'VmRSS');
    // Still serving; every wait released its slot (a leaked slot would refuse these).
    assert.equal(server.child.exitCode, null);
    for (const who of Object.keys(TOKENS) as Who[]) {
      const headers = new grpc.Metadata();
      headers.set('authorization', `Bearer ${TOKENS[who]}`);
      const slots = Array.from({ length: 4 }, () => unaryStatus(client, RPCS.WaitOperation, methodOf('WaitOperation').requestSerialize, { name: 'operations/AAAAAAAAAAAAAAAAAAAAAAAAAAA' }, headers));
      for (const code of await Promise.all(slots)) assert.notEqual(code, grpc.status.RESOURCE_EXHAUSTED, `${who} has all 4 wait slots back`);
    }
    // Nothing was logged as an unexpected error.
    const unexpected = server.stderr().split('\n').filter((line) => /unexpected error|could not encode/.test(line));
    assert.deepEqual(unexpected.slice(0, 5), [], 'the server logged no unexpected errors');
  });

  it(`survives ${HTTP_CALLS} random and adversarial HTTP requests: no 5xx but 501, AIP-193 error bodies, never down, memory flat`, async (t) => {
    t.diagnostic(`seed ${SEED} (LONGRUN_FUZZ_SEED), ${HTTP_CALLS} requests (LONGRUN_FUZZ_HTTP_CALLS), ${HTTP_PARALLEL} in parallel`);
    const recipes = fc.sample(httpRecipe, { seed: SEED, numRuns: HTTP_CALLS });
    const pools: Pools = { names: [], tokens: [], seen: 0 };
    const statuses = new Map<number, number>();
    const failures: string[] = [];
    const heap: number[] = [];
    const agent = new Agent({ keepAlive: true, maxSockets: HTTP_PARALLEL });
    const quieted = new WeakSet<object>();
    /** Requests the server cut off (status 0 above), by error code. */
    const errors = new Map<string, number>();
    const send = (index: number): Promise<void> => {
      const r = recipes[index]!;
      const { method, path } = targetOf(r, pools, index);
      const query = r.query.map(([key, value]) => `${encodeQuery(key)}=${encodeQuery(value)}`).join('&');
      const headers: Record<string, string> = {};
      if (r.who === 'forged') headers['authorization'] = 'Bearer not-a-token-anyone-has';
      else if (r.who === 'garbage') headers['authorization'] = r.garbage;
      else if (r.who !== 'none') headers['authorization'] = `Bearer ${TOKENS[r.who]}`;
      if (r.idempotencyKey !== undefined) headers['idempotency-key'] = r.idempotencyKey;
      if (r.contentType !== undefined) headers['content-type'] = r.contentType;
      const body = r.body === undefined ? undefined : typeof r.body === 'string' ? r.body : JSON.stringify(r.body);
      // Node's client frames a GET, HEAD or DELETE body only with an explicit length; without one
      // the body would arrive as a second, garbled request.
      if (body !== undefined) headers['content-length'] = String(Buffer.byteLength(body));
      const label = `${method} ${path.slice(0, 80)}${query === '' ? '' : `?${query.slice(0, 80)}`}`;
      return new Promise((finished) => {
        let settled = false;
        const done = () => {
          if (!settled) finished();
          settled = true;
        };
        const req = httpRequest(`${server.httpUrl}${path}${query === '' ? '' : `?${query}`}`, { method, headers, agent, timeout: 15_000 }, (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (chunk: Buffer) => chunks.push(chunk));
          res.on('end', () => {
            if (settled) return;
            const status = res.statusCode!;
            statuses.set(status, (statuses.get(status) ?? 0) + 1);
            const text = Buffer.concat(chunks).toString('utf8');
            if (status >= 500 && status !== 501) failures.push(`#${index} ${label}: ${status} ${text.slice(0, 200)}`);
            if (status >= 400 && method !== 'HEAD' && text !== '') {
              let code: unknown;
              try {
                code = (JSON.parse(text) as { error?: { code?: unknown } }).error?.code;
              } catch {
                code = undefined;
              }
              if (code !== status) failures.push(`#${index} ${label}: ${status} without an AIP-193 body: ${text.slice(0, 200)}`);
            }
            if (status === 202) {
              const location = res.headers['location'];
              if (typeof location === 'string') remember(pools, pools.names, new URL(location).pathname.slice('/v1/'.length));
            }
            done();
          });
          res.on('error', () => done());
        });
        req.on('timeout', () => {
          failures.push(`#${index} ${label}: no answer in 15 s`);
          req.destroy();
        });
        // A body too large or a request line too long may be cut off by the server's answer
        // (413 or 431, then close): that is its right.
        req.on('error', (error: NodeJS.ErrnoException) => {
          if (!settled) {
            statuses.set(0, (statuses.get(0) ?? 0) + 1);
            errors.set(error.code ?? error.message, (errors.get(error.code ?? error.message) ?? 0) + 1);
          }
          done();
        });
        req.on('socket', (socket) => {
          if (!quieted.has(socket)) socket.on('error', () => undefined);
          quieted.add(socket);
        });
        req.end(body);
      });
    };
    let next = 0;
    const worker = async (end: number) => {
      while (next < end) await send(next++);
    };
    for (let batchEnd = HTTP_BATCH; batchEnd <= HTTP_CALLS + HTTP_BATCH - 1; batchEnd += HTTP_BATCH) {
      const end = Math.min(batchEnd, HTTP_CALLS);
      await Promise.all(Array.from({ length: HTTP_PARALLEL }, () => worker(end)));
      assert.ok(server.child.exitCode === null && server.child.signalCode === null, `the server is still running after ${end} requests; stderr: ${server.stderr().slice(-3000)}`);
      heap.push((await server.memory()).heapUsed);
    }
    agent.destroy();
    t.diagnostic(`cut off: ${[...errors.entries()].map(([code, n]) => `${code} ${n}`).join(', ')}`);
    t.diagnostic(`statuses: ${[...statuses.entries()].sort((a, b) => b[1] - a[1]).map(([status, n]) => `${status} ${n}`).join(', ')}`);
    t.diagnostic(`server heap used after GC, after each ${HTTP_BATCH} requests (MiB): ${heap.map((b) => (b / 2 ** 20).toFixed(1)).join(' ')}`);
    assert.equal([...statuses.values()].reduce((a, b) => a + b, 0), HTTP_CALLS);
    assert.deepEqual(failures.slice(0, 10), [], `${failures.length} requests answered 5xx or without an AIP-193 body`);
    // The random requests reached the routes, not only the 404 path.
    for (const status of [200, 202, 400, 401, 403, 404, 405]) assert.ok((statuses.get(status) ?? 0) > 0, `some requests were answered ${status}`);
    const warm = heap[Math.floor(heap.length / 4)]!;
    const grew = heap[heap.length - 1]! - warm;
    assert.ok(grew < HEAP_GROWTH_LIMIT_BYTES, `heap used after GC grew ${(grew / 2 ** 20).toFixed(1)} MiB after warm-up`);
    const unexpected = server.stderr().split('\n').filter((line) => /unexpected error|could not answer/.test(line));
    assert.deepEqual(unexpected.slice(0, 5), [], 'the server logged no unexpected errors');
  });
});

function requestFor(rpc: Rpc, r: Recipe, pools: Pools): Record<string, unknown> {
  const name = () => resolve(r.name, pools.names, 'operations/AAAAAAAAAAAAAAAAAAAAAAAAAAA');
  switch (rpc) {
    case 'GetOperation':
    case 'CancelOperation':
    case 'DeleteOperation':
      return { name: name() };
    case 'WaitOperation':
      return { name: name(), ...(r.timeout !== null && { timeout: r.timeout }) };
    case 'ListOperations': {
      // Collections: mostly real ones (top level, or the parent of an issued name), sometimes junk.
      const collection = r.name.kind === 'issued' && r.name.index % 3 === 0 ? '' : r.name.kind === 'issued' ? parentOf(name()) : name();
      return {
        name: collection,
        filter: r.filter,
        pageSize: r.pageSize,
        pageToken: resolve(r.pageToken, pools.tokens, ''),
        returnPartialSuccess: r.partial,
      };
    }
    case 'Sleep':
      return r.sleep;
  }
}

function unaryStatus(client: grpc.Client, path: string, serialize: (value: never) => Buffer, request: unknown, headers: grpc.Metadata): Promise<grpc.status> {
  return new Promise((resolve) =>
    client.makeUnaryRequest(path, serialize as (value: unknown) => Buffer, (b: Buffer) => b, request, headers, {}, (error) =>
      resolve(error ? error.code : grpc.status.OK),
    ),
  );
}

function parentOf(name: string): string {
  const at = name.lastIndexOf('/operations/');
  return at < 0 ? '' : name.slice(0, at);
}

function harvest(rpc: Rpc, reply: unknown, pools: Pools): void {
  const value = reply as { name?: string; nextPageToken?: string; operations?: { name: string }[] };
  if (rpc === 'Sleep' && typeof value.name === 'string') remember(pools, pools.names, value.name);
  if (rpc === 'ListOperations') {
    if (value.nextPageToken) remember(pools, pools.tokens, value.nextPageToken);
    for (const op of value.operations ?? []) remember(pools, pools.names, op.name);
  }
}

function describeRequest(request: unknown): string {
  const text = Buffer.isBuffer(request) ? `bytes ${request.toString('hex')}` : JSON.stringify(request);
  return text.length > 300 ? `${text.slice(0, 300)}…` : text;
}

function residentBytes(pid: number): number {
  const match = /^VmRSS:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  assert.ok(match, 'VmRSS in /proc/<pid>/status');
  return Number(match[1]) * 1024;
}
