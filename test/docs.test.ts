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
    // Paths the guide tells you to create.
    const toCreate = [
      'src/schema/document.type.ts',
      'src/schema/documents.resolver.ts',
      'test/operations/documents.graphql',
    ];
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

describe('docs/adding-an-operation.md', () => {
  const guide = read('docs/adding-an-operation.md');
  const example = ['test/guide/documents.example.ts', 'test/guide/adding-an-operation.test.ts'].map(read).join('\n');

  it('shows TypeScript that is the tested example, verbatim', () => {
    const blocks = [...guide.matchAll(/```ts\n([\s\S]*?)```/g)].map((match) => match[1]!);
    expect(blocks.length).toBeGreaterThanOrEqual(3);
    // Prettier formats the blocks of a Markdown file too, so a snippet cut from inside a function loses its indent.
    const indented = (block: string, spaces: number) => block.replace(/^(?=.)/gm, ' '.repeat(spaces));
    for (const block of blocks) {
      const found = [0, 2, 4, 6, 8].some((spaces) => example.includes(indented(block, spaces)));
      expect([block, found]).toEqual([block, true]);
    }
  });

  it('has diffs that apply to the product and add only lines of the tested example', () => {
    const product = ['src/schema/build-schema.ts', 'src/schema/permissions.ts'].map(read).join('\n');
    const lines = [...guide.matchAll(/```diff\n([\s\S]*?)```/g)].flatMap((match) => match[1]!.trimEnd().split('\n'));
    const added = lines.filter((line) => line.startsWith('+')).map((line) => line.slice(1).trim());
    const kept = lines.filter((line) => !line.startsWith('+')).map((line) => line.slice(1).trim());
    expect(added.length).toBeGreaterThanOrEqual(3);
    for (const line of kept) expect([line, product.includes(line)]).toEqual([line, true]);
    // The example declares locally what the product's module would export.
    for (const line of added) expect([line, example.includes(line.replace(/^export /, ''))]).toEqual([line, true]);
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
