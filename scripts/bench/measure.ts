/** Small measuring tools shared by the benchmarks: process CPU and memory, percentiles, windows. */
import { readdirSync, readFileSync } from 'node:fs';

const CLOCK_TICKS_PER_SECOND = 100; // USER_HZ on Linux

/** CPU seconds (user + system) a process has used so far, from /proc. */
export function cpuSecondsOf(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS_PER_SECOND;
}

/**
 * CPU seconds a process has run so far, all its threads, in nanoseconds' precision (the
 * scheduler's own account, /proc/<pid>/task/<tid>/schedstat), where cpuSecondsOf counts 10 ms
 * ticks. Threads that ended are not counted: for processes whose threads live as long as they do.
 */
export function cpuRunSecondsOf(pid: number): number {
  let ns = 0;
  for (const task of readdirSync(`/proc/${pid}/task`)) {
    try {
      ns += Number(readFileSync(`/proc/${pid}/task/${task}/schedstat`, 'utf8').split(' ')[0]);
    } catch {
      // The thread ended between the listing and the read.
    }
  }
  return ns / 1e9;
}

/** Resident memory of a process in bytes, from /proc. */
export function rssOf(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const match = /VmRSS:\s+(\d+) kB/.exec(status);
  return match ? Number(match[1]) * 1024 : NaN;
}

export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
}

/** Runs `task(i)` for i in [0, total) with at most `window` in flight. */
export async function inWindow(total: number, window: number, task: (i: number) => Promise<unknown>): Promise<void> {
  let next = 0;
  const workers = Array.from({ length: Math.min(window, total) }, async () => {
    while (next < total) await task(next++);
  });
  await Promise.all(workers);
}

/** Milliseconds on the machine's monotonic clock (CLOCK_MONOTONIC): comparable across processes. */
export function monotonicMs(): number {
  return Number(process.hrtime.bigint()) / 1e6;
}

export const MB = 1024 * 1024;

/**
 * BENCH_SCALE (default 1) multiplies the benchmarks' counts and durations. A test runs the whole
 * bench at 0.01 to check that it still runs end to end; figures taken that way mean nothing.
 */
const SCALE = Number(process.env['BENCH_SCALE'] ?? '1');

/** `n` times BENCH_SCALE, at least `min`. */
export function scaled(n: number, min = 1): number {
  return Math.max(min, Math.round(n * SCALE));
}

export function fmt(value: number, digits = 2): string {
  return value.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits });
}
