/** The docs' generated tables are the ones the code makes (`npm run docs` rewrites them). */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { OPTIONS } from '../src/config.js';
import { GENERATED_SECTIONS } from '../src/docs-tables.js';
import { ERROR_REASONS } from '../src/domain/errors.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const read = (file: string) => readFileSync(join(ROOT, file), 'utf8');
const sectionOf = (name: string) => {
  const section = GENERATED_SECTIONS.find((each) => each.name === name)!;
  const text = read(section.file);
  const start = text.indexOf(section.begin);
  const end = text.indexOf(section.end);
  assert.ok(start >= 0 && end > start, `${section.file} has the ${name} markers`);
  return { section, found: text.slice(start + section.begin.length + 1, end - 1) };
};

describe('generated docs', { timeout: 60_000 }, () => {
  for (const section of GENERATED_SECTIONS) {
    it(`${section.file}: the ${section.name} is current`, () => {
      const { found } = sectionOf(section.name);
      assert.equal(found, section.table(), `${section.file} is out of date: run \`npm run docs\``);
    });
  }

  it('the configuration table is the configuration reference\'s, not the README\'s', () => {
    assert.equal(GENERATED_SECTIONS.find((each) => each.name === 'configuration table')!.file, 'docs/configuration.md');
    for (const section of GENERATED_SECTIONS) assert.ok(!read('README.md').includes(section.begin), `README.md has no ${section.name}: it links the page`);
    assert.match(read('README.md'), /\]\(docs\/configuration\.md\)/);
  });

  it('the configuration table has a row for every option', () => {
    const { found } = sectionOf('configuration table');
    for (const spec of OPTIONS) {
      const flags = [spec.flag, ...(spec.negation === undefined ? [] : [spec.negation])].map((flag) => `\`--${flag}\``).join(', ');
      assert.ok(found.includes(`| ${flags} | \`${spec.env}\` |`), `a row for --${spec.flag}`);
    }
  });

  it('every error reason of the closed table is raised somewhere in the code', () => {
    const sources: string[] = [];
    const walk = (dir: string) => {
      for (const entry of readdirSync(dir)) {
        const path = join(dir, entry);
        if (statSync(path).isDirectory()) walk(path);
        else if (path.endsWith('.ts') && !path.includes(`${join('src', 'gen')}`)) sources.push(readFileSync(path, 'utf8'));
      }
    };
    walk(join(ROOT, 'src'));
    // The table itself does not count as raising a reason.
    const code = sources.map((text) => text.replace(/export const ERROR_REASONS = \{[\s\S]*?\} as const;/, '')).join('\n');
    for (const reason of Object.keys(ERROR_REASONS)) {
      assert.ok(code.includes(`'${reason}'`), `${reason} is in ERROR_REASONS but nothing raises it`);
    }
  });
});
