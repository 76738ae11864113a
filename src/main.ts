import 'reflect-metadata';
import { ConfigError, loadConfig, type Config } from './config';
import { createLogger } from './logger';
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

async function main(): Promise<void> {
  const config = readConfig();
  const logger = createLogger(config.logLevel);
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
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
}

void main();
