import { connect, type Socket } from 'node:net';
import { until } from '../helpers/process';
import { createTestServer, withTestServer, type TestServer } from '../helpers/server';

// Short limits so that the test takes seconds; the defaults are 30 s, 10 s and 1,000 connections.
const REQUEST_TIMEOUT_MS = 1500;
const HEADERS_TIMEOUT_MS = 800;
const MAX_CONNECTIONS = 12;
const KEEP_ALIVE_TIMEOUT_MS = 1000;
// Node enforces the timeouts at its connection checks, every quarter of the headers timeout here.
const CHECK_MS = HEADERS_TIMEOUT_MS / 4;

let api: TestServer;

beforeAll(async () => {
  api = await createTestServer({
    HTTP_REQUEST_TIMEOUT_MS: String(REQUEST_TIMEOUT_MS),
    HTTP_HEADERS_TIMEOUT_MS: String(HEADERS_TIMEOUT_MS),
    HTTP_MAX_CONNECTIONS: String(MAX_CONNECTIONS),
    HTTP_KEEP_ALIVE_TIMEOUT_MS: String(KEEP_ALIVE_TIMEOUT_MS),
  });
});
afterAll(() => api.close());

interface Held {
  readonly socket: Socket;
  /** Resolves with the ms from opening to the server closing the connection, and what it answered. */
  readonly closed: Promise<{ afterMs: number; answer: string }>;
}

/** Opens a connection and, when `trickle`, sends a POST whose body comes one byte every 300 ms. */
function hold(trickle: boolean): Held {
  const { port } = new URL(api.url);
  const socket = connect(Number(port), '127.0.0.1');
  const started = Date.now();
  let answer = '';
  let timer: NodeJS.Timeout | undefined;
  socket.on('data', (chunk: Buffer) => (answer += chunk.toString()));
  const closed = new Promise<{ afterMs: number; answer: string }>((resolve) => {
    socket.on('close', () => {
      clearInterval(timer);
      resolve({ afterMs: Date.now() - started, answer });
    });
    socket.on('error', () => undefined);
  });
  if (trickle) {
    socket.write(
      `POST /graphql HTTP/1.1\r\nHost: api.example\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{`,
    );
    timer = setInterval(() => socket.write(' '), 300);
  }
  return { socket, closed };
}

async function greeting(): Promise<number> {
  const reply = await api.queryWithToken(await api.idp.mint(), '{ hello { username } }');
  return reply.status;
}

describe('slow and idle clients', () => {
  it('cuts connections sending a body byte by byte at the request timeout, while a normal request is answered', async () => {
    const slow = Array.from({ length: 8 }, () => hold(true));
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(await greeting()).toBe(200);
    const results = await Promise.all(slow.map((held) => held.closed));
    for (const { afterMs, answer } of results) {
      expect(afterMs).toBeGreaterThanOrEqual(REQUEST_TIMEOUT_MS - 50);
      expect(afterMs).toBeLessThan(REQUEST_TIMEOUT_MS + 2 * CHECK_MS + 500);
      expect(answer.split('\r\n')[0]).toBe('HTTP/1.1 408 Request Timeout');
    }
    expect(await greeting()).toBe(200);
  });

  it('cuts connections that never send their headers at the headers timeout', async () => {
    const idle = Array.from({ length: 4 }, () => hold(false));
    const results = await Promise.all(idle.map((held) => held.closed));
    for (const { afterMs } of results) expect(afterMs).toBeLessThan(HEADERS_TIMEOUT_MS + 2 * CHECK_MS + 500);
  });

  it('closes an idle keep-alive connection after the keep-alive timeout, saying so in Keep-Alive', async () => {
    const held = hold(false);
    held.socket.write('GET /healthz HTTP/1.1\r\nHost: api.example\r\n\r\n');
    const { afterMs, answer } = await held.closed;
    expect(answer).toMatch(/^HTTP\/1\.1 200 OK\r\n/);
    expect(answer).toMatch(/\r\nKeep-Alive: timeout=1\r\n/i);
    expect(afterMs).toBeGreaterThanOrEqual(KEEP_ALIVE_TIMEOUT_MS - 50);
    // Node waits about a second past the timeout it announces, so that a client closes first.
    expect(afterMs).toBeLessThan(KEEP_ALIVE_TIMEOUT_MS + 1600);
  });

  it('closes connections over HTTP_MAX_CONNECTIONS at once, counts them, and serves again once others end', async () => {
    const held = Array.from({ length: MAX_CONNECTIONS }, () => hold(true));
    await new Promise((resolve) => setTimeout(resolve, 300));
    const extra = hold(false);
    const { afterMs, answer } = await extra.closed;
    expect(afterMs).toBeLessThan(HEADERS_TIMEOUT_MS);
    expect(answer).toBe('');
    await Promise.all(held.map((connection) => connection.closed));
    expect(await greeting()).toBe(200);
    const metrics = await api.get('/metrics');
    expect(String(metrics.body)).toMatch(/^http_connections_dropped_total [1-9]\d*$/m);
  });
});

/** A keep-alive connection from `localAddress` that has had one request answered and now sits idle. */
async function idleConnection(server: TestServer, localAddress: string): Promise<Held> {
  const { port } = new URL(server.url);
  const socket = connect({ port: Number(port), host: '127.0.0.1', localAddress });
  let answer = '';
  const closed = new Promise<{ afterMs: number; answer: string }>((resolve) => {
    socket.on('close', () => resolve({ afterMs: 0, answer }));
    socket.on('error', () => undefined);
  });
  const answered = new Promise<void>((resolve) =>
    socket.on('data', (chunk: Buffer) => {
      answer += chunk.toString();
      if (answer.includes('{"status":"ok"}')) resolve();
    }),
  );
  socket.write('GET /healthz HTTP/1.1\r\nHost: api.example\r\n\r\n');
  await Promise.race([answered, closed]);
  return { socket, closed };
}

/** One probe of /healthz on a new connection from `localAddress`: its status, or 0 if the connection was closed. */
async function probe(server: TestServer, localAddress: string): Promise<number> {
  const held = await idleConnection(server, localAddress);
  held.socket.destroy();
  const status = /^HTTP\/1\.1 (\d{3})/.exec((await held.closed).answer);
  return status ? Number(status[1]) : 0;
}

describe('connections per address', () => {
  it('keeps another address answered while one holds every slot with idle connections, closing its oldest idle', async () => {
    await withTestServer(
      { HTTP_MAX_CONNECTIONS: '20', HTTP_KEEP_ALIVE_TIMEOUT_MS: '60000' },
      api.idp,
      async (crowded) => {
        const hog = await Promise.all(Array.from({ length: 20 }, () => idleConnection(crowded, '127.0.0.1')));
        // A platform's probes come from addresses of their own; each takes the place of one of the hog's idle ones.
        const statuses = [];
        for (let i = 0; i < 5; i += 1) statuses.push(await probe(crowded, '127.0.0.2'));
        expect(statuses).toEqual([200, 200, 200, 200, 200]);
        expect(String((await crowded.get('/metrics')).body)).toMatch(/^http_connections_evicted_total [1-9]$/m);
        hog.forEach((held) => held.socket.destroy());
      },
    );
  });

  it('closes at once a connection over HTTP_MAX_CONNECTIONS_PER_ADDRESS, while other addresses are served', async () => {
    const env = { HTTP_MAX_CONNECTIONS_PER_ADDRESS: '5', HTTP_KEEP_ALIVE_TIMEOUT_MS: '60000' };
    await withTestServer(env, api.idp, async (capped) => {
      const held = await Promise.all(Array.from({ length: 5 }, () => idleConnection(capped, '127.0.0.3')));
      expect(await probe(capped, '127.0.0.3')).toBe(0);
      expect(await probe(capped, '127.0.0.4')).toBe(200);
      expect(String((await capped.get('/metrics')).body)).toMatch(/^http_connections_dropped_total 1$/m);
      // Once one of its connections ends (as the server sees it, a moment after the client), it is served again.
      held[0]!.socket.destroy();
      await until(async () => (await probe(capped, '127.0.0.3')) === 200);
      held.forEach((connection) => connection.socket.destroy());
    });
  });

  it('does not cap connections per address behind a trusted proxy, whose address every connection has', async () => {
    const env = { HTTP_MAX_CONNECTIONS_PER_ADDRESS: '5', HTTP_KEEP_ALIVE_TIMEOUT_MS: '60000', TRUST_PROXY: '1' };
    await withTestServer(env, api.idp, async (proxied) => {
      const held = await Promise.all(Array.from({ length: 10 }, () => idleConnection(proxied, '127.0.0.5')));
      expect(await probe(proxied, '127.0.0.5')).toBe(200);
      held.forEach((connection) => connection.socket.destroy());
    });
  });
});
