import 'reflect-metadata';
import cluster from 'node:cluster';
import { groupMetricsOfWorker, supervise } from './cluster';
import { ConfigError, loadConfig, type Config } from './config';
import type { ShutdownReport } from './http/shutdown';
import { createLogger, type Logger } from './observability/logger';

/** Runs `read`; a ConfigError is printed with every problem and stops the process (exit 1). */
function settled<T>(read: () => T): T {
  try {
    return read();
  } catch (error) {
    if (error instanceof ConfigError) {
      console.error(`${error.message}\nSee docs/settings.md for every setting.`);
      process.exit(1);
    }
    throw error;
  }
}

/** One server in this process (alone, or as a cluster worker); stops gracefully on SIGTERM/SIGINT. */
async function serve(config: Config, logger: Logger, stopTelemetry?: () => Promise<void>): Promise<void> {
  const { createServer } = await import('./server.js');
  const server = await createServer({
    config,
    logger,
    ...(cluster.isWorker && { groupMetrics: groupMetricsOfWorker }),
  });
  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.info(
      { event: 'stopping', signal, drainSeconds: config.shutdown.drainSeconds },
      'Draining: readiness fails, requests are served until the drain period ends',
    );
    server.stop().then(
      async (report: ShutdownReport) => {
        // The last spans and metrics are exported before the process ends.
        await stopTelemetry?.().catch(() => undefined);
        logger.info({ event: 'stopped', ...report }, 'Stopped');
        logger.flush();
        process.exit(0);
      },
      (error: unknown) => {
        logger.error({ err: error }, 'Stop failed');
        logger.flush();
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
  // A worker whose primary is gone cannot tell it that it stops listening; that must not crash the shutdown.
  cluster.worker?.on('error', (error: Error) =>
    logger.warn({ event: 'primary_unreachable', error: error.message }, 'The cluster primary is unreachable'),
  );
  const url = await server.listen();
  logger.info(
    { event: 'listening', url: `${url}/graphql`, env: config.env, ready: server.verifier.ready() },
    'API listening',
  );
}

/** Why the server could not start, in one line for stderr: a port taken or forbidden names the setting. */
function startFailure(error: unknown): string {
  const { code, message } = error as { code?: string; message?: string };
  const where = `${config.host}:${config.port}`;
  if (code === 'EADDRINUSE')
    return `Could not start: ${where} is in use (HOST, PORT): stop what uses it or choose another`;
  if (code === 'EACCES') return `Could not start: ${where} may not be used by this user (HOST, PORT): choose another`;
  if (code === 'EADDRNOTAVAIL') return `Could not start: ${config.host} is no address of this host (HOST)`;
  return `Could not start: ${message ?? String(error)}`;
}

const config = settled(() => loadConfig());
const logger = createLogger(config.logLevel);
if (config.envFromDefault && cluster.isPrimary) {
  logger.info(
    { event: 'env_default', env: config.env },
    'NODE_ENV is unset: running in production (no IDE, no introspection); set NODE_ENV=development for them',
  );
}
void (async () => {
  const primary = config.webConcurrency > 1 && cluster.isPrimary;
  // Telemetry (off unless an OTLP endpoint is set) starts before the modules it instruments are loaded, in each
  // process that serves; the server's modules are loaded only then.
  const stopTelemetry =
    !primary && config.telemetry.enabled
      ? (await import('./observability/telemetry.js')).startTelemetry(config.telemetry)
      : undefined;
  const { checkDownstreamSettings } = await import('./downstream/index.js');
  // The files the settings name are read here, once, before any worker is forked.
  settled(() => checkDownstreamSettings(config, logger));
  if (primary) supervise(config, logger);
  else
    serve(config, logger, stopTelemetry).catch((error: unknown) => {
      // Like a configuration error: one plain line on stderr, exit 1.
      logger.flush();
      console.error(startFailure(error));
      process.exit(1);
    });
})();
