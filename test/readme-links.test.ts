/**
 * The README stays what a newcomer reads (at most 200 lines), every relative link of the README and
 * of docs/ leads somewhere (a file, and a heading when it names one), and every command block of
 * the README and of docs/ is one a test runs. JavaScript and TypeScript blocks are not commands: the
 * long ones are examples/*.mjs verbatim, which tests run (test/readme.test.ts).
 */
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const PAGES = ['README.md', ...readdirSync(join(ROOT, 'docs')).filter((name) => name.endsWith('.md')).map((name) => `docs/${name}`)];
const read = (file: string) => readFileSync(join(ROOT, file), 'utf8');

/** The text outside fenced code blocks (a `#` line in a shell block is no heading, a link there no link). */
const prose = (markdown: string) => markdown.replace(/^```[\s\S]*?^```$/gm, '');

/** GitHub's anchors for a page's headings: lower case, punctuation dropped, spaces to hyphens, -1, -2 for repeats. */
function anchorsOf(markdown: string): Set<string> {
  const anchors = new Set<string>();
  const seen = new Map<string, number>();
  for (const [, title] of prose(markdown).matchAll(/^#{1,6} +(.+?) *#* *$/gm)) {
    const slug = title!
      .replace(/\[([^\]]*)\]\([^)]*\)/g, '$1')
      .toLowerCase()
      .replace(/[^\p{L}\p{N}\s_-]/gu, '')
      .replace(/ /g, '-');
    const count = seen.get(slug) ?? 0;
    seen.set(slug, count + 1);
    anchors.add(count === 0 ? slug : `${slug}-${count}`);
  }
  return anchors;
}

/** Relative link targets of a page: `[text](target)` outside code, not a URL with a scheme. */
function linksOf(markdown: string): string[] {
  const text = prose(markdown).replace(/`[^`\n]*`/g, '');
  return [...text.matchAll(/\]\(([^)\s]+)\)/g)].map((match) => match[1]!).filter((target) => !/^[a-z][a-z0-9+.-]*:/i.test(target));
}

/** Every source file under test/, where a test names the marker of the block it runs. */
function testSources(): string {
  const texts: string[] = [];
  const walk = (dir: string) => {
    for (const entry of readdirSync(dir)) {
      const path = join(dir, entry);
      if (statSync(path).isDirectory()) walk(path);
      else if (path.endsWith('.ts')) texts.push(readFileSync(path, 'utf8'));
    }
  };
  walk(join(ROOT, 'test'));
  return texts.join('\n');
}

/**
 * README blocks no test runs verbatim, and why that is enough: CI (`.ci/run`) is `npm ci` then
 * `npm test` on a clean clone, and `npm start` is the build (test/build.test.ts) and then the
 * `longrun serve` that test/readme.test.ts starts with the same defaults.
 */
const RUN_BY_CI = new Set(['quick-start-serve', 'quick-start-test']);

/** Markers of generated tables, not of command blocks. */
const isTableMarker = (marker: string) => /^\/|: generated from /.test(marker);

/**
 * The command blocks of a page: each fenced block in a shell language (also one indented in a list),
 * and each unlabelled one whose first line is a command (`longrun`, `npx`, `npm`, `curl`, `node`,
 * `gcloud`), which should say it is `sh`; with the marker line before it, if any.
 */
function commandBlocksOf(markdown: string): [string, string | undefined, string][] {
  const blocks: [string, string | undefined, string][] = [];
  for (const [whole, marker, language, first] of markdown.matchAll(/(?:^ *<!-- ([^>]+?) -->\n)?^ *```([a-z]*)\n *(.*)$/gm)) {
    if (/^(sh|bash|shell|console)$/.test(language!)) blocks.push([whole, marker, language!]);
    else if (language === '' && /^(longrun|npx|npm|curl|node|gcloud) /.test(first!)) blocks.push([whole, marker, 'unlabelled command']);
  }
  return blocks;
}

/** A test reads a block by its whole marker (`<!-- name -->` in a pattern) or by its name alone, quoted. */
const readByATest = (tests: string, marker: string) => tests.includes(`<!-- ${marker} -->`) || tests.includes(`'${marker}'`);

describe('the README and docs/', { timeout: 60_000 }, () => {
  it('the README is at most 200 lines', () => {
    const lines = read('README.md').split('\n');
    const count = lines.at(-1) === '' ? lines.length - 1 : lines.length;
    assert.ok(count <= 200, `README.md has ${count} lines; what is not for a newcomer goes to docs/`);
  });

  it('the README links every page of docs/', () => {
    const targets = new Set(linksOf(read('README.md')).map((target) => target.split('#')[0]));
    for (const page of PAGES.filter((page) => page !== 'README.md')) assert.ok(targets.has(page), `README.md links ${page}`);
  });

  for (const page of PAGES) {
    it(`${page}: every relative link resolves to a file, and to a heading when it names one`, () => {
      const text = read(page);
      const links = linksOf(text);
      for (const target of links) {
        const [path, anchor] = target.split('#') as [string, string | undefined];
        const file = path === '' ? page : relative(ROOT, join(ROOT, dirname(page), decodeURIComponent(path)));
        assert.ok(!file.startsWith('..') && existsSync(join(ROOT, file)), `${page} links ${target}: no file ${file}`);
        if (anchor !== undefined && anchor !== '') {
          assert.ok(file.endsWith('.md'), `${page} links ${target}: an anchor in a file that is not markdown`);
          const anchors = anchorsOf(read(file));
          assert.ok(anchors.has(anchor), `${page} links ${target}: ${file} has no heading #${anchor} (it has ${[...anchors].join(', ')})`);
        }
      }
    });
  }

  it('docs/dependencies.md says what every dependency of package.json is for', () => {
    const manifest = JSON.parse(read('package.json')) as { dependencies: Record<string, string>; devDependencies: Record<string, string> };
    const page = read('docs/dependencies.md');
    for (const name of Object.keys(manifest.dependencies)) assert.ok(page.includes(`| \`${name}\` |`), `a row for ${name}`);
    for (const name of Object.keys(manifest.devDependencies)) {
      assert.ok(page.includes(`\`${name}\``) || (name.startsWith('@types/') && page.includes('`@types/*`')), `a dev: row for ${name}`);
    }
  });

  it('command blocks are found in every form a page has them', () => {
    const page = '<!-- a -->\n```sh\nnpx longrun list\n```\n\n- item\n\n  ```\n  longrun copy-store --from x\n  ```\n\n  <!-- b -->\n  ```sh\n  npx longrun list\n  ```\n\n```\nproto/  the layout\n```\n\n```js\nawait x;\n```\n\n```console\n$ ls\n```\n';
    assert.deepEqual(commandBlocksOf(page).map(([, marker, language]) => [marker, language]), [['a', 'sh'], [undefined, 'unlabelled command'], ['b', 'sh'], [undefined, 'console']]);
  });

  it('the anchors are GitHub\'s', () => {
    const anchors = anchorsOf('# Over HTTP: the REST form\n## 202 Accepted and Retry-After\n### `--db` (PostgreSQL)\n## Limits\n## Limits\n```sh\n# a comment\n```\n');
    assert.deepEqual([...anchors], ['over-http-the-rest-form', '202-accepted-and-retry-after', '--db-postgresql', 'limits', 'limits-1']);
  });

  it('every command block of the README and of docs/ is run by a test, and every block marker is read by one', () => {
    const tests = testSources();
    const readme = read('README.md');
    const blocks = [...readme.matchAll(/(?:<!-- ([^>]+?) -->\n)?```(sh|bash|shell|console)\n/g)];
    assert.ok(blocks.length >= 5, 'the README has its walk-throughs');
    for (const [, marker, language] of blocks) {
      assert.ok(marker !== undefined, `every ${language} block of README.md follows a <!-- marker --> that names it`);
      if (RUN_BY_CI.has(marker)) continue;
      assert.ok(readByATest(tests, marker), `no test under test/ reads the README's ${marker} block`);
    }
    for (const page of PAGES.filter((page) => page !== 'README.md')) {
      for (const [, marker, language] of commandBlocksOf(read(page))) {
        assert.ok(marker !== undefined, `every ${language} block of ${page} follows a <!-- marker --> that names it (and a test runs it)`);
        assert.ok(readByATest(tests, marker), `no test under test/ reads the ${marker} block of ${page}`);
      }
    }
    for (const page of PAGES) {
      for (const [, marker] of read(page).matchAll(/^ *<!-- ([^>]+?) -->$/gm)) {
        if (isTableMarker(marker!) || RUN_BY_CI.has(marker!)) continue;
        assert.ok(readByATest(tests, marker!), `no test under test/ reads the ${marker} block of ${page}`);
      }
    }
  });
});
