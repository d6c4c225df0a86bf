/**
 * The tables of the docs that are generated from the code (`npm run docs` writes them between
 * their markers; test/docs.test.ts checks they are current), so a page never drifts from what the
 * server does.
 */
import { configurationTable } from './config.js';
import { ERROR_REASONS } from './domain/errors.js';

export interface GeneratedSection {
  name: string;
  /** Path from the repository root. */
  file: string;
  begin: string;
  end: string;
  table(): string;
}

export function errorReasonsTable(): string {
  return ['| reason | meaning |', '|---|---|', ...Object.entries(ERROR_REASONS).map(([reason, meaning]) => `| \`${reason}\` | ${meaning} |`)].join('\n');
}

export const GENERATED_SECTIONS: readonly GeneratedSection[] = [
  {
    name: 'configuration table',
    file: 'docs/configuration.md',
    begin: '<!-- configuration-table: generated from src/config.ts by `npm run docs` -->',
    end: '<!-- /configuration-table -->',
    table: configurationTable,
  },
  {
    name: 'error reasons',
    file: 'docs/errors.md',
    begin: '<!-- error-reasons: generated from src/domain/errors.ts by `npm run docs` -->',
    end: '<!-- /error-reasons -->',
    table: errorReasonsTable,
  },
];
