import { execFileSync, spawnSync } from 'node:child_process';
import {
  copyFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';

/**
 * docs/adding-an-operation.md, done as a new developer would do it: a copy of the project (its tracked files), the
 * files the guide shows written where it says, its commands run, then the whole test suite. This file is left out
 * of the copy's run (it would copy the copy), and so is the container test: the guide touches no file the image is
 * built differently from, and the main run builds it.
 */
const root = resolve(__dirname, '../..');
const guide = readFileSync(join(root, 'docs/adding-an-operation.md'), 'utf8');

/** The files the guide has you write: each TypeScript block titled with its path. */
const files = [...guide.matchAll(/```ts title="([^"]+)"\n([\s\S]*?)```/g)].map((match) => ({
  path: match[1]!,
  text: match[2]!,
}));
/** The commands of its shell blocks, without their comments. */
const commands = [...guide.matchAll(/```sh\n([\s\S]*?)```/g)]
  .flatMap((match) => match[1]!.split('\n'))
  .map((line) => line.replace(/#.*$/, '').trim())
  .filter(Boolean);

const MINUTES = 60 * 1000;

describe('docs/adding-an-operation.md, applied to a copy of the project', () => {
  it('asks for one resolver file, its test and one command, and edits nothing that exists', () => {
    expect(files.map(({ path }) => path)).toEqual(['src/schema/documents.resolver.ts', 'test/documents.test.ts']);
    expect(commands).toEqual(['npm run schema']);
    for (const { path } of files) expect([path, existsSync(join(root, path))]).toEqual([path, false]);
  });

  it(
    'ends with the whole test suite green, the guide’s own test included',
    () => {
      const workspace = mkdtempSync(join(tmpdir(), 'guide-'));
      const project = join(workspace, 'project');
      try {
        const tracked = execFileSync('git', ['ls-files', '-z'], { cwd: root, encoding: 'utf8' })
          .split('\0')
          .filter((path) => path !== '' && existsSync(join(root, path)));
        for (const path of tracked) {
          mkdirSync(dirname(join(project, path)), { recursive: true });
          copyFileSync(join(root, path), join(project, path));
        }
        symlinkSync(join(root, 'node_modules'), join(project, 'node_modules'), 'dir');
        // The real-token tests read ../shared when it is there, as in this checkout.
        const shared = resolve(root, '../shared');
        if (existsSync(shared)) symlinkSync(shared, join(workspace, 'shared'), 'dir');

        for (const { path, text } of files) {
          mkdirSync(dirname(join(project, path)), { recursive: true });
          writeFileSync(join(project, path), text);
        }
        const env = { ...process.env };
        delete env['JEST_WORKER_ID'];
        for (const command of commands) {
          const step = spawnSync('sh', ['-c', command], { cwd: project, env, encoding: 'utf8' });
          expect([command, step.status, step.status === 0 ? '' : step.stdout + step.stderr]).toEqual([command, 0, '']);
        }
        expect(readFileSync(join(project, 'schema.graphql'), 'utf8')).toContain(
          'createDocument(title: String!): Document! @requiresScopes(scopes: [["Documents.Write"]])',
        );

        const report = join(workspace, 'jest.json');
        const run = spawnSync(
          'npm',
          [
            'test',
            '--',
            '--json',
            `--outputFile=${report}`,
            '--testPathIgnorePatterns',
            'test/guide/',
            'test/container/',
          ],
          { cwd: project, env, encoding: 'utf8', timeout: 25 * MINUTES },
        );
        const results = JSON.parse(readFileSync(report, 'utf8')) as {
          numFailedTests: number;
          numPassedTests: number;
          numFailedTestSuites: number;
          testResults: {
            name: string;
            status: string;
            message: string;
            assertionResults: { status: string; title: string; failureMessages: string[] }[];
          }[];
        };
        // Each failed suite with its failures, shortened: enough to see why in CI's log.
        const failed = results.testResults
          .filter((suite) => suite.status !== 'passed')
          .map((suite) => ({
            suite: suite.name.slice(project.length + 1),
            failures: suite.assertionResults
              .filter(({ status }) => status === 'failed')
              .map(({ title, failureMessages }) => `${title}: ${failureMessages.join('\n').slice(0, 1500)}`),
            ...(suite.message && { message: suite.message.slice(0, 1500) }),
          }));
        expect({ failed, status: run.status }).toEqual({ failed: [], status: 0 });
        const documents = results.testResults.find((suite) => suite.name === join(project, 'test/documents.test.ts'));
        expect(documents?.assertionResults.map(({ status }) => status)).toEqual([
          'passed',
          'passed',
          'passed',
          'passed',
        ]);
        expect(results.numPassedTests).toBeGreaterThan(600);
      } finally {
        rmSync(workspace, { recursive: true, force: true });
      }
    },
    30 * MINUTES,
  );
});
