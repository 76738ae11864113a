import type { Server } from 'node:http';
import type { Config } from '../config';

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

/** Caps open connections; a connection over the cap is closed at once and counted. */
export function limitConnections(server: Server, limits: Config['http'], onDrop: () => void): void {
  server.maxConnections = limits.maxConnections;
  server.on('drop', onDrop);
}
