/**
 * `longrun` (the CLI, unchanged) with a memory probe for tests: on SIGUSR2 it collects garbage and
 * prints `longrun memory {process.memoryUsage()}` on stdout. Run it with `node --expose-gc`.
 */
const gc = (globalThis as { gc?: () => void }).gc;
if (gc === undefined) throw new Error('memory-probe needs node --expose-gc');
process.on('SIGUSR2', () => {
  gc();
  process.stdout.write(`longrun memory ${JSON.stringify(process.memoryUsage())}\n`);
});
await import(new URL('../../src/cli/main.js', import.meta.url).href);
