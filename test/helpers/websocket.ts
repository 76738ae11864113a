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
