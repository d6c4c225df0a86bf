/**
 * Where longrun's proto files live at run time, and the one set of conversion options every
 * loader uses. src/gen's types are generated for exactly these options (scripts/gen.mjs).
 */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The folder of longrun's package.json, from src/ (ts) or dist/src/ (js) alike. */
function findPackageRoot(start: string): string {
  for (let dir = start; ; dir = dirname(dir)) {
    const manifest = join(dir, 'package.json');
    if (existsSync(manifest) && (JSON.parse(readFileSync(manifest, 'utf8')) as { name?: string }).name === 'longrun') return dir;
    if (dirname(dir) === dir) throw new Error(`no longrun package.json above ${start}`);
  }
}

export const PACKAGE_ROOT = findPackageRoot(dirname(fileURLToPath(import.meta.url)));
export const PROTO_DIR = join(PACKAGE_ROOT, 'proto');
/** FileDescriptorSet of proto/, built by `buf build` (scripts/gen.mjs); reflection serves it. */
export const DESCRIPTOR_SET_PATH = join(PACKAGE_ROOT, 'src', 'gen', 'descriptors.binpb');

/**
 * proto-loader / protobufjs conversion: camelCase fields, 64-bit ints and enums as strings, unset
 * fields filled with defaults, and a virtual property naming each oneof's set field. src/gen's
 * types depend on these: scripts/gen.mjs passes the same choices to proto-loader-gen-types, so
 * change both together (and regenerate).
 */
export const LOADER_OPTIONS = {
  keepCase: false,
  longs: String,
  enums: String,
  defaults: true,
  oneofs: true,
} as const;
