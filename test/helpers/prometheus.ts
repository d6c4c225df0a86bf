/** Reads Prometheus text exposition the way a scraper would, enough for tests. */
import assert from 'node:assert/strict';

export interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

export function parseExposition(text: string): Sample[] {
  const samples: Sample[] = [];
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const match = /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    assert.ok(match, `a sample line: ${line}`);
    const labels: Record<string, string> = {};
    for (const [, key, value] of (match[2] ?? '').matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)) labels[key!] = value!;
    samples.push({ name: match[1]!, labels, value: Number(match[3]) });
  }
  return samples;
}

function matching(samples: Sample[], name: string, labels: Record<string, string>): Sample[] {
  const found = samples.filter((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v));
  assert.ok(found.length <= 1, `at most one sample ${name} ${JSON.stringify(labels)}`);
  return found;
}

/**
 * The value of the one sample with this name and (at least) these labels. A missing sample fails:
 * read as 0, a misspelt or renamed metric would pass every `=== 0`. Where absence is the point
 * (a labelled counter has no sample until first counted), assert it with `hasSample`.
 */
export function valueOf(samples: Sample[], name: string, labels: Record<string, string> = {}): number {
  const [found] = matching(samples, name, labels);
  assert.ok(found, `a sample ${name} ${JSON.stringify(labels)} (of ${[...new Set(samples.map((s) => s.name))].length} metrics scraped)`);
  return found.value;
}

/** Whether there is a sample with this name and (at least) these labels. */
export function hasSample(samples: Sample[], name: string, labels: Record<string, string> = {}): boolean {
  return matching(samples, name, labels).length === 1;
}

export async function scrape(url: string): Promise<Sample[]> {
  const response = await fetch(url);
  assert.equal(response.status, 200);
  assert.match(response.headers.get('content-type') ?? '', /^text\/plain; version=0\.0\.4/);
  return parseExposition(await response.text());
}
