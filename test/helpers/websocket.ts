import { randomBytes } from 'node:crypto';
import { connect } from 'node:net';
import { createClient, type Client, type ClientOptions } from 'graphql-ws';
import WebSocket from 'ws';

/** The server's GraphQL WebSocket URL. */
export const socketUrl = (httpUrl: string) => `${httpUrl.replace(/^http/, 'ws')}/graphql`;

export interface Closed {
  code: number;
  reason: string;
}

/**
 * graphql-ws's own client on Node's `ws`, with the token in connection_init as browsers send it. No retries unless
 * asked for, so that a close surfaces as the error it is; the socket stays open between operations that follow
 * each other.
 */
export function graphqlWsClient(
  httpUrl: string,
  token: string | (() => Promise<string>) | undefined,
  options: Partial<ClientOptions> = {},
): Client {
  return createClient({
    url: socketUrl(httpUrl),
    webSocketImpl: WebSocket,
    retryAttempts: 0,
    lazy: true,
    // A test's operations, one after the other, share one socket. The client does not clear this timer on dispose,
    // so a longer one would hold jest open after the last test.
    lazyCloseTimeout: 2_000,
    connectionParams: async () =>
      token === undefined ? {} : { Authorization: `Bearer ${typeof token === 'string' ? token : await token()}` },
    ...options,
  });
}

/**
 * The first `count` results of an operation, then unsubscribes; an operation refused before it ran ends the list
 * with its errors; rejects with the close event if the socket closes.
 */
export interface Result<T> {
  data?: T | null;
  errors?: readonly { message: string; extensions?: Record<string, unknown> }[];
}

export async function take<T = Record<string, unknown>>(
  client: Client,
  query: string,
  count: number,
  variables?: Record<string, unknown>,
): Promise<Result<T>[]> {
  const results: Result<T>[] = [];
  const iterator = client.iterate<T>({ query, ...(variables && { variables }) });
  try {
    for await (const result of iterator) {
      results.push(result as Result<T>);
      if (results.length === count) break;
    }
  } catch (error) {
    // An `error` message (the operation refused before it ran) is thrown by the client as the list of errors.
    if (Array.isArray(error)) return [...results, { errors: error }];
    throw closedOf(error);
  }
  return results;
}

/** A close event (from the browser-like CloseEvent the client throws) as plain code and reason. */
export function closedOf(error: unknown): Closed | unknown {
  if (error !== null && typeof error === 'object' && 'code' in error && 'reason' in error) {
    return { code: (error as Closed).code, reason: String((error as Closed).reason) };
  }
  return error;
}

/** A raw socket speaking graphql-transport-ws, for what the graphql-ws client hides (upgrades, pings, bad messages). */
export function rawSocket(
  httpUrl: string,
  options: WebSocket.ClientOptions = {},
): { ws: WebSocket; opened: Promise<void>; closed: Promise<Closed>; messages: Record<string, unknown>[] } {
  const ws = new WebSocket(socketUrl(httpUrl), 'graphql-transport-ws', options);
  const messages: Record<string, unknown>[] = [];
  ws.on('message', (data) => messages.push(JSON.parse(String(data)) as Record<string, unknown>));
  const opened = new Promise<void>((resolve, reject) => {
    ws.once('open', () => resolve());
    ws.once('error', reject);
  });
  const closed = new Promise<Closed>((resolve) =>
    ws.once('close', (code, reason) => resolve({ code, reason: String(reason) })),
  );
  return { ws, opened, closed, messages };
}

/** Resolves with the HTTP status and body of an upgrade the server refused. */
export function refusedUpgrade(
  httpUrl: string,
  options: WebSocket.ClientOptions = {},
  path = '/graphql',
): Promise<{ status: number; body: unknown }> {
  const ws = new WebSocket(`${httpUrl.replace(/^http/, 'ws')}${path}`, 'graphql-transport-ws', options);
  ws.on('error', () => undefined);
  return new Promise((resolve, reject) => {
    ws.once('open', () => reject(new Error('the upgrade was accepted')));
    ws.once('unexpected-response', (_request, response) => {
      let body = '';
      response.on('data', (chunk: Buffer) => (body += chunk.toString()));
      response.on('end', () => resolve({ status: response.statusCode ?? 0, body: JSON.parse(body) as unknown }));
    });
  });
}

/**
 * A WebSocket client written on a bare TCP socket, for clients the `ws` library will not play: one that never
 * answers the server's close frame, one that writes many messages in one TCP write, one that never reads. `send`
 * writes masked text frames (all of them in one write); `frames` are the text frames received, and `closeCode` the
 * code of the server's close frame once it came.
 */
export interface FrameSocket {
  send(...messages: string[]): void;
  readonly frames: Record<string, unknown>[];
  closeCode(): number | undefined;
  /** Stops reading: what the server sends stays in the kernel's buffers, then in the server's. */
  pause(): void;
  /** Resolves once the TCP connection has ended. */
  readonly ended: Promise<void>;
  destroy(): void;
}

export async function frameSocket(httpUrl: string): Promise<FrameSocket> {
  const { hostname, port } = new URL(httpUrl);
  const socket = connect(Number(port), hostname);
  socket.on('error', () => undefined);
  const ended = new Promise<void>((resolve) => socket.once('close', () => resolve()));
  socket.write(
    `GET /graphql HTTP/1.1\r\nHost: ${hostname}:${port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
      `Sec-WebSocket-Key: ${randomBytes(16).toString('base64')}\r\nSec-WebSocket-Version: 13\r\n` +
      'Sec-WebSocket-Protocol: graphql-transport-ws\r\n\r\n',
  );
  let buffered = Buffer.alloc(0);
  let upgraded = false;
  let code: number | undefined;
  const frames: Record<string, unknown>[] = [];
  const switched = new Promise<void>((resolve, reject) => {
    socket.on('data', (chunk: Buffer) => {
      buffered = Buffer.concat([buffered, chunk]);
      if (!upgraded) {
        const end = buffered.indexOf('\r\n\r\n');
        if (end === -1) return;
        const head = buffered.subarray(0, end).toString();
        if (!head.startsWith('HTTP/1.1 101')) return reject(new Error(head.split('\r\n')[0]));
        upgraded = true;
        buffered = buffered.subarray(end + 4);
        resolve();
      }
      // Server frames are unmasked and, here, never fragmented.
      while (buffered.length >= 2) {
        let length = buffered[1]! & 0x7f;
        let offset = 2;
        if (length === 126) [length, offset] = [buffered.readUInt16BE(2), 4];
        else if (length === 127) [length, offset] = [Number(buffered.readBigUInt64BE(2)), 10];
        if (buffered.length < offset + length) return;
        const opcode = buffered[0]! & 0x0f;
        const payload = buffered.subarray(offset, offset + length);
        if (opcode === 1) frames.push(JSON.parse(payload.toString()) as Record<string, unknown>);
        if (opcode === 8) code = payload.readUInt16BE(0);
        buffered = buffered.subarray(offset + length);
      }
    });
  });
  await switched;
  return {
    send(...messages) {
      socket.write(Buffer.concat(messages.map((message) => maskedFrame(Buffer.from(message)))));
    },
    frames,
    closeCode: () => code,
    pause: () => socket.pause(),
    ended,
    destroy: () => socket.destroy(),
  };
}

/** A client frame; its masking key is zero (masking is then the identity), which keeps floods cheap to build. */
function maskedFrame(payload: Buffer): Buffer {
  const length = payload.length;
  const head =
    length < 126
      ? Buffer.from([0x81, 0x80 | length])
      : length < 65536
        ? Buffer.from([0x81, 0x80 | 126, length >> 8, length & 0xff])
        : Buffer.concat([Buffer.from([0x81, 0x80 | 127]), bigLength(length)]);
  return Buffer.concat([head, ZERO_MASK, payload]);
}

const ZERO_MASK = Buffer.alloc(4);

function bigLength(length: number): Buffer {
  const bytes = Buffer.alloc(8);
  bytes.writeBigUInt64BE(BigInt(length));
  return bytes;
}
