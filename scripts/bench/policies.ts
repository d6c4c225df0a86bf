/**
 * The policies section (`npm run bench -- policies`), issue 21 §5: create-to-done with the
 * policies (retries, start times, priorities, concurrency keys, fair share) against the code
 * before them, in the same run. The baseline is commit 531cf35, the last before the policies came
 * in (0b7c194, then 74b3f5c), built from this repository's git history with its own build (see
 * baseline.ts; a checkout without that history fails here, saying so).
 *
 * Each build runs in a process of its own (policies-side.ts loads one build's dist; the same file
 * for both), with the same options and a no-op handler on the Sleeper's method, on a store of its
 * own of the same kind:
 * - in process: the embedding API's `create`, 1,000 in flight, until every operation is done, in
 *   the process that runs the handlers;
 * - through gRPC: Sleeper.Sleep (zero duration, no steps: the handler returns at once) from this
 *   process over four channels, 128 in flight, until ListOperations finds none unfinished (as the
 *   core section measures create-to-done).
 * On a SQLite file each, and on PostgreSQL when BENCH_PG_URL or LONGRUN_TEST_PG_URL names a server
 * (an empty database each, made for the run). Rounds alternate between the builds, the first of
 * each pair rotating; the figure is the median of the per-round ratios ours/baseline of the rates,
 * target >= 0.9 (at most 10% slower). Beside it, each side's CPU per operation (its process, all
 * threads; not PostgreSQL's), which a shared machine's load moves far less than the rates.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { OperationsClient } from '../../src/index.js';
import { baselineBuild, ROOT } from './baseline.js';
import { cpuRunSecondsOf, fmt, inWindow, percentile, scaled } from './measure.js';

export const BASELINE_COMMIT = '531cf35';

const SIDE = fileURLToPath(new URL('./policies-side.js', import.meta.url));
/**
 * Rounds per build and way of creating (each a pair, one round of each build). Many short rounds
 * rather than a few long ones: on a shared machine the load changes from one minute to the next,
 * and the two rounds of a pair should see the same.
 */
const ROUNDS = 15;

export interface PoliciesBenchDeps {
  report(line: string): void;
  work: string;
  /** A gRPC channel to a server on `port` creating one Sleep operation (zero duration, no steps) per call. */
  sleeper(port: number): { createOne(): Promise<{ name: string }>; close(): void };
}

interface Build {
  label: string;
  root: string;
}

interface Store {
  label: string;
  /** A store of the kind for one side: a fresh SQLite file or an empty PostgreSQL database. */
  fresh(tag: string): Promise<string>;
}

function median(values: readonly number[]): number {
  return percentile([...values].sort((a, b) => a - b), 50);
}

export async function policiesBench({ report, work, sleeper }: PoliciesBenchDeps): Promise<void> {
  const baseline = baselineBuild(BASELINE_COMMIT);
  report(`policies: baseline ${BASELINE_COMMIT}, the last commit before the policies: ${baseline.how}`);
  const builds: [Build, Build] = [
    { label: 'ours', root: ROOT },
    { label: `baseline ${BASELINE_COMMIT}`, root: baseline.root },
  ];
  const stores: Store[] = [{ label: 'SQLite', fresh: async (tag) => join(work, `policies-${tag}.db`) }];
  const pgUrl = process.env.BENCH_PG_URL ?? process.env.LONGRUN_TEST_PG_URL;
  const made: string[] = [];
  let admin: pg.Client | undefined;
  if (pgUrl) {
    // Empty databases (not the test helpers' template, which holds this build's schema): each
    // build migrates its own, as a new install would.
    admin = new pg.Client({ connectionString: pgUrl });
    await admin.connect();
    const prefix = `longrun_bench_policies_${randomBytes(4).toString('hex')}`;
    stores.push({
      label: 'PostgreSQL',
      fresh: async (tag) => {
        const name = `${prefix}_${tag.replace(/\W/g, '_')}`;
        await admin!.query(`CREATE DATABASE ${name}`);
        made.push(name);
        const url = new URL(pgUrl);
        url.pathname = `/${name}`;
        return url.href;
      },
    });
  }
  try {
    for (const store of stores) {
      await inProcess(report, builds, store);
      await overGrpc(report, builds, store, sleeper);
    }
  } finally {
    for (const name of made) await admin!.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
    await admin?.end();
  }
}

interface Round {
  /** Operations created and done per second of the round. */
  rate: number;
  /** CPU seconds per operation of the side's process (all its threads): what the round cost it. */
  cpu: number;
}

/**
 * Rounds alternating between the builds, the first of each pair rotating, after a warm-up round
 * of each; `measure` runs `count` operations through one side and returns the seconds they took.
 */
async function alternate(sides: Side[], count: number, measure: (side: 0 | 1) => Promise<number>): Promise<{ rounds: [Round[], Round[]]; firsts: string[] }> {
  const round = async (side: 0 | 1): Promise<Round> => {
    const cpu0 = cpuRunSecondsOf(sides[side]!.pid);
    const seconds = await measure(side);
    return { rate: count / seconds, cpu: (cpuRunSecondsOf(sides[side]!.pid) - cpu0) / count };
  };
  await round(0);
  await round(1);
  const rounds: [Round[], Round[]] = [[], []];
  const firsts: string[] = [];
  for (let i = 0; i < ROUNDS; i++) {
    const order: (0 | 1)[] = i % 2 === 0 ? [0, 1] : [1, 0];
    firsts.push(order[0] === 0 ? 'ours' : 'baseline');
    for (const side of order) rounds[side].push(await round(side));
  }
  return { rounds, firsts };
}

function line(what: string, builds: [Build, Build], { rounds, firsts }: { rounds: [Round[], Round[]]; firsts: string[] }): string {
  const [ours, baseline] = rounds;
  const ratios = ours.map((round, i) => round.rate / baseline[i]!.rate);
  const cpuRatios = ours.map((round, i) => round.cpu / baseline[i]!.cpu);
  const sum = (side: Round[]) => side.reduce((total, round) => total + round.cpu, 0);
  return (
    `policies, create-to-done ${what}: ${builds[0].label} ${fmt(median(ours.map((r) => r.rate)), 0)} operations/s vs ${builds[1].label} ${fmt(median(baseline.map((r) => r.rate)), 0)}/s: ` +
    `ratio ${fmt(median(ratios))} (target >= 0.9; rounds ${ratios.map((r) => fmt(r)).join(', ')}; ` +
    `operations/s by round, ours/baseline: ${ours.map((round, i) => `${fmt(round.rate, 0)}/${fmt(baseline[i]!.rate, 0)}`).join(', ')}; first in each round: ${firsts.join(', ')}); ` +
    `CPU of the ${what.startsWith('in process') ? 'process' : 'server process'} per operation ${fmt(median(ours.map((r) => r.cpu)) * 1e6, 1)} µs vs ${fmt(median(baseline.map((r) => r.cpu)) * 1e6, 1)} µs: ` +
    `ratio ${fmt(sum(ours) / sum(baseline))} (all rounds' CPU; rounds ${cpuRatios.map((r) => fmt(r)).join(', ')})`
  );
}

async function inProcess(report: (line: string) => void, builds: [Build, Build], store: Store): Promise<void> {
  const perRound = scaled(5_000, 20);
  const window = 1000;
  const sides = await Promise.all(builds.map(async (build, i) => Side.start(build, 'in-process', await store.fresh(`in_process_${i}`), /^ready$/)));
  try {
    const result = await alternate(sides, perRound, async (side) => Number((await sides[side]!.ask(`round ${perRound} ${window}`)).replace(/^round /, '')) / 1000);
    report(line(`in process, ${store.label} (embedding API create, no-op handler, ${window} in flight, ${perRound} a round)`, builds, result));
  } finally {
    await Promise.all(sides.map((side) => side.stop()));
  }
}

async function overGrpc(
  report: (line: string) => void,
  builds: [Build, Build],
  store: Store,
  sleeper: PoliciesBenchDeps['sleeper'],
): Promise<void> {
  const perRound = scaled(2_000, 16);
  const window = 128;
  const sides = await Promise.all(builds.map(async (build, i) => Side.start(build, 'grpc', await store.fresh(`grpc_${i}`), /^listening \d+$/)));
  const ports = sides.map((side) => Number(side.readyLine.split(' ')[1]));
  const channels = ports.map((port) => Array.from({ length: 4 }, () => sleeper(port)));
  const lists = ports.map((port) => new OperationsClient(`127.0.0.1:${port}`));
  try {
    const result = await alternate(sides, perRound, async (side) => {
      const t0 = performance.now();
      await inWindow(perRound, window, (i) => channels[side]![i % 4]!.createOne());
      // Done when no operation is left unfinished (an indexed query, cheap next to the creations).
      while ((await lists[side]!.list({ filter: 'done = false', pageSize: 1 })).operations.length > 0) {
        await new Promise((resolve) => setTimeout(resolve, 5));
      }
      return (performance.now() - t0) / 1000;
    });
    report(line(`through gRPC, ${store.label} (Sleeper.Sleep of zero duration, ${window} in flight over 4 channels, ${perRound} a round)`, builds, result));
  } finally {
    for (const channel of channels.flat()) channel.close();
    for (const list of lists) list.close();
    await Promise.all(sides.map((side) => side.stop()));
  }
}

/** A policies-side.js process for one build: its stdout read line by line, questions asked one at a time. */
class Side {
  private buffer = '';
  private lines: string[] = [];
  private waiting: { resolve: (line: string) => void; reject: (error: Error) => void } | undefined;
  private gone: Error | undefined;
  readyLine = '';

  get pid(): number {
    return this.child.pid!;
  }

  private constructor(
    private readonly child: ChildProcess,
    private readonly label: string,
  ) {
    child.stdout!.setEncoding('utf8').on('data', (chunk: string) => {
      this.buffer += chunk;
      let newline;
      while ((newline = this.buffer.indexOf('\n')) >= 0) {
        const next = this.buffer.slice(0, newline);
        this.buffer = this.buffer.slice(newline + 1);
        if (this.waiting) {
          const { resolve } = this.waiting;
          this.waiting = undefined;
          resolve(next);
        } else this.lines.push(next);
      }
    });
    child.once('exit', (code, signal) => {
      this.gone = new Error(`the ${label} side exited (${code ?? signal})`);
      this.waiting?.reject(this.gone);
    });
  }

  static async start(build: Build, mode: 'in-process' | 'grpc', database: string, ready: RegExp): Promise<Side> {
    // BENCH_CPU_PROFILE=dir: a V8 CPU profile of each side, into dir (as the bench servers).
    const profile = process.env.BENCH_CPU_PROFILE ? ['--cpu-prof', `--cpu-prof-dir=${process.env.BENCH_CPU_PROFILE}`] : [];
    const child = spawn(process.execPath, [...profile, SIDE, build.root, mode, database], { stdio: ['pipe', 'pipe', 'inherit'] });
    const side = new Side(child, `${build.label} ${mode}`);
    side.readyLine = await side.next();
    if (!ready.test(side.readyLine)) throw new Error(`the ${build.label} ${mode} side said ${JSON.stringify(side.readyLine)}`);
    return side;
  }

  ask(question: string): Promise<string> {
    this.child.stdin!.write(`${question}\n`);
    return this.next();
  }

  async stop(): Promise<void> {
    if (this.gone) return;
    this.child.kill('SIGTERM');
    await once(this.child, 'exit');
  }

  private next(): Promise<string> {
    const line = this.lines.shift();
    if (line !== undefined) return Promise.resolve(line);
    if (this.gone) return Promise.reject(this.gone);
    return new Promise((resolve, reject) => (this.waiting = { resolve, reject }));
  }
}
