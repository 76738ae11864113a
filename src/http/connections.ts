import type { IncomingMessage, Server } from 'node:http';
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

/** An HTTP connection's socket, with the response Node is writing on it (none while the connection is idle). */
type HttpSocket = Socket & { readonly _httpMessage?: unknown };

/**
 * Caps open connections: `HTTP_MAX_CONNECTIONS` in all and, when the peer is the client itself (no trusted proxy),
 * `HTTP_MAX_CONNECTIONS_PER_ADDRESS` from one address (an IPv6 /64). When every slot is taken, a new connection
 * from an address holding fewer than the busiest one takes the place of that address's oldest idle connection (no
 * request in progress, not a WebSocket), so that one address, or a few, holding idle connections cannot keep others
 * out: a platform's probes of /healthz and /readyz, from addresses of their own, get in. A new connection that finds
 * no such place is closed at once and counted.
 *
 * Nothing is done per request: whether a connection is idle is asked only when the server is full, the way Node's
 * own `server.closeIdleConnections()` asks it (the socket's `_httpMessage`, the response being written on it).
 */
export function limitConnections(
  server: Server,
  limits: Config['http'],
  perAddress: boolean,
  events: ConnectionLimitEvents,
): void {
  // Per address, its connections in the order they were opened.
  const byAddress = new Map<string, Set<Socket>>();
  const upgraded = new WeakSet<Socket>();
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
    open += 1;
    socket.once('close', () => {
      open -= 1;
      sockets.delete(socket);
      if (sockets.size === 0 && byAddress.get(address) === sockets) byAddress.delete(address);
    });
  });

  // A socket handed to the WebSocket transport has no HTTP response on it, and is never idle.
  server.on('upgrade', (request: IncomingMessage) => upgraded.add(request.socket));

  /** Closes the oldest idle connection of the address holding the most (more than `held`); false if none is idle. */
  function evictFor(held: number): boolean {
    const candidates = [...byAddress.values()].filter((sockets) => sockets.size > held);
    candidates.sort((a, b) => b.size - a.size);
    for (const sockets of candidates) {
      for (const socket of sockets) {
        if ((socket as HttpSocket)._httpMessage || upgraded.has(socket)) continue;
        sockets.delete(socket);
        socket.destroy();
        events.onEvict();
        return true;
      }
    }
    return false;
  }
}
