import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { NUMBER_SETTINGS, SETTING_NAMES } from '../src/config';

const readme = readFileSync(join(__dirname, '../README.md'), 'utf8');
const start = readme.indexOf('## Settings');
const section = readme.slice(start, readme.indexOf('\n## ', start + 1));
/** The settings table: name, meaning and default of each row. */
const rows = new Map(
  [...section.matchAll(/^\| `([A-Z][A-Z0-9_]*)` +\| (.*?) +\| (.*?) +\|$/gm)].map(
    (match) => [match[1] as string, { meaning: match[2] as string, fallback: match[3] as string }] as const,
  ),
);

describe('the settings reference in README.md', () => {
  it('names every setting the configuration reads, and nothing else', () => {
    expect([...rows.keys()].sort()).toEqual([...SETTING_NAMES].sort());
  });

  it.each(Object.entries(NUMBER_SETTINGS))('gives %s the default and range the configuration applies', (name, spec) => {
    expect(rows.get(name)?.fallback).toBe(`\`${spec.fallback}\``);
    expect(rows.get(name)?.meaning).toContain(`(${spec.min}–${spec.max})`);
  });
});
