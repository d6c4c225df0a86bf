/** A SQLite file that cannot be used: one line naming the file and the cause, a non-zero exit, no stack trace. */
import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { runCli } from '../helpers/process.js';
import { tempDir } from '../helpers/temp.js';

describe('longrun serve on a database file it cannot use', { timeout: 120_000 }, () => {
  const dir = tempDir();
  const cases: [string, () => string, RegExp][] = [
    ['a file that is not a database', () => (writeFileSync(dir.file('notes.db'), 'not a database, just some text '.repeat(10)), dir.file('notes.db')), /file is not a database/],
    ['a folder where the file should be', () => (mkdirSync(dir.file('folder.db')), dir.file('folder.db')), /unable to open database file/],
    ['a path through a file', () => (writeFileSync(dir.file('plain'), ''), dir.file('plain/x.db')), /EEXIST|ENOTDIR/],
  ];
  for (const [what, make, cause] of cases) {
    it(what, async () => {
      const path = make();
      const result = await runCli(['serve', '--port', '0', '--http-port', 'off', '--metrics-port', 'off', '--db', path]);
      assert.equal(result.code, 1, result.stderr);
      const lines = result.stderr.trim().split('\n');
      assert.equal(lines.length, 1, `one line, no stack trace:\n${result.stderr}`);
      assert.ok(lines[0]!.startsWith(`longrun serve: cannot open the SQLite database ${path}: `), lines[0]);
      assert.match(lines[0]!, cause);
      assert.match(lines[0]!, /--db/);
      assert.doesNotMatch(result.stdout, /listening/);
    });
  }
});
