/**
 * A build of an earlier commit of this repository, for benchmarks that compare against it (the
 * policies section). The commit's tree comes from git (`git archive`), is built with its own
 * `npm run build`, and is kept under node_modules/.cache/longrun-bench/ keyed by the commit, so a
 * second run costs nothing. Its dependencies are this checkout's node_modules (a symlink) when
 * each runtime dependency its package.json names resolves there to a version in its range;
 * otherwise it gets `npm ci` of its own, and says so.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** This checkout: the directory holding package.json and dist/ (this file runs as dist/scripts/bench/baseline.js). */
export const ROOT = fileURLToPath(new URL('../../../', import.meta.url));

export interface BaselineBuild {
  /** The full commit id. */
  commit: string;
  /** Root of the built tree (its dist/ beside its package.json). */
  root: string;
  /** What was done to get it, for the report: cached, or built (how, how long, what was tolerated). */
  how: string;
}

/**
 * The built tree of `commit` (an abbreviated id is fine). Throws with a message that says what to
 * do when this checkout has no git history holding the commit (a tarball, a shallow clone).
 */
export function baselineBuild(commit: string): BaselineBuild {
  const full = resolveCommit(commit);
  const dir = join(ROOT, 'node_modules', '.cache', 'longrun-bench', `baseline-${full}`);
  const marker = join(dir, '.longrun-bench-built');
  if (existsSync(marker)) return { commit: full, root: dir, how: `cached (${readFileSync(marker, 'utf8').trim()})` };

  const t0 = performance.now();
  // Built beside its final place and renamed into it whole: a run killed halfway leaves no tree
  // that looks built, and two runs at once do not write into one tree.
  const building = `${dir}.${process.pid}.tmp`;
  rmSync(building, { recursive: true, force: true });
  mkdirSync(building, { recursive: true });
  try {
    const archive = join(building, '.tree.tar');
    execFileSync('git', ['-C', ROOT, 'archive', '--format=tar', '-o', archive, full], { stdio: ['ignore', 'ignore', 'pipe'] });
    execFileSync('tar', ['-xf', archive, '-C', building], { stdio: ['ignore', 'ignore', 'pipe'] });
    rmSync(archive);

    const { unmet, differing } = dependencyCheck(building);
    let dependencies: string;
    if (unmet.length === 0) {
      symlinkSync(join(ROOT, 'node_modules'), join(building, 'node_modules'), 'dir');
      dependencies =
        "this checkout's node_modules, where its runtime dependencies resolve" +
        (differing.length === 0 ? ' at the versions it locked' : ` (runtime packages at other versions than it locked: ${differing.join(', ')})`);
    } else {
      run(building, 'npm', ['ci', '--no-audit', '--no-fund']);
      dependencies = `npm ci of its own (its dependencies do not resolve here: ${unmet.join('; ')})`;
    }

    // Its own build script. That build also type-checks its tests and scripts, against whatever
    // dev dependencies are installed (pg-boss 12 here, where the commit had 10): diagnostics there
    // do not touch dist/src, whose JavaScript is emitted file by file (isolatedModules) and which
    // imports neither. Any diagnostic in src/ fails.
    const build = spawnSync('npm', ['run', 'build', '--silent'], { cwd: building, encoding: 'utf8', env: { ...process.env, NO_COLOR: '1', FORCE_COLOR: '0' } });
    const output = `${build.stdout}${build.stderr}`.replace(/\x1b\[[0-9;]*m/g, '');
    let tolerated = '';
    if (build.status !== 0) {
      const files = [...new Set([...output.matchAll(/^(\S+\.ts)[:(]\d+/gm)].map((match) => match[1]!))];
      if (files.length === 0 || files.some((file) => file.startsWith('src/')) || !existsSync(join(building, 'dist', 'src', 'index.js'))) {
        throw new Error(`the build of ${full} failed:\n${output}`);
      }
      tolerated = `; type errors outside src/ let be: ${files.join(', ')}`;
    }
    const how = `commit ${full.slice(0, 12)} built in ${((performance.now() - t0) / 1000).toFixed(1)} s with its own npm run build; dependencies: ${dependencies}${tolerated}`;
    writeFileSync(join(building, '.longrun-bench-built'), `${how}\n`);
    mkdirSync(dirname(dir), { recursive: true });
    try {
      renameSync(building, dir);
    } catch (error) {
      // Another run finished the same build first: use its tree.
      if (!existsSync(marker)) throw error;
      rmSync(building, { recursive: true, force: true });
    }
    return { commit: full, root: dir, how: `built now (${how})` };
  } catch (error) {
    rmSync(building, { recursive: true, force: true });
    throw error;
  }
}

function resolveCommit(commit: string): string {
  const found = spawnSync('git', ['-C', ROOT, 'rev-parse', '--verify', '--quiet', `${commit}^{commit}`], { encoding: 'utf8' });
  if (found.status !== 0 || !/^[0-9a-f]{40}$/.test(found.stdout.trim())) {
    const why = found.error ? `git could not be run (${found.error.message})` : (found.stderr.trim() || `git knows no commit ${commit} in ${ROOT}`);
    throw new Error(
      `this bench compares against commit ${commit} of longrun's history and cannot find it: ${why}. ` +
        'Run it in a git clone that has the history (not a tarball or a shallow clone: git fetch --unshallow).',
    );
  }
  return found.stdout.trim();
}

function run(cwd: string, command: string, args: string[]): void {
  const result = spawnSync(command, args, { cwd, encoding: 'utf8' });
  if (result.status !== 0) throw new Error(`${command} ${args.join(' ')} in ${cwd} failed (${result.status ?? result.signal}):\n${result.stdout}${result.stderr}`);
}

interface LockEntry {
  version?: string;
  dev?: boolean;
}

/**
 * Whether the tree at `dir` can use this checkout's node_modules: each runtime dependency its
 * package.json names must resolve there to a version in its range (what they need in turn, npm
 * installed to their own ranges). `unmet` lists those that do not; `differing`, for the report,
 * the runtime packages of its lockfile installed here at another version than it locked.
 */
function dependencyCheck(dir: string): { unmet: string[]; differing: string[] } {
  const manifest = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as { dependencies?: Record<string, string> };
  const unmet: string[] = [];
  for (const [name, range] of Object.entries(manifest.dependencies ?? {})) {
    const installed = installedVersion(join('node_modules', name));
    if (installed === undefined || !satisfies(installed, range)) unmet.push(`${name}@${range} (found ${installed ?? 'nothing'})`);
  }
  const lock = JSON.parse(readFileSync(join(dir, 'package-lock.json'), 'utf8')) as { packages: Record<string, LockEntry> };
  const differing: string[] = [];
  for (const [path, entry] of Object.entries(lock.packages)) {
    if (path === '' || entry.dev || entry.version === undefined) continue;
    const installed = installedVersion(path);
    if (installed !== undefined && installed !== entry.version) differing.push(`${path.replace(/^.*node_modules\//, '')} ${entry.version} locked, ${installed} here`);
  }
  return { unmet, differing };
}

function installedVersion(path: string): string | undefined {
  const file = join(ROOT, path, 'package.json');
  return existsSync(file) ? (JSON.parse(readFileSync(file, 'utf8')) as { version: string }).version : undefined;
}

/** npm range check for the forms lockfiles hold: `||` of space-separated comparators (^, ~, =, <, <=, >, >=, x-ranges). */
export function satisfies(version: string, range: string): boolean {
  const v = parse(version);
  if (v === undefined) return false;
  return range.split('||').some((alternative) => {
    const comparators = alternative.trim().split(/\s+/).filter(Boolean);
    if (comparators.length === 0) return true;
    return comparators.every((comparator) => {
      const match = /^(\^|~|>=|<=|>|<|=)?v?(\d+|x|\*)(?:\.(\d+|x|\*))?(?:\.(\d+|x|\*))?$/.exec(comparator);
      if (match === null) return comparator === '*' || comparator === 'x';
      const [, op = '', ...parts] = match;
      const wild = parts.findIndex((part) => part === undefined || part === 'x' || part === '*');
      const given = parts.map((part) => (part === undefined || part === 'x' || part === '*' ? 0 : Number(part))) as [number, number, number];
      const known = wild < 0 ? 3 : wild;
      const cmp = compare(v, given);
      if (op === '^' || ((op === '' || op === '=') && known < 3) || op === '~') {
        // The upper bound: ^ keeps the first non-zero part; ~ and x-ranges keep what was given (~1.2.3 keeps 1.2).
        const firstNonZero = given.slice(0, known).findIndex((part) => part !== 0);
        const keep = op === '^' ? (firstNonZero < 0 ? known : firstNonZero + 1) : op === '~' ? Math.max(1, Math.min(known, 2)) : known;
        if (keep === 0) return cmp >= 0;
        const upper = given.map((part, i) => (i < keep - 1 ? part : i === keep - 1 ? part + 1 : 0)) as [number, number, number];
        return cmp >= 0 && compare(v, upper) < 0;
      }
      if (op === '' || op === '=') return cmp === 0 && v.pre === undefined;
      if (op === '>=') return cmp >= 0;
      if (op === '>') return cmp > 0;
      if (op === '<=') return cmp <= 0;
      return cmp < 0;
    });
  });
}

interface Version {
  parts: [number, number, number];
  pre: string | undefined;
}

function parse(version: string): Version | undefined {
  const match = /^(\d+)\.(\d+)\.(\d+)(?:-([0-9A-Za-z.-]+))?(?:\+\S*)?$/.exec(version);
  if (match === null) return undefined;
  return { parts: [Number(match[1]), Number(match[2]), Number(match[3])], pre: match[4] };
}

/** Compares a version with bare parts; a pre-release sorts below its release. */
function compare(v: Version, parts: [number, number, number]): number {
  for (let i = 0; i < 3; i++) if (v.parts[i] !== parts[i]) return v.parts[i]! - parts[i]!;
  return v.pre === undefined ? 0 : -1;
}
