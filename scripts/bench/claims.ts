/**
 * Claims under a deep queue (`npm run bench -- claims`), issue 21 §5: how long a new operation
 * waits to start when 1,000,000 operations are queued (10% due, the rest with start times in the
 * future; mixed priorities, a third with concurrency keys), against the same in an empty queue.
 *
 * The figure is a new operation's wait from its `create` call to its handler starting, at one in
 * flight: the create, the change-feed wake-up and the claim that picks it. The probes come from a
 * principal of their own at the highest priority the queue uses, so the fair share and the
 * priority put each next in line; what the queue changes is what a claim must read to find it.
 * Beside it, the time of each store `claim` call the runner made while the probes ran.
 *
 * Phases, on each store (a SQLite file; a fresh database on the PostgreSQL server): the empty
 * queue (half the probes), the deep queue while the due tenth is being run, the deep queue once
 * only the future nine tenths are left, the empty queue again (the other half). The queue is
 * filled through the store API (`OperationStore.create`, group-committed 5,000 a turn), before
 * the runner starts.
 */
import { join } from 'node:path';
import { createLongrun, PostgresOperationStore, SqliteOperationStore, type OperationStore } from '../../src/index.js';
import { SLEEP_METHOD } from '../../src/sleeper/sleeper.js';
import { stopTestPostgres, testPostgres } from '../../test/helpers/postgres.js';
import { fmt, percentile, scaled } from './measure.js';

const silent = { info: () => undefined, warn: () => undefined, error: () => undefined, debug: () => undefined };
const retention = { retentionMs: 30 * 86_400_000, keyedRetentionMs: 86_400_000 };
const REQUEST = { typeUrl: 'type.googleapis.com/longrun.testing.v1.SleepRequest', value: new Uint8Array() };
/** Priorities of the queued operations (the probes take the highest). */
const PRIORITIES = [-2, -1, 0, 1, 2];
const KEYS = 1000;
const OWNERS = 20;
const FILL_TURN = 5000;
const CONCURRENCY = 16;
const QUEUED = 'operations/queued-';

export interface ClaimsBenchDeps {
  report(line: string): void;
  work: string;
}

interface Phase {
  /** create call to handler start, ms */
  waits: number[];
  /** store claim calls while the phase ran, ms */
  claims: number[];
}

export async function claimsBench({ report, work }: ClaimsBenchDeps): Promise<void> {
  if (process.env.BENCH_PG_URL) process.env.LONGRUN_TEST_PG_URL = process.env.BENCH_PG_URL;
  const queued = scaled(1_000_000, 2000);
  const probes = scaled(400, 20);
  const postgres = await testPostgres();
  try {
    const backends: [string, () => Promise<OperationStore>][] = [
      ['SQLite', async () => new SqliteOperationStore({ path: join(work, `claims-${Math.random().toString(36).slice(2)}.db`), synchronous: 'NORMAL', ...retention })],
      ['PostgreSQL', async () => PostgresOperationStore.open({ url: (await postgres.freshDatabase()).url, ...retention, poolSize: 10 })],
    ];
    for (const [backend, open] of backends) {
      const empty = await openBench(await open());
      const first = await empty.probe(Math.ceil(probes / 2));
      const deep = await openBench(await open(), queued);
      report(`claims ${backend}: ${fmt(queued, 0)} operations queued in ${fmt(deep.fillSeconds, 1)} s (${fmt(queued / deep.fillSeconds, 0)}/s through the store API)`);
      deep.start();
      const draining = await deep.probe(probes);
      const drainedIn = await deep.drained;
      const future = await deep.probe(probes);
      const second = await empty.probe(Math.floor(probes / 2));
      await deep.close();
      await empty.close();
      const baseline: Phase = { waits: [...first.waits, ...second.waits], claims: [...first.claims, ...second.claims] };
      const line = (what: string, phase: Phase) => {
        const waits = sorted(phase.waits);
        const claims = sorted(phase.claims);
        const p99 = percentile(waits, 99) / percentile(sorted(baseline.waits), 99);
        report(
          `claims ${backend}, ${what}: create-to-start p50 ${fmt(percentile(waits, 50))} ms, p99 ${fmt(percentile(waits, 99))} ms over ${waits.length} operations; ` +
            `store claim p50 ${fmt(percentile(claims, 50))} ms, p99 ${fmt(percentile(claims, 99))} ms over ${claims.length} calls` +
            (phase === baseline ? '' : `; p99 ratio ${fmt(p99)} of the empty queue (target <= 2)`),
        );
      };
      line('empty queue', baseline);
      line(`${fmt(queued, 0)} queued, the due tenth running (drained in ${fmt(drainedIn, 1)} s)`, draining);
      line(`${fmt(queued, 0)} queued, only future start times left`, future);
    }
  } finally {
    await stopTestPostgres();
  }
}

const sorted = (values: readonly number[]): number[] => [...values].sort((a, b) => a - b);

/** A longrun over `store`, filled with `queued` operations first, its `claim` calls timed. */
async function openBench(store: OperationStore, queued = 0) {
  const claims: number[] = [];
  const claim = store.claim.bind(store);
  store.claim = async (request) => {
    const t0 = performance.now();
    try {
      return await claim(request);
    } finally {
      claims.push(performance.now() - t0);
    }
  };
  const t0 = performance.now();
  const due = await fill(store, queued);
  const fillSeconds = (performance.now() - t0) / 1000;
  const longrun = await createLongrun({ store, logger: silent, runner: true });
  // Probes' start times by name, and whoever waits for one not yet started.
  const startedAt = new Map<string, number>();
  const waiting = new Map<string, (at: number) => void>();
  let ran = 0;
  let drainedAt: (() => void) | undefined;
  const drained = new Promise<void>((resolve) => (drainedAt = resolve));
  const tStart = { at: 0 };
  longrun.method(
    SLEEP_METHOD,
    async (_request, context) => {
      const at = performance.now();
      if (context.name.startsWith(QUEUED)) {
        if (++ran === due) drainedAt!();
      } else {
        startedAt.set(context.name, at);
        waiting.get(context.name)?.(at);
      }
      return {};
    },
    { concurrency: CONCURRENCY },
  );
  if (due === 0) drainedAt!();
  let running = false;
  return {
    fillSeconds,
    drained: drained.then(() => (performance.now() - tStart.at) / 1000),
    start() {
      if (running) return;
      running = true;
      tStart.at = performance.now();
      longrun.start();
    },
    /** `count` new operations one after the other at the highest priority; their waits to start. */
    async probe(count: number): Promise<Phase> {
      this.start();
      const from = claims.length;
      const waits: number[] = [];
      for (let i = 0; i < count; i++) {
        const t0 = performance.now();
        const { name } = await longrun.create(SLEEP_METHOD, {}, { priority: PRIORITIES.at(-1)!, caller: { principal: 'probe', admin: false } });
        // The handler may have started before create's promise settled (a claim in the commit's turn).
        const at = startedAt.get(name) ?? (await new Promise<number>((resolve) => waiting.set(name, resolve)));
        waits.push(at - t0);
        startedAt.delete(name);
        waiting.delete(name);
      }
      return { waits, claims: claims.slice(from) };
    },
    async close() {
      await longrun.close(0);
    },
  };
}

/** `queued` operations of the bench method through the store API; returns how many are due now. */
async function fill(store: OperationStore, queued: number): Promise<number> {
  const now = Date.now();
  const later = now + 86_400_000;
  let due = 0;
  for (let i = 0; i < queued; i += FILL_TURN) {
    const turn: Promise<unknown>[] = [];
    for (let j = i; j < Math.min(queued, i + FILL_TURN); j++) {
      const isDue = j % 10 === 0;
      if (isDue) due++;
      turn.push(
        store.create({
          name: `${QUEUED}${j}`,
          parent: '',
          method: SLEEP_METHOD,
          owner: `owner-${j % OWNERS}`,
          request: REQUEST,
          maxAttempts: 3,
          createTime: now,
          ...(isDue ? {} : { runAfter: later + (j % 3600) * 1000 }),
          priority: PRIORITIES[Math.floor(j / 10) % PRIORITIES.length]!,
          ...(j % 3 === 0 && { concurrencyKey: `key-${j % KEYS}` }),
        }),
      );
    }
    await Promise.all(turn);
  }
  return due;
}
