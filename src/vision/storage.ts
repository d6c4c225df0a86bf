/**
 * `gs://BUCKET/OBJECT` on the local disk, like a Cloud Storage emulator: objects are files at
 * `<root>/BUCKET/OBJECT`. Nothing is ever read or written outside the root: URIs with `.`/`..`
 * segments, backslashes or NUL are refused when parsed, and symlinks are resolved and checked
 * right before every read and write.
 */
import { randomBytes } from 'node:crypto';
import { mkdirSync, realpathSync, statSync } from 'node:fs';
import { mkdir, open, realpath, rename, rm, writeFile } from 'node:fs/promises';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { Code, LongrunError, invalidArgument } from '../index.js';
import { VISION_ERROR_DOMAIN } from './errors.js';

export interface GcsUri {
  bucket: string;
  object: string;
}

// Cloud Storage's own bucket naming rules (lowercase, digits, -, _, .; 3-222 characters).
const BUCKET = /^[a-z0-9][a-z0-9._-]{1,220}[a-z0-9]$/;
const MAX_OBJECT_BYTES = 1024;

/**
 * Parses `gs://BUCKET/OBJECT`; `field` names the request field in the error. A prefix (an output
 * destination) may be just `gs://BUCKET/` or end in `/`.
 */
export function parseGcsUri(uri: string, field: string, kind: 'object' | 'prefix'): GcsUri {
  const match = /^gs:\/\/([^/]*)\/(.*)$/s.exec(uri);
  if (match === null) throw invalidArgument(field, `must be a Cloud Storage URI, gs://BUCKET/${kind === 'object' ? 'OBJECT' : 'PREFIX'}`);
  const [, bucket = '', object = ''] = match;
  if (!BUCKET.test(bucket) || bucket.includes('..')) throw invalidArgument(field, `"${bucket}" is not a valid bucket name`);
  if (kind === 'object' && object === '') throw invalidArgument(field, 'names a bucket but no object');
  if (Buffer.byteLength(object) > MAX_OBJECT_BYTES) throw invalidArgument(field, `object names are at most ${MAX_OBJECT_BYTES} bytes`);
  if (/[\\\0\r\n]/.test(object)) throw invalidArgument(field, 'object names may not contain backslashes, NUL or line breaks');
  const segments = object.split('/');
  // A trailing empty segment is a prefix's "directory"; any other empty, "." or ".." segment could
  // step outside the bucket or alias another object.
  const inner = kind === 'prefix' && segments.at(-1) === '' ? segments.slice(0, -1) : segments;
  if (inner.some((segment) => segment === '' || segment === '.' || segment === '..')) {
    throw invalidArgument(field, 'object names may not have empty, "." or ".." path segments');
  }
  return { bucket, object };
}

export class LocalStorage {
  readonly root: string;

  constructor(root: string) {
    mkdirSync(root, { recursive: true });
    this.root = realpathSync(root);
  }

  /** The object's bytes; NOT_FOUND (as Vision words it) when there is no such object. */
  async read(uri: string, field: string, maxBytes: number): Promise<Buffer> {
    const path = this.pathOf(parseGcsUri(uri, field, 'object'));
    let real: string;
    try {
      real = await realpath(path);
    } catch (error) {
      if (isMissing(error)) throw new LongrunError(Code.NOT_FOUND, `Input file not found: ${uri}`, 'INPUT_NOT_FOUND', { metadata: { uri }, domain: VISION_ERROR_DOMAIN });
      throw error;
    }
    this.confine(real, uri, field);
    const file = await open(real, 'r');
    try {
      const stat = await file.stat();
      if (!stat.isFile()) throw new LongrunError(Code.NOT_FOUND, `Input file not found: ${uri}`, 'INPUT_NOT_FOUND', { metadata: { uri }, domain: VISION_ERROR_DOMAIN });
      if (stat.size > maxBytes) throw invalidArgument(field, `the object is ${stat.size} bytes; at most ${maxBytes} are accepted`);
      return await file.readFile();
    } finally {
      await file.close();
    }
  }

  /** Writes `data` as the object `prefix + name`, atomically (a temp file renamed into place). */
  async write(prefix: string, name: string, data: string | readonly Uint8Array[], field: string): Promise<string> {
    const uri = prefix + name;
    const path = this.pathOf(parseGcsUri(uri, field, 'object'));
    const directory = dirname(path);
    await mkdir(directory, { recursive: true });
    // mkdir follows symlinks: check where the directory really is before putting anything in it.
    const realDirectory = await realpath(directory);
    this.confine(realDirectory, uri, field);
    const temp = join(realDirectory, `.${randomBytes(6).toString('hex')}.tmp`);
    try {
      await writeFile(temp, data, { flag: 'wx' });
      await rename(temp, join(realDirectory, path.slice(directory.length + 1)));
    } catch (error) {
      await rm(temp, { force: true });
      throw error;
    }
    return uri;
  }

  /**
   * Fails when the URI's folder leads out of the root through a symlink, or lies under an existing
   * object (`gs://b/file.pdf/`), where no shard could be written (checked before a run).
   */
  checkPrefix(prefix: string, field: string): void {
    const { bucket, object } = parseGcsUri(prefix, field, 'prefix');
    let path = this.pathOf({ bucket, object: object.endsWith('/') || object === '' ? object : dirname(object) });
    // The deepest part that exists decides where the rest will be created.
    for (;;) {
      try {
        const real = realpathSync(path);
        this.confine(real, prefix, field);
        if (!statSync(real).isDirectory()) {
          const object = `gs://${bucket}/${relative(join(this.root, bucket), real).split(sep).join('/')}`;
          throw invalidArgument(field, `${prefix} lies under the existing object ${object}: an output prefix must name a folder`);
        }
        return;
      } catch (error) {
        if (!isMissing(error)) throw error;
        path = dirname(path);
      }
    }
  }

  private pathOf({ bucket, object }: GcsUri): string {
    const path = resolve(this.root, bucket, object);
    this.confine(path, `gs://${bucket}/${object}`, 'uri');
    return path;
  }

  private confine(path: string, uri: string, field: string): void {
    if (path !== this.root && !path.startsWith(this.root + sep)) {
      throw invalidArgument(field, `${uri} resolves outside the storage root`);
    }
  }
}

function isMissing(error: unknown): boolean {
  const code = (error as NodeJS.ErrnoException).code;
  return code === 'ENOENT' || code === 'ENOTDIR';
}
