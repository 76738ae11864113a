import { startIdentityProvider, type IdentityProvider } from '../../src/dev/identity-provider';
import { MAX_MESSAGES_BEFORE_INIT, MAX_REFUSALS_PER_SOCKET } from '../../src/websocket/transport';
import { until } from '../helpers/process';
import { withTestServer, type TestServer } from '../helpers/server';
import { frameSocket, type FrameSocket } from '../helpers/websocket';

// Clients that the graphql-ws client would never be: they flood, never read, or ignore the server's close.

let idp: IdentityProvider;
beforeAll(async () => {
  idp = await startIdentityProvider();
});
afterAll(async () => idp.close());

// The test's sockets are cut before its server stops, whatever it asserted: a server stopping waits for their close.
const opened: FrameSocket[] = [];
const withServer = (env: Record<string, string>, run: (api: TestServer) => Promise<void>) =>
  withTestServer({ LOG_LEVEL: 'warn', ...env }, idp, async (api) => {
    try {
      await run(api);
    } finally {
      opened.splice(0).forEach((socket) => socket.destroy());
    }
  });

const init = (token: string) =>
  JSON.stringify({ type: 'connection_init', payload: { Authorization: `Bearer ${token}` } });
const subscribe = (id: string, query: string) => JSON.stringify({ id, type: 'subscribe', payload: { query } });
const GREETINGS = 'subscription { greetings(everySeconds: 300) { message } }';

async function open(api: TestServer): Promise<FrameSocket> {
  const socket = await frameSocket(api.url);
  opened.push(socket);
  return socket;
}

async function acknowledged(api: TestServer, token: string): Promise<FrameSocket> {
  const socket = await open(api);
  socket.send(init(token));
  await until(() => socket.frames.some((frame) => frame['type'] === 'connection_ack'));
  return socket;
}

const metrics = async (api: TestServer) => String((await api.get('/metrics')).body);

const closes = (text: string, code: number, reason: string) =>
  Number(
    new RegExp(`^websocket_closes_total\\{code="${code}",reason="${reason}"\\} (\\d+)$`, 'm').exec(text)?.[1] ?? 0,
  );

const activeSubscriptions = async (api: TestServer) =>
  Number(/^websocket_subscriptions_active (\d+)$/m.exec(await metrics(api))?.[1]);

describe('a socket without a token', () => {
  it('is closed with 1008 after MAX_MESSAGES_BEFORE_INIT messages, however many it writes at once', async () => {
    await withServer({}, async (api) => {
      const rssBefore = process.memoryUsage().rss;
      const socket = await open(api);
      // 20 MB of pings in one write, which the server used to answer one by one while the client read nothing.
      const ping = JSON.stringify({ type: 'ping' });
      for (let batch = 0; batch < 20; batch += 1) socket.send(...Array.from({ length: 50_000 }, () => ping));
      await until(() => socket.closeCode() !== undefined);
      expect(socket.closeCode()).toBe(1008);
      // Pongs not yet written when the socket began to close are not written at all.
      expect(socket.frames.length).toBeLessThanOrEqual(MAX_MESSAGES_BEFORE_INIT);
      expect(new Set(socket.frames.map((frame) => frame['type']))).toEqual(
        new Set(socket.frames.length ? ['pong'] : []),
      );
      socket.destroy();
      await until(async () => closes(await metrics(api), 1008, 'too_many_messages_before_init') === 1);
      // The client's own 20 MB of frames are most of what this process holds more.
      expect(process.memoryUsage().rss - rssBefore).toBeLessThan(200 * 1024 * 1024);
    });
  });
});

describe('an authenticated socket', () => {
  it('is cut once WS_MAX_BUFFERED_BYTES wait for a client that never reads, and the memory stays bounded', async () => {
    await withServer({ WS_MAX_BUFFERED_BYTES: '65536', WS_MAX_MESSAGES_PER_SECOND: '100000' }, async (api) => {
      const socket = await acknowledged(api, await idp.mint());
      socket.pause();
      const rssBefore = process.memoryUsage().rss;
      // 40 KB pings, each answered by a 40 KB pong that queues behind the kernel's buffers.
      const ping = JSON.stringify({ type: 'ping', payload: { pad: 'x'.repeat(40_000) } });
      let sent = 0;
      while (closes(await metrics(api), 1006, 'send_buffer_full') === 0 && sent < 2000) {
        socket.send(...Array.from({ length: 20 }, () => ping));
        sent += 20;
        await new Promise((resolve) => setTimeout(resolve, 5));
      }
      expect(closes(await metrics(api), 1006, 'send_buffer_full')).toBe(1);
      // The kernel's socket buffers take a few MB of pongs before anything queues in the server.
      expect(sent).toBeLessThan(2000);
      expect(process.memoryUsage().rss - rssBefore).toBeLessThan(200 * 1024 * 1024);
      expect(api.logs).toContainEqual(
        expect.objectContaining({ event: 'socket_limit', reason: 'send_buffer_full', level: 40 }),
      );
    });
  });

  it('runs at most WS_MAX_OPERATIONS_PER_SOCKET of a burst written at once, and refuses the rest', async () => {
    await withServer({}, async (api) => {
      const socket = await acknowledged(api, await idp.mint());
      socket.send(...Array.from({ length: 25 }, (_, i) => subscribe(String(i), GREETINGS)));
      await until(() => socket.frames.filter((frame) => frame['type'] !== 'connection_ack').length === 25);
      const refused = socket.frames.filter((frame) => frame['type'] === 'error');
      expect(refused).toHaveLength(5);
      expect(refused[0]).toMatchObject({
        payload: [
          {
            message: 'At most 20 operations may run at once on one socket: complete one first',
            extensions: { code: 'RATE_LIMITED', reason: 'too_many_operations' },
          },
        ],
      });
      expect(await activeSubscriptions(api)).toBe(20);
      expect(socket.closeCode()).toBeUndefined();
    });
  });

  it('is closed with 1008 too_many_refusals after MAX_REFUSALS_PER_SOCKET refused operations', async () => {
    await withServer({}, async (api) => {
      const socket = await acknowledged(api, await idp.mint());
      // 200 subscribes in one write: 20 run, and the socket is closed at the tenth refusal.
      socket.send(...Array.from({ length: 200 }, (_, i) => subscribe(String(i), GREETINGS)));
      await until(() => socket.closeCode() !== undefined);
      expect(socket.closeCode()).toBe(1008);
      // Refusals not yet written when the socket began to close are not written at all.
      expect(socket.frames.filter((frame) => frame['type'] === 'error').length).toBeLessThanOrEqual(
        MAX_REFUSALS_PER_SOCKET,
      );
      socket.destroy();
      await until(async () => closes(await metrics(api), 1008, 'too_many_refusals') === 1);
      expect(await activeSubscriptions(api)).toBe(0);
    });
  });

  it('is closed with 1008 too_many_messages past WS_MAX_MESSAGES_PER_SECOND', async () => {
    await withServer({ WS_MAX_MESSAGES_PER_SECOND: '30' }, async (api) => {
      const socket = await acknowledged(api, await idp.mint());
      socket.send(...Array.from({ length: 40 }, () => JSON.stringify({ type: 'ping' })));
      await until(() => socket.closeCode() !== undefined);
      expect(socket.closeCode()).toBe(1008);
      // The init was one of the second's 30 messages; the 29 pings admitted were answered, or not if the socket was
      // closing before their pong was written.
      expect(socket.frames.filter((frame) => frame['type'] === 'pong').length).toBeLessThanOrEqual(29);
      // The server counts a close once the connection ends: after the client's close frame, or its end.
      socket.destroy();
      await until(async () => closes(await metrics(api), 1008, 'too_many_messages') === 1);
    });
  });

  it('starts nothing once it is closing: a client that ignores the 4403 expiry close cannot subscribe', async () => {
    await withServer({ AZURE_CLOCK_SKEW_SECONDS: '0' }, async (api) => {
      const socket = await acknowledged(api, await idp.mint({ expiresInSeconds: 1 }));
      await until(() => socket.closeCode() !== undefined, 5000);
      expect(socket.closeCode()).toBe(4403);
      // The server waits for the client's close frame, which never comes; meanwhile it reads what the client sends.
      socket.send(subscribe('late', GREETINGS), subscribe('later', '{ hello { username } }'));
      await new Promise((resolve) => setTimeout(resolve, 300));
      expect(await activeSubscriptions(api)).toBe(0);
    });
  });
});
