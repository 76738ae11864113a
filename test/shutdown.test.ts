import { Agent, request } from 'node:http';
import { startIdentityProvider, type IdentityProvider } from '../src/dev/identity-provider';
import { collectLogLines, requireBuild, startProduction, until, waitForLine } from './helpers/process';
import { postGraphql, type Outcome } from './helpers/raw-http';

let idp: IdentityProvider;
beforeAll(async () => {
  requireBuild();
  idp = await startIdentityProvider();
});
afterAll(() => idp.close());

/** TCP connections the client saw established (the kernel's handshake, whether or not the server accepted them). */
let connected = 0;
const send = (base: string, agent: Agent, token: string) =>
  postGraphql(base, token, { agent, onConnect: () => (connected += 1) });

const readiness = async (url: string) => (await fetch(`${url}/readyz`)).status;

describe('graceful shutdown of the production server', () => {
  it('fails readiness at once, serves keep-alive load through the drain period, and resets no accepted request', async () => {
    const child = startProduction(idp, {
      SHUTDOWN_DRAIN_SECONDS: '2',
      SHUTDOWN_TIMEOUT_SECONDS: '10',
      RATE_LIMIT_CALLER_REQUESTS: '1000000',
    });
    try {
      const lines = collectLogLines(child);
      await until(() => lines.some((line) => line['event'] === 'listening'));
      const base = new URL(lines.find((line) => line['event'] === 'listening')!['url'] as string).origin;
      const token = await idp.mint();
      const agent = new Agent({ keepAlive: true, maxSockets: 16 });
      const outcomes: Outcome[] = [];
      let signalledAt = Number.POSITIVE_INFINITY;
      let refused = false;
      // 16 clients on keep-alive connections, each sending its next request as soon as the last is answered.
      const clients = Array.from({ length: 16 }, async () => {
        while (!refused) {
          const outcome = await send(base, agent, token);
          outcomes.push(outcome);
          if (outcome.error === 'ECONNREFUSED') refused = true;
        }
      });
      await new Promise((wait) => setTimeout(wait, 500));
      const exited = new Promise<number | null>((done) => child.on('exit', done));
      signalledAt = Date.now();
      child.kill('SIGTERM');
      await until(() => lines.some((line) => line['event'] === 'stopping'));
      const drainingSeenAt = Date.now();
      expect(await readiness(base)).toBe(503);
      await Promise.all(clients);
      agent.destroy();
      expect(await exited).toBe(0);

      const resetOutcomes = outcomes.filter((outcome) => outcome.error === 'ECONNRESET');
      const resets = resetOutcomes.length;
      const stopped = lines.find((line) => line['event'] === 'stopped') as { connectionsAccepted: number };
      // No request on a keep-alive connection was reset (the fault this test was written for: one reset per busy
      // keep-alive connection), and none was cut at the deadline.
      expect(resetOutcomes.filter((outcome) => outcome.reused)).toEqual([]);
      expect(stopped).toMatchObject({ connectionsCut: 0 });
      // Once the server stops accepting (after the 2 s drain), new connections are refused. The connections the
      // kernel completed in the moment the listening socket was closing are reset, all on their first request and
      // none while the drain was under way. Nearly all of them the server never accepted: accepted = connected - resets + 1
      // (the readiness probe's connection). In about one run in five, up to 7 of them had been accepted by Node in
      // that same moment (before this session's changes too): the count is bounded rather than exact.
      expect(resetOutcomes.filter((outcome) => outcome.sentAt < signalledAt + 1500)).toEqual([]);
      expect(stopped.connectionsAccepted).toBeGreaterThanOrEqual(connected - resets + 1);
      expect(stopped.connectionsAccepted).toBeLessThanOrEqual(connected + 1);
      const errors = outcomes.filter((outcome) => outcome.error !== undefined && outcome.error !== 'ECONNRESET');
      expect(new Set(errors.map((outcome) => outcome.error))).toEqual(new Set(['ECONNREFUSED']));
      const afterSignal = outcomes.filter((outcome) => outcome.status !== undefined && outcome.sentAt > drainingSeenAt);
      expect(afterSignal.length).toBeGreaterThan(50);
      expect(afterSignal.filter((outcome) => outcome.status !== 200 || outcome.connection !== 'close')).toEqual([]);
      const lastServed = Math.max(...afterSignal.map((outcome) => outcome.sentAt));
      expect(lastServed - signalledAt).toBeGreaterThan(1500);
      // Every answer was logged before the process exited.
      const served = outcomes.filter((outcome) => outcome.status === 200).length;
      expect(lines.filter((line) => line['msg'] === 'request completed' && line['path'] === '/graphql')).toHaveLength(
        served,
      );
    } finally {
      child.kill('SIGKILL');
    }
  });

  it('lets an upload in progress finish after the drain period, and cuts one still open at the deadline', async () => {
    const child = startProduction(idp, { SHUTDOWN_DRAIN_SECONDS: '1', SHUTDOWN_TIMEOUT_SECONDS: '3' });
    try {
      const listening = JSON.parse(await waitForLine(child, /"event":"listening"/)) as { url: string };
      const base = new URL(listening.url).origin;
      const token = await idp.mint();
      const body = JSON.stringify({ query: `{ hello { username } }${' '.repeat(2000)}` });
      /** A POST whose body arrives in 20 pieces over `ms`, or never completes when `ms` is Infinity. */
      const upload = (ms: number) =>
        new Promise<Outcome>((resolve) => {
          const sentAt = Date.now();
          const req = request(
            `${base}/graphql`,
            {
              method: 'POST',
              agent: false,
              headers: {
                'content-type': 'application/json',
                'content-length': String(body.length),
                authorization: `Bearer ${token}`,
              },
            },
            (res) => {
              res.resume();
              res.on('end', () => resolve({ status: res.statusCode, sentAt }));
            },
          );
          req.on('error', (error: NodeJS.ErrnoException) => resolve({ error: error.code ?? error.message, sentAt }));
          const piece = Math.ceil(body.length / 20);
          let sent = 0;
          const timer = setInterval(
            () => {
              if (!Number.isFinite(ms) && sent + piece >= body.length) return;
              req.write(body.slice(sent, sent + piece));
              sent += piece;
              if (sent >= body.length) {
                clearInterval(timer);
                req.end();
              }
            },
            Number.isFinite(ms) ? ms / 20 : 100,
          );
          req.on('close', () => clearInterval(timer));
        });
      const finishing = upload(2400);
      const stuck = upload(Number.POSITIVE_INFINITY);
      await new Promise((wait) => setTimeout(wait, 200));
      const signalledAt = Date.now();
      child.kill('SIGTERM');
      expect(await finishing).toMatchObject({ status: 200 });
      const cut = await stuck;
      expect(cut.error).toBe('ECONNRESET');
      const cutAfter = Date.now() - signalledAt;
      expect(cutAfter).toBeGreaterThanOrEqual(2800);
      expect(cutAfter).toBeLessThan(4500);
    } finally {
      child.kill('SIGKILL');
    }
  });
});
