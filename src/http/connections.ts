import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import type { Config } from '../config';
import { budgetKeyOf, normalizeAddress } from './client-address';

/**
 * Fastify and node:http options that keep slow or idle clients from holding the server. Fastify's own defaults
 * (`requestTimeout: 0`) switch Node's request timeout off, so a client sending one byte every few seconds could
 * hold a connection for ever.
 */
export function connectionOptions(limits: Config['http']) {
  return {
    requestTimeout: limits.requestTimeoutMs,
    keepAliveTimeout: limits.keepAliveTimeoutMs,
    http: {
      headersTimeout: limits.headersTimeoutMs,
      // Node enforces both timeouts when it checks its connections; its default of every 30 s would let a slow
      // client stay up to 30 s past them.
      connectionsCheckingInterval: Math.max(50, Math.min(1000, Math.floor(limits.headersTimeoutMs / 4))),
    },
  };
}

export interface ConnectionLimitEvents {
  /** A new connection was closed at once: the address holds its share, or every slot is taken by busy ones. */
  onDrop(): void;
  /** An idle connection of the address holding the most was closed to make room for a new one. */
  onEvict(): void;
}

interface Connection {
  readonly address: string;
  /** Requests being answered on it. */
  busy: number;
  /** Handed to the WebSocket transport: never idle. */
  upgraded: boolean;
}

/**
 * Caps open connections: `HTTP_MAX_CONNECTIONS` in all and, when the peer is the client itself (no trusted proxy),
 * `HTTP_MAX_CONNECTIONS_PER_ADDRESS` from one address (an IPv6 /64). When every slot is taken, a new connection
 * from an address holding fewer than the busiest one takes the place of that address's longest-idle connection (no
 * request in progress, not a WebSocket), so that one address, or a few, holding idle connections cannot keep
 * others out: a platform's probes of /healthz and /readyz, from addresses of their own, get in. A new connection
 * that finds no such place is closed at once and counted.
 */
export function limitConnections(
  server: Server,
  limits: Config['http'],
  perAddress: boolean,
  events: ConnectionLimitEvents,
): void {
  // Per address, its connections in order of last activity, least recent first.
  const byAddress = new Map<string, Set<Socket>>();
  const connections = new WeakMap<Socket, Connection>();
  let open = 0;

  server.on('connection', (socket: Socket) => {
    const address = budgetKeyOf(normalizeAddress(socket.remoteAddress ?? '') ?? 'unknown');
    const held = byAddress.get(address)?.size ?? 0;
    if ((perAddress && held >= limits.maxConnectionsPerAddress) || (open >= limits.maxConnections && !evictFor(held))) {
      events.onDrop();
      socket.destroy();
      return;
    }
    let sockets = byAddress.get(address);
    if (sockets === undefined) {
      sockets = new Set();
      byAddress.set(address, sockets);
    }
    sockets.add(socket);
    connections.set(socket, { address, busy: 0, upgraded: false });
    open += 1;
    socket.once('close', () => {
      open -= 1;
      sockets.delete(socket);
      if (sockets.size === 0 && byAddress.get(address) === sockets) byAddress.delete(address);
    });
  });

  server.on('request', (request: IncomingMessage, response: ServerResponse) => {
    const socket = request.socket;
    const connection = connections.get(socket);
    if (connection === undefined) return;
    connection.busy += 1;
    response.once('close', () => {
      connection.busy -= 1;
      // Now the address's most recently active connection.
      const sockets = byAddress.get(connection.address);
      if (sockets?.delete(socket)) sockets.add(socket);
    });
  });

  server.on('upgrade', (request: IncomingMessage) => {
    const connection = connections.get(request.socket);
    if (connection) connection.upgraded = true;
  });

  /** Closes the longest-idle connection of the address holding the most (more than `held`); false if none is idle. */
  function evictFor(held: number): boolean {
    const candidates = [...byAddress.values()].filter((sockets) => sockets.size > held);
    candidates.sort((a, b) => b.size - a.size);
    for (const sockets of candidates) {
      for (const socket of sockets) {
        const connection = connections.get(socket);
        if (connection === undefined || connection.busy > 0 || connection.upgraded) continue;
        sockets.delete(socket);
        socket.destroy();
        events.onEvict();
        return true;
      }
    }
    return false;
  }
}
