/** README's configuration table is the one src/config.ts makes (`npm run docs` rewrites it). */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { configurationTable, OPTIONS } from '../src/config.js';

describe('README configuration table', { timeout: 180_000 }, () => {
  it('matches the options the server reads, row for row', () => {
    const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');
    const table = /<!-- configuration-table:[^>]*-->\n([\s\S]*?)\n<!-- \/configuration-table -->/.exec(readme);
    assert.ok(table, 'README.md has the configuration-table markers');
    assert.equal(table[1], configurationTable(), 'README.md is out of date: run `npm run docs`');
    for (const spec of OPTIONS) {
      const flags = [spec.flag, ...(spec.negation === undefined ? [] : [spec.negation])].map((flag) => `\`--${flag}\``).join(', ');
      assert.ok(table[1]!.includes(`| ${flags} | \`${spec.env}\` |`), `a row for --${spec.flag}`);
    }
  });
});
