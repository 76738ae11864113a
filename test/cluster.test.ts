import { readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { request } from 'node:http';
import { createServer, type Server } from 'node:net';
import { startIdentityProvider, type IdentityProvider } from '../src/dev/identity-provider';
import { collectLogLines, requireBuild, startProduction, until } from './helpers/process';
import { postGraphql, type Outcome } from './helpers/raw-http';

let idp: IdentityProvider;
beforeAll(async () => {
  requireBuild();
  idp = await startIdentityProvider();
});
afterAll(() => idp.close());

type Lines = Record<string, unknown>[];
const listeningPids = (lines: Lines) =>
  lines.filter((line) => line['event'] === 'listening').map((line) => line['pid'] as number);
const exitedPids = (lines: Lines) =>
  lines.filter((line) => line['event'] === 'worker_exited').map((line) => line['pid'] as number);

/** States of the TCP sockets a process holds, from /proc (0A is LISTEN, 08 CLOSE_WAIT, 01 ESTABLISHED). */
function tcpStatesOf(pid: number): string[] {
  const inodes = new Set(
    readdirSync(`/proc/${pid}/fd`)
      .map((fd) => {
        try {
          return /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/${pid}/fd/${fd}`))?.[1];
        } catch {
          return undefined;
        }
      })
      .filter((inode): inode is string => inode !== undefined),
  );
  return ['tcp', 'tcp6'].flatMap((table) =>
    readFileSync(`/proc/${pid}/net/${table}`, 'utf8')
      .split('\n')
      .slice(1)
      .map((row) => row.trim().split(/\s+/))
      .filter((fields) => inodes.has(fields[9] as string))
      .map((fields) => fields[3] as string),
  );
}

describe('WEB_CONCURRENCY', () => {
  it('answers or closes every connection when a worker is killed, and the primary keeps none of them', async () => {
    const child = startProduction(idp, { WEB_CONCURRENCY: '2', RATE_LIMIT_CALLER_REQUESTS: '1000000' });
    try {
      const lines = collectLogLines(child);
      await until(() => listeningPids(lines).length === 2);
      const base = new URL(lines.find((line) => line['event'] === 'listening')!['url'] as string).origin;
      const token = await idp.mint();
      const pending: Promise<Outcome>[] = [];
      // A steady stream of requests, each on a new connection, while a worker is killed four times.
      const stream = setInterval(() => pending.push(postGraphql(base, token, { timeoutMs: 5000 })), 5);
      for (let kill = 0; kill < 4; kill += 1) {
        await new Promise((wait) => setTimeout(wait, 700));
        const alive = listeningPids(lines).filter((pid) => !exitedPids(lines).includes(pid));
        process.kill(alive[alive.length - 1] as number, 'SIGKILL');
        await until(() => listeningPids(lines).length === 3 + kill, 15000);
      }
      await new Promise((wait) => setTimeout(wait, 500));
      clearInterval(stream);
      const outcomes = await Promise.all(pending);
      expect(outcomes.length).toBeGreaterThan(300);
      expect(outcomes.filter((outcome) => outcome.error === 'hung')).toEqual([]);
      expect(outcomes.filter((outcome) => outcome.status === 200).length).toBeGreaterThan(outcomes.length / 2);
      for (const outcome of outcomes) {
        expect(outcome.status === 200 || ['ECONNRESET', 'ECONNREFUSED', 'EPIPE'].includes(outcome.error ?? '')).toBe(
          true,
        );
      }
      // The primary holds its listening socket and nothing else: no connection waits in it for a dead worker.
      expect(tcpStatesOf(child.pid as number)).toEqual(['0A']);
    } finally {
      child.kill('SIGKILL');
    }
  }, 60000);

  it('re-forks a worker that dies at start-up with a growing delay, not in a tight loop', async () => {
    const blocker: Server = createServer();
    await new Promise<void>((done) => blocker.listen(0, '127.0.0.1', done));
    const port = (blocker.address() as { port: number }).port;
    const child = startProduction(idp, { WEB_CONCURRENCY: '2', PORT: String(port) });
    try {
      const lines = collectLogLines(child);
      let stderr = '';
      child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
      await until(() => lines.filter((line) => line['event'] === 'worker_exited').length >= 4, 20000);
      const exits = lines.filter((line) => line['event'] === 'worker_exited');
      expect(exits.slice(0, 4).map((line) => line['restartInMs'])).toEqual([1000, 2000, 4000, 8000]);
      // The delay was kept, not only logged. Replacements are forked in the order their delays end, and the two
      // first workers exit at once, so the m-th replacement to exit cannot have exited before the m-th fork was due.
      const due = exits.map((line) => (line['time'] as number) + (line['restartInMs'] as number)).sort((a, b) => a - b);
      expect(exits[2]!['time'] as number).toBeGreaterThanOrEqual(due[0]!);
      expect(exits[3]!['time'] as number).toBeGreaterThanOrEqual(due[1]!);
      // Each worker says why in one plain line on stderr, as a single process does.
      expect(stderr.split('\n')[0]).toBe(
        `Could not start: 127.0.0.1:${port} is in use (HOST, PORT): stop what uses it or choose another`,
      );
      // Once the port is free, the next replacement starts serving.
      await new Promise<void>((done) => blocker.close(() => done()));
      await until(() => lines.some((line) => line['event'] === 'listening'), 20000);
    } finally {
      child.kill('SIGKILL');
      blocker.close();
    }
  }, 30000);

  it('serves /metrics for the whole process group, whichever worker answers', async () => {
    // Up to 400 refusals from one address may be needed before both workers have answered (and logged) some; the
    // address's failure budget (20 per process by default) is not what this test is about.
    const child = startProduction(idp, { WEB_CONCURRENCY: '2', RATE_LIMIT_AUTH_FAILURES: '1000' });
    try {
      const lines = collectLogLines(child);
      await until(() => lines.filter((line) => line['event'] === 'listening').length === 2);
      const base = new URL(lines.find((line) => line['event'] === 'listening')!['url'] as string).origin;
      const forged = await idp.mint({ audience: 'api://another-api' });
      // New connections, which the kernel hands to either worker, until both have answered some.
      const completed = () => lines.filter((line) => line['msg'] === 'request completed');
      let sent = 0;
      while (sent < 10 || (new Set(completed().map((line) => line['pid'])).size < 2 && sent < 400)) {
        expect((await postGraphql(base, forged)).status).toBe(401);
        sent += 1;
      }
      await until(() => completed().length === sent);
      expect(new Set(completed().map((line) => line['pid'])).size).toBe(2);
      for (let i = 0; i < 4; i += 1) {
        const text = await new Promise<string>((resolve, reject) => {
          request(`${base}/metrics`, { agent: false }, (res) => {
            let data = '';
            res.on('data', (chunk: Buffer) => (data += chunk.toString()));
            res.on('end', () => resolve(data));
          })
            .on('error', reject)
            .end();
        });
        expect(text).toMatch(new RegExp(`^auth_failures_total\\{reason="wrong_audience"\\} ${sent}$`, 'm'));
      }
    } finally {
      child.kill('SIGKILL');
    }
  });
});
