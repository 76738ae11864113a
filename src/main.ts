import 'reflect-metadata';
import cluster from 'node:cluster';
import { groupMetricsOfWorker, supervise } from './cluster';
import { ConfigError, loadConfig, type Config } from './config';
import { checkDownstreamSettings } from './downstream';
import { createLogger, type Logger } from './logger';
import { createServer } from './server';

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
async function serve(config: Config, logger: Logger): Promise<void> {
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
      (report) => {
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

const config = settled(() => loadConfig());
const logger = createLogger(config.logLevel);
// The files the settings name are read here, once, before any worker is forked.
settled(() => checkDownstreamSettings(config, logger));
if (config.webConcurrency > 1 && cluster.isPrimary) supervise(config, logger);
else
  serve(config, logger).catch((error: unknown) => {
    const { code, message } = error as { code?: string; message?: string };
    logger.fatal({ event: 'start_failed', code, error: message }, `Could not start: ${message}`);
    logger.flush();
    process.exit(1);
  });
