import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { FOREIGN_SETTINGS, NUMBER_SETTINGS, SETTING_NAMES, SETTING_PREFIXES } from '../src/config';

const root = join(__dirname, '..');
const read = (path: string) => readFileSync(join(root, path), 'utf8');
const documents = ['README.md', ...readdirSync(join(root, 'docs')).map((name) => `docs/${name}`)];

/** The settings table: name, meaning and default of each row. */
const rows = new Map(
  [...read('docs/settings.md').matchAll(/^\| `([A-Z][A-Z0-9_]*)` +\| (.*?) +\| (.*?) +\|$/gm)].map(
    (match) => [match[1] as string, { meaning: match[2] as string, fallback: match[3] as string }] as const,
  ),
);

describe('the settings reference, docs/settings.md', () => {
  it('names every setting the configuration reads, and nothing else', () => {
    expect([...rows.keys()].sort()).toEqual([...SETTING_NAMES].sort());
  });

  it.each(Object.entries(NUMBER_SETTINGS))('gives %s the default and range the configuration applies', (name, spec) => {
    expect(rows.get(name)?.fallback).toBe(`\`${spec.fallback}\``);
    expect(rows.get(name)?.meaning).toContain(`(${spec.min}–${spec.max})`);
  });

  it('names every prefix that is checked and every foreign variable let through', () => {
    const text = read('docs/settings.md').replace(/\s+/g, ' ');
    for (const name of [...SETTING_PREFIXES, ...FOREIGN_SETTINGS])
      expect([name, text.includes(`\`${name}\``)]).toEqual([name, true]);
  });

  it('is the only place with a settings table: other documents link to it', () => {
    for (const path of documents.filter((path) => path !== 'docs/settings.md')) {
      expect([path, /^\| `AZURE_TENANT_ID` +\|/m.test(read(path))]).toEqual([path, false]);
    }
  });
});

describe('the documents', () => {
  it.each(documents)('%s links only to files and headings that exist', (path) => {
    const text = read(path).replace(/```[\s\S]*?```/g, '');
    const broken: string[] = [];
    for (const [, target] of text.matchAll(/\]\(([^)\s]+)\)/g)) {
      if (/^[a-z]+:/.test(target!)) continue;
      const [file, anchor] = target!.split('#') as [string, string | undefined];
      const linked = file === '' ? join(root, path) : resolve(dirname(join(root, path)), file);
      if (!existsSync(linked)) broken.push(target!);
      else if (
        anchor !== undefined &&
        linked.endsWith('.md') &&
        !headingAnchors(readFileSync(linked, 'utf8')).has(anchor)
      ) {
        broken.push(target!);
      }
    }
    expect(broken).toEqual([]);
  });
});

describe('the files the documents name', () => {
  it.each(documents)('%s names only paths of this repository that exist', (path) => {
    const named = [...read(path).matchAll(/`((?:src|test|bench|docs|\.ci)\/[\w./-]*)`/g)].map((match) => match[1]!);
    // Paths the guide tells you to create (test/guide/apply-guide.test.ts writes them in a copy of the project).
    const toCreate = [...read('docs/adding-an-operation.md').matchAll(/```ts title="([^"]+)"/g)].map((m) => m[1]!);
    const missing = named.filter(
      (name) => !toCreate.includes(name) && !existsSync(join(root, name.replace(/\*.*$/, ''))),
    );
    expect(missing).toEqual([]);
  });
});

describe('the client code the documents show', () => {
  it.each([
    ['README.md', 'test/clients/readme/apollo-client.ts'],
    ['README.md', 'test/clients/readme/graphql-request.ts'],
    ['README.md', 'test/clients/readme/urql.ts'],
    ['docs/subscriptions.md', 'test/websocket/subscription-client.ts'],
  ])('%s shows %s, which the tests compile and run, verbatim with its imports', (document, file) => {
    const blocks = [...read(document).matchAll(/```ts\n([\s\S]*?)```/g)].map((match) => match[1]!);
    expect(blocks).toContain(read(file));
  });
});

/** GitHub's anchors for a Markdown file's headings. */
function headingAnchors(markdown: string): Set<string> {
  const headings = markdown.replace(/```[\s\S]*?```/g, '').matchAll(/^#+ (.+)$/gm);
  return new Set(
    [...headings].map((match) =>
      match[1]!
        .toLowerCase()
        .replace(/[^\p{L}\p{N} _-]/gu, '')
        .replace(/ /g, '-'),
    ),
  );
}
