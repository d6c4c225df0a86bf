#!/usr/bin/env node
// `npm run build`: compiles into dist/ incrementally, without ever pulling a file from under a
// process that runs from the same checkout (a server, a runner, the CLI, a test).
//
// - No `rm -rf dist`: tsc's incremental build (dist/tsconfig.tsbuildinfo) re-emits only what
//   changed, so a second `npm start` while a server runs rewrites nothing it has loaded.
// - Each file is written to a temporary name and renamed into place: tsc itself truncates and
//   rewrites (fs.writeFileSync), and a process loading a module at that moment (a worker thread,
//   a lazy import) could read half a file. rename() swaps it whole.
// - Outputs whose source was deleted are removed (they could only be reached by a stale import,
//   or picked up by `npm test`'s glob of dist/test).
// - The CLI keeps its execute bit, so `npx longrun` works in the checkout as after `npm install`.
import { chmodSync, existsSync, readdirSync, renameSync, rmSync, statSync, writeFileSync, mkdirSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';

const root = fileURLToPath(new URL('..', import.meta.url));
const outDir = join(root, 'dist');
const CLI = join(outDir, 'src', 'cli', 'main.js');

const formatHost = { getCanonicalFileName: (name) => name, getCurrentDirectory: () => root, getNewLine: () => '\n' };
const configPath = join(root, 'tsconfig.json');
const config = ts.getParsedCommandLineOfConfigFile(configPath, { incremental: true }, {
  ...ts.sys,
  onUnRecoverableConfigFileDiagnostic: (diagnostic) => fail([diagnostic]),
});
if (config.errors.length > 0) fail(config.errors);

/** The .js of each source; if one is missing (dist deleted by hand, in part), build everything again. */
const expected = config.fileNames.filter((file) => !file.endsWith('.d.ts')).map((file) => join(outDir, relative(root, file)).replace(/\.ts$/, '.js'));
const buildInfo = join(outDir, 'tsconfig.tsbuildinfo');
if (expected.some((file) => !existsSync(file))) rmSync(buildInfo, { force: true });

const host = ts.createIncrementalCompilerHost(config.options);
let written = 0;
host.writeFile = (fileName, text, writeByteOrderMark) => {
  mkdirSync(dirname(fileName), { recursive: true });
  const temporary = `${fileName}.${process.pid}.tmp`;
  writeFileSync(temporary, writeByteOrderMark ? `\uFEFF${text}` : text);
  renameSync(temporary, fileName);
  written++;
};
const program = ts.createIncrementalProgram({
  rootNames: config.fileNames,
  options: { ...config.options, tsBuildInfoFile: buildInfo },
  configFileParsingDiagnostics: ts.getConfigFileParsingDiagnostics(config),
  projectReferences: config.projectReferences,
  host,
});
const diagnostics = [
  ...program.getConfigFileParsingDiagnostics(),
  ...program.getOptionsDiagnostics(),
  ...program.getGlobalDiagnostics(),
  ...program.getSyntacticDiagnostics(),
  ...program.getSemanticDiagnostics(),
];
// Like tsc without noEmitOnError: emit even with type errors, then fail.
const emitted = program.emit();
diagnostics.push(...emitted.diagnostics);

const removed = removeStale();
if (existsSync(CLI)) chmodSync(CLI, statSync(CLI).mode | 0o111);
if (diagnostics.length > 0) fail(diagnostics);
if (process.env.LONGRUN_BUILD_VERBOSE) console.error(`build: ${written} files written, ${removed} stale removed`);

/** Deletes dist files (`x.js`, `x.js.map`, `x.d.ts`, `x.d.ts.map`) whose `x.ts` no longer exists. */
function removeStale() {
  const sources = new Set(config.fileNames.map((file) => relative(root, file).replace(/\.ts$/, '')));
  let count = 0;
  const visit = (dir) => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      const path = join(dir, entry.name);
      if (entry.isDirectory()) visit(path);
      else {
        const stem = /^(.*?)(\.js|\.js\.map|\.d\.ts|\.d\.ts\.map)$/.exec(relative(outDir, path));
        const temporary = /\.(\d+)\.tmp$/.exec(entry.name);
        if ((stem !== null && !sources.has(stem[1])) || (temporary !== null && !alive(Number(temporary[1])))) {
          rmSync(path);
          count++;
        }
      }
    }
  };
  if (existsSync(outDir)) visit(outDir);
  return count;
}

/** Whether the build that wrote a temporary file still runs (else the file was left by a killed one). */
function alive(pid) {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return error.code === 'EPERM';
  }
}

function fail(diagnostics) {
  process.stderr.write(ts.formatDiagnosticsWithColorAndContext(diagnostics, formatHost));
  process.exit(1);
}
