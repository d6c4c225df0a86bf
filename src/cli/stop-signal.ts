/**
 * The first SIGTERM or SIGINT, for `serve` and `runner`. The handlers stay installed for the rest
 * of the process: a repeated signal during the graceful shutdown (a supervisor, a process group
 * signalled twice) must not kill the process by the default action halfway through it.
 */
export function firstStopSignal(): Promise<NodeJS.Signals> {
  return new Promise((resolve) => {
    const onSignal = (signal: NodeJS.Signals) => resolve(signal);
    process.on('SIGTERM', onSignal);
    process.on('SIGINT', onSignal);
  });
}
