import { Server as NetServer } from 'node:net';
import type { FastifyInstance } from 'fastify';
import type { Config } from '../config';

export interface ShutdownReport {
  /** Connections accepted since the server started. */
  readonly connectionsAccepted: number;
  /** Connections still open at the deadline, and cut. */
  readonly connectionsCut: number;
}

export interface GracefulShutdown {
  /** True from the moment shutdown begins: readiness fails, and every response closes its connection. */
  readonly draining: boolean;
  /**
   * The one shutdown path. Serves on for the drain period, so that a load balancer that reads the failing
   * readiness probe stops sending traffic, with `Connection: close` on every response, so that each keep-alive
   * connection ends after a complete answer instead of being cut between two requests. Then stops accepting
   * connections, gives those accepted a moment ago a second for their request to arrive, closes the idle ones and
   * lets requests in flight finish until the deadline, after which the connections left are cut.
   */
  run(): Promise<ShutdownReport>;
  /**
   * A task run when the drain period ends, as the server stops accepting (closing WebSockets, which hold their
   * connections open); it gets the time left until the deadline. Shutdown waits for it, but not past the deadline.
   */
  onDrained(task: (graceMs: number) => Promise<void>): void;
}

const POLL_MS = 50;
/** How long a connection accepted just before the server stopped accepting has for its request to arrive. */
const SETTLE_MS = 1000;

export function gracefulShutdown(app: FastifyInstance, settings: Config['shutdown']): GracefulShutdown {
  let draining = false;
  let running: Promise<ShutdownReport> | undefined;
  let connectionsAccepted = 0;
  const drainedTasks: ((graceMs: number) => Promise<void>)[] = [];

  app.server.on('connection', () => {
    connectionsAccepted += 1;
  });
  // At sending rather than at arrival, so that a request that arrived before shutdown began closes its connection too.
  app.addHook('onSend', (_request, reply, _payload, done) => {
    if (draining) reply.header('connection', 'close');
    done();
  });

  const openConnections = () =>
    new Promise<number>((resolve) => app.server.getConnections((error, count) => resolve(error ? 0 : count)));

  async function run(): Promise<ShutdownReport> {
    const deadline = Date.now() + settings.timeoutSeconds * 1000;
    draining = true;
    await sleep(settings.drainSeconds * 1000);
    let connectionsCut = 0;
    const tasks = Promise.all(drainedTasks.map((task) => task(Math.max(0, deadline - Date.now()))));
    if (app.server.listening) {
      // node:http's close() would also close every connection that has no request in progress, including one
      // accepted a moment ago whose request is still on its way: its client would see a reset. net's close()
      // only stops accepting.
      NetServer.prototype.close.call(app.server);
      // With no drain period (stop at once, as tests do) there is no moment to wait for either.
      if (settings.drainSeconds > 0) await sleep(Math.min(SETTLE_MS, Math.max(0, deadline - Date.now())));
      app.server.closeIdleConnections();
      while ((await openConnections()) > 0 && Date.now() < deadline) await sleep(POLL_MS);
      connectionsCut = await openConnections();
      app.server.closeAllConnections();
    }
    await tasks;
    await app.close();
    return { connectionsAccepted, connectionsCut };
  }

  return {
    get draining() {
      return draining;
    },
    run: () => (running ??= run()),
    onDrained: (task) => drainedTasks.push(task),
  };
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
