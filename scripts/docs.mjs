#!/usr/bin/env node
// Writes README's configuration table from src/config.ts (run after a build: `npm run docs`).
// test/docs.test.ts fails when the README and the code disagree.
import { readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { configurationTable } from '../dist/src/config.js';

const BEGIN = '<!-- configuration-table: generated from src/config.ts by `npm run docs` -->';
const END = '<!-- /configuration-table -->';
const readme = fileURLToPath(new URL('../README.md', import.meta.url));
const text = readFileSync(readme, 'utf8');
const start = text.indexOf(BEGIN);
const end = text.indexOf(END);
if (start < 0 || end < start) throw new Error(`README.md lacks the ${BEGIN} ... ${END} markers`);
writeFileSync(readme, `${text.slice(0, start + BEGIN.length)}\n${configurationTable()}\n${text.slice(end)}`);
console.log('README.md configuration table written');
