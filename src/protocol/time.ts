/**
 * google.protobuf.Duration and Timestamp against milliseconds, for both transports. `seconds` is
 * an int64: proto-loader gives it as a string, @bufbuild/protobuf as a bigint; each transport
 * spells the parts returned here its own way.
 */

export interface DurationLike {
  seconds?: string | number | bigint | null;
  nanos?: number | null;
}

/** Whole milliseconds; undefined when unset. */
export function durationToMs(duration: DurationLike | null | undefined): number | undefined {
  if (duration === null || typeof duration !== 'object') return undefined;
  return Number(duration.seconds ?? 0) * 1000 + Math.floor((duration.nanos ?? 0) / 1e6);
}

/** A Timestamp's parts for `ms` since the epoch. */
export function timestampParts(ms: number): { seconds: number; nanos: number } {
  return { seconds: Math.floor(ms / 1000), nanos: (ms % 1000) * 1e6 };
}
