import 'reflect-metadata';
import cluster from 'node:cluster';
import { ConfigError, loadConfig, type Config } from './config';
import { createLogger, type Logger } from './logger';
import { createServer } from './server';

function readConfig(): Config {
  try {
    return loadConfig();
  } catch (error) {
    if (error instanceof ConfigError) {
      console.error(`${error.message}\nSee the Settings section of README.md.`);
      process.exit(1);
    }
    throw error;
  }
}

/** One server in this process; stops gracefully on SIGTERM/SIGINT. */
async function serve(config: Config, logger: Logger): Promise<void> {
  const server = await createServer({ config, logger });
  const url = await server.listen();
  logger.info(
    { event: 'listening', url: `${url}/graphql`, env: config.env, ready: server.verifier.ready() },
    'API listening',
  );
  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.info({ event: 'stopping', signal }, 'Finishing in-flight requests');
    server.stop().then(
      () => {
        logger.info({ event: 'stopped' }, 'Stopped');
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
}

/** WEB_CONCURRENCY workers sharing the port; a worker that dies is replaced; signals are passed on. */
function supervise(config: Config, logger: Logger): void {
  let stopping = false;
  const fork = () => cluster.fork();
  for (let i = 0; i < config.webConcurrency; i += 1) fork();
  cluster.on('exit', (worker, code, signal) => {
    if (stopping) {
      if (Object.keys(cluster.workers ?? {}).length === 0) process.exit(0);
      return;
    }
    logger.error({ event: 'worker_exited', pid: worker.process.pid, code, signal }, 'Worker exited; starting another');
    fork();
  });
  const stop = (signal: NodeJS.Signals) => {
    if (stopping) return;
    stopping = true;
    logger.info({ event: 'stopping', signal, workers: config.webConcurrency }, 'Stopping workers');
    for (const worker of Object.values(cluster.workers ?? {})) worker?.process.kill(signal);
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
}

const config = readConfig();
const logger = createLogger(config.logLevel);
if (config.webConcurrency > 1 && cluster.isPrimary) supervise(config, logger);
else void serve(config, logger);
