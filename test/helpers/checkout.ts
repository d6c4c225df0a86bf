/** A checkout as `npm ci && npm start` leaves it, for the README's blocks to run in as written. */
import { copyFileSync, symlinkSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { tempDir } from './temp.js';

export const REPO_ROOT = fileURLToPath(new URL('../../../', import.meta.url));

/** A temp dir with the repository's built files linked in and a data/ of its own; remove() deletes it. */
export function checkout(): { path: string; file(name: string): string; remove(): void } {
  const dir = tempDir('longrun-checkout-');
  for (const entry of ['node_modules', 'dist', 'examples', 'proto', 'src']) symlinkSync(join(REPO_ROOT, entry), dir.file(entry));
  copyFileSync(join(REPO_ROOT, 'package.json'), dir.file('package.json'));
  return dir;
}
